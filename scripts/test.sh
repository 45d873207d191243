#!/usr/bin/env bash
# Install everything from the lock files, check style and types, then run, two at a time: the whole suite on
# the main Airflow (with the multi-process, Celery and browser tests); the suite without a second Airflow
# process on every other supported Airflow release and under every other declared Python; and the package
# check (build, twine, the wheel in a clean venv). Each run has its own venv, made from
# its own lock file (scripts/versions.sh lists them). Prints each run's output once it is done, then the time
# each part took.
#
# Arguments go to every pytest run. RIFFUSION_OTHER_AIRFLOWS and RIFFUSION_OTHER_PYTHONS override the other
# releases and Pythons (empty for none); RIFFUSION_SKIP_PACKAGE=1 skips the package check; RIFFUSION_TEST_JOBS
# sets how many runs go at once (default 2; at 3 the 2 cores are busier and the whole takes less, but the
# multi-process tests then met an Airflow scheduler race once in a run). About 25 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.sh
venv="${RIFFUSION_VENV:-.venv}"
other_airflows="${RIFFUSION_OTHER_AIRFLOWS-$AIRFLOW_OTHERS}"
other_pythons="${RIFFUSION_OTHER_PYTHONS-$PYTHON_OTHERS}"
# Elsewhere: what needs no second Airflow process, without runs that differ from another only in what Airflow
# never sees (marker `once`: the API revision, a second folder layout). On other Airflow releases, also not
# what never touches Airflow; under other Pythons that runs too, as Python sees it.
other_airflow_markers="not airflow_cluster and not browser and not celery and not airflow_independent and not once"
other_python_markers="not airflow_cluster and not browser and not celery and not once"
work=$(mktemp -d "${TMPDIR:-/tmp}/riffusion-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
began=$(date +%s)

timed() {  # timed LABEL COMMAND...: run it, note how long it took, and return its status
    local label=$1 start=$SECONDS status=0
    shift
    "$@" || status=$?
    printf '%-48s %4d s%s\n' "$label" $((SECONDS - start)) "$([ "$status" = 0 ] || echo "  FAILED ($status)")" \
        >>"$work/timings"
    return "$status"
}

suite() {  # suite VENV LABEL MARKERS [PYTEST ARGS...]: one pytest run in its own venv and --basetemp
    local venv=$1 label=$2 markers=$3
    shift 3
    # Airflow's components start their helpers by name: the venv's bin goes first on PATH. Each run has its
    # own --basetemp: two pytest sessions sharing /tmp/pytest-of-$USER prune each other's.
    timed "$label: the suite" env PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pytest \
        ${markers:+-m "$markers"} --basetemp="$work/pytest-${label//[^A-Za-z0-9.]/_}" "$@"
}

run() {  # run JOB [PYTEST ARGS...]: one part of the test command
    local job=$1 version
    shift
    case "$job" in
        main) suite "$venv" "Airflow $AIRFLOW_MAIN" "" "$@" ;;
        airflow-*)
            version=${job#airflow-}
            timed "Airflow $version: install" env RIFFUSION_VENV=".venv-airflow-$version" AIRFLOW_VERSION="$version" \
                RIFFUSION_PYTHON="$PYTHON_MAIN" bash scripts/bootstrap.sh &&
                suite ".venv-airflow-$version" "Airflow $version" "$other_airflow_markers" "$@"
            ;;
        python-*)
            version=${job#python-}
            timed "Airflow $AIRFLOW_MAIN, Python $version: install" env RIFFUSION_VENV=".venv-python-$version" \
                RIFFUSION_PYTHON="$version" bash scripts/bootstrap.sh &&
                suite ".venv-python-$version" "Airflow $AIRFLOW_MAIN, Python $version" "$other_python_markers" "$@"
            ;;
        package) timed "package: build, twine check, wheel smoke test" bash scripts/check_package.sh ;;
    esac
}

timed "install (Airflow $AIRFLOW_MAIN, browser, redis)" bash -c \
    "bash scripts/bootstrap.sh && bash scripts/install_browser.sh '$venv' && bash scripts/install_redis.sh"
timed "ruff, ruff format, mypy" bash -c "'$venv/bin/ruff' check . && '$venv/bin/ruff' format --check . && '$venv/bin/mypy'"

# Longest first: the whole suite, the other Pythons, the other releases newest first, the package check.
jobs=(main)
for version in $other_pythons; do jobs+=("python-$version"); done
for version in $(printf '%s\n' $other_airflows | sort -rV); do jobs+=("airflow-$version"); done
[ -n "${RIFFUSION_SKIP_PACKAGE:-}" ] || jobs+=(package)
at_once="${RIFFUSION_TEST_JOBS:-2}"
echo "== ${#jobs[@]} runs, $at_once at a time: ${jobs[*]} =="
running=0
for job in "${jobs[@]}"; do
    if [ "$running" -ge "$at_once" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    (
        status=0
        run "$job" "$@" >"$work/$job.log" 2>&1 || status=$?
        echo "$status" >"$work/$job.status"
        echo "-- $job: $([ "$status" = 0 ] && echo passed || echo "FAILED ($status)") ($(tail -1 "$work/$job.log"))"
    ) &
    running=$((running + 1))
done
wait
status=0
for job in "${jobs[@]}"; do
    echo "== $job =="
    cat "$work/$job.log"
    [ "$(cat "$work/$job.status")" = 0 ] || status=1
done
echo "== times (total $(($(date +%s) - began)) s) =="
cat "$work/timings"
exit "$status"
