#!/usr/bin/env bash
# The early warning for the next broken upstream release: install each tested Airflow release the way an
# install without constraints would today (this project, its dev extra and that Airflow, with the known
# upstream pins of scripts/versions.sh but without the lock file), print what drifted from the lock file,
# then run a short smoke subset on it. Not part of the test command; exits 1 when a smoke run failed.
#   bash scripts/drift.sh               # every Airflow release of scripts/versions.sh, on Python PYTHON_MAIN
#   bash scripts/drift.sh 3.1.8 3.3.2   # only these
#   RIFFUSION_DRIFT_NO_PINS=1 ...       # without the known upstream pins too: are they still needed?
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.sh
airflows="${*:-$AIRFLOW_MAIN $AIRFLOW_OTHERS}"
# An end-to-end `airflow dags test` (connections from the environment, the triggerer's path), the hook, the
# sensors and triggers, storage, and the connection form: what a broken dependency has broken so far.
smoke=(tests/test_example_dag.py tests/hooks/test_riffusion.py tests/sensors/test_riffusion.py
    tests/triggers/test_riffusion.py tests/test_delivery.py tests/test_connection_form.py)
bash scripts/bootstrap.sh >/dev/null  # for uv
python=$(find_python "$PYTHON_MAIN")
python=${python:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/riffusion-drift.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0
summary=()
for airflow in $airflows; do
    lock=$(lock_file "$airflow" "$PYTHON_MAIN")
    venv="$work/venv-$airflow"
    echo "== Airflow $airflow: unpinned against $lock =="
    "$python" -m venv --without-pip "$venv"
    pins=()
    if [ -z "${RIFFUSION_DRIFT_NO_PINS:-}" ]; then
        mapfile -t pins < <(upstream_pins "$airflow")
    fi
    mapfile -t needs < <(airflow_needs "$airflow")
    if ! .venv/bin/uv pip install --quiet --python "$venv/bin/python" -e ".[dev]" -r benchmarks/requirements.txt \
        "apache-airflow==$airflow" ${needs[@]+"${needs[@]}"} ${pins[@]+"${pins[@]}"} 2>"$work/install.log"; then
        cat "$work/install.log"
        summary+=("Airflow $airflow: the unpinned install FAILED")
        status=1
        continue
    fi
    .venv/bin/uv pip freeze --exclude-editable --python "$venv/bin/python" >"$work/freeze-$airflow.txt"
    .venv/bin/python - "$lock" "$work/freeze-$airflow.txt" <<'PY'
import re
import sys

def versions(path, pattern):
    found = {}
    for line in open(path):
        match = re.match(pattern, line)
        if match:
            found.setdefault(re.sub(r"[-_.]+", "-", match[1]).lower(), set()).add(match[2])
    return found

locked = versions(sys.argv[1], r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")
today = {name: next(iter(v)) for name, v in versions(sys.argv[2], r"(\S+)==(\S+)").items()}
changed = [f"  {name:34} {'/'.join(sorted(locked[name]))} -> {version}" for name, version in sorted(today.items())
           if name in locked and version not in locked[name]]
added = [f"  {name:34} (not in the lock) {version}" for name, version in sorted(today.items()) if name not in locked]
print(f"{len(changed)} packages at another version than the lock, {len(added)} not in it:" if changed or added
      else "no drift: today's install is the lock")
print("\n".join(changed + added))
PY
    if env PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pytest -q -p no:cacheprovider --basetemp="$work/pytest-$airflow" \
        -m "not airflow_cluster and not browser and not celery" "${smoke[@]}" >"$work/smoke.log" 2>&1; then
        summary+=("Airflow $airflow: smoke subset passed ($(tail -1 "$work/smoke.log" | tr -d '='))")
    else
        grep -E "^(FAILED|ERROR)|Error:" "$work/smoke.log" | head -20
        summary+=("Airflow $airflow: smoke subset FAILED ($(tail -1 "$work/smoke.log" | tr -d '='))")
        status=1
    fi
done
echo "== drift summary =="
printf '%s\n' "${summary[@]}"
exit "$status"
