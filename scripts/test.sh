#!/usr/bin/env bash
# Install everything, check style and types, run the whole suite on Airflow 3.3 (with the multi-process,
# Celery and browser tests), then the suite without those on every other supported minor, each in its
# own venv, then build the package and smoke-test its wheel in a clean venv. Prints the time each took.
#
# Arguments go to every pytest run. RIFFUSION_OTHER_AIRFLOWS lists the other minors (default below; empty
# for none); RIFFUSION_SKIP_PACKAGE=1 skips the package check. About 25 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${RIFFUSION_VENV:-.venv}"
others="${RIFFUSION_OTHER_AIRFLOWS-2.11.2 3.0.6 3.1.8 3.2.2}"
timings=()
began=$(date +%s)

timed() {  # timed LABEL COMMAND...: run it, and note how long it took
    local label=$1 start=$SECONDS
    shift
    "$@"
    timings+=("$(printf '%-44s %4d s' "$label" $((SECONDS - start)))")
}

timed "install (Airflow 3.3.2, browser, redis)" bash -c "bash scripts/bootstrap.sh && bash scripts/install_browser.sh '$venv' && bash scripts/install_redis.sh"
timed "ruff, ruff format, mypy" bash -c "'$venv/bin/ruff' check . && '$venv/bin/ruff' format --check . && '$venv/bin/mypy'"
# Airflow's components start their helpers by name: the venv's bin goes first on PATH.
timed "Airflow 3.3.2: the whole suite" env PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pytest "$@"
for version in $others; do
    other=".venv-airflow-$version"
    echo "== Airflow $version =="
    timed "Airflow $version: install" env RIFFUSION_VENV="$other" AIRFLOW_VERSION="$version" bash scripts/bootstrap.sh
    # What does not touch Airflow at all (the emulator, the client core, the audio checks) ran on 3.3.
    timed "Airflow $version: the suite" env PATH="$PWD/$other/bin:$PATH" "$other/bin/python" -m pytest \
        -m "not airflow_cluster and not browser and not celery and not airflow_independent" "$@"
done
if [ -z "${RIFFUSION_SKIP_PACKAGE:-}" ]; then
    timed "package: build, twine check, wheel smoke test" bash scripts/check_package.sh
fi
echo "== times (total $(( $(date +%s) - began )) s) =="
printf '%s\n' "${timings[@]}"
