#!/usr/bin/env bash
# Install everything, check style and types, run the whole suite on Airflow 3.3 (with the multi-process,
# Celery and browser tests) and, beside it, the suite without those on every other supported minor, one after
# another, each in its own venv; then build the package and smoke-test its wheel in a clean venv. Prints the
# time each part took, and the other minors' output once they are done.
#
# Arguments go to every pytest run. RIFFUSION_OTHER_AIRFLOWS lists the other minors (default below; empty
# for none); RIFFUSION_SKIP_PACKAGE=1 skips the package check. About 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${RIFFUSION_VENV:-.venv}"
others="${RIFFUSION_OTHER_AIRFLOWS-2.11.2 3.0.6 3.1.8 3.2.2}"
# On the other minors: what needs no second Airflow process, and no run that differs from another only in
# what Airflow never sees (marker `once`: the API revision, a second folder layout).
other_markers="not airflow_cluster and not browser and not celery and not airflow_independent and not once"
work=$(mktemp -d "${TMPDIR:-/tmp}/riffusion-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
began=$(date +%s)

timed() {  # timed LABEL COMMAND...: run it, note how long it took, and return its status
    local label=$1 start=$SECONDS status=0
    shift
    "$@" || status=$?
    printf '%-44s %4d s%s\n' "$label" $((SECONDS - start)) "$([ "$status" = 0 ] || echo "  FAILED ($status)")" \
        >>"$work/timings"
    return "$status"
}

other_minors() {  # the suite on each other minor, one after another; every minor runs even if one fails
    local version other status=0
    for version in $others; do
        other=".venv-airflow-$version"
        echo "== Airflow $version =="
        if timed "Airflow $version: install" env RIFFUSION_VENV="$other" AIRFLOW_VERSION="$version" \
            bash scripts/bootstrap.sh; then
            timed "Airflow $version: the suite" env PATH="$PWD/$other/bin:$PATH" "$other/bin/python" -m pytest \
                -m "$other_markers" --basetemp="$work/pytest-$version" "$@" || status=1
        else
            status=1
        fi
    done
    return "$status"
}

timed "install (Airflow 3.3.2, browser, redis)" bash -c "bash scripts/bootstrap.sh && bash scripts/install_browser.sh '$venv' && bash scripts/install_redis.sh"
timed "ruff, ruff format, mypy" bash -c "'$venv/bin/ruff' check . && '$venv/bin/ruff' format --check . && '$venv/bin/mypy'"

# Most of a run waits on Airflow processes starting, so the other minors' runs share the 2 cores with the
# 3.3 suite rather than following it: the whole takes about the time of the longer of the two.
status=0
if [ -n "$others" ]; then
    echo "== the other minors ($others) run beside the 3.3 suite; their output follows it =="
    other_minors "$@" >"$work/other-minors.log" 2>&1 &
    minors=$!
fi
# Airflow's components start their helpers by name: the venv's bin goes first on PATH.
# Each run has its own --basetemp: two pytest sessions sharing /tmp/pytest-of-$USER prune each other's.
timed "Airflow 3.3.2: the whole suite" env PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pytest \
    --basetemp="$work/pytest-3.3" "$@" || status=1
if [ -n "$others" ]; then
    wait "$minors" || status=1
    cat "$work/other-minors.log"
fi
if [ -z "${RIFFUSION_SKIP_PACKAGE:-}" ]; then
    timed "package: build, twine check, wheel smoke test" bash scripts/check_package.sh || status=1
fi
echo "== times (total $(($(date +%s) - began)) s) =="
cat "$work/timings"
exit "$status"
