#!/usr/bin/env bash
# Refresh locks/: one lock file per tested Airflow release and Python (scripts/versions.sh), each pinning
# every package the scripts install (Airflow, the providers the tests use, this project's own and dev
# dependencies, the benchmarks' and the scripts' tools) to what PyPI served before LOCK_DATE.
#
#   bash scripts/lock.sh                          # re-resolve every lock file at LOCK_DATE
#   bash scripts/lock.sh --date 2027-01-15        # move LOCK_DATE (written back to versions.sh), re-resolve
#   bash scripts/lock.sh --add-airflow 3.4.0      # lock and test one more Airflow release (also in versions.sh)
#
# The locks are universal (Linux, macOS, Windows): a lock for Python 3.12 holds for 3.12 and later.
# Afterwards run `bash scripts/test.sh`; `bash scripts/drift.sh` shows what today's unpinned installs change.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.sh

while [ $# -gt 0 ]; do
    case "$1" in
        --date) sed -i "s/^LOCK_DATE=.*/LOCK_DATE=$2/" scripts/versions.sh; shift 2 ;;
        --add-airflow) sed -i "s/^AIRFLOW_OTHERS=\"\(.*\)\"/AIRFLOW_OTHERS=\"\1 $2\"/" scripts/versions.sh; shift 2 ;;
        *) echo "lock.sh: unknown argument $1 (use --date YYYY-MM-DD or --add-airflow VERSION)" >&2; exit 2 ;;
    esac
done
source scripts/versions.sh

uv=".venv/bin/uv"
if [ ! -x "$uv" ]; then
    uv=$(command -v uv || true)
fi
if [ -z "$uv" ]; then
    echo "lock.sh: needs uv: run scripts/bootstrap.sh first (or pip install uv)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -f locks/airflow-*.txt

lock() {  # lock AIRFLOW PYTHON
    local airflow=$1 python=$2 file
    file=$(lock_file "$airflow" "$python")
    {
        echo "apache-airflow==$airflow"
        upstream_pins "$airflow"
        airflow_needs "$airflow"
        # What the scripts install beside the project: the browser test's driver, the package check's
        # tools and build backend, bootstrap's installer.
        printf '%s\n' "playwright>=1.45,<2" "build" "twine" "hatchling>=1.24" "uv"
    } >"$work/requirements.in"
    "$uv" pip compile --quiet --universal --python-version "$python" --exclude-newer "${LOCK_DATE}T00:00:00Z" \
        --no-header --annotation-style line \
        pyproject.toml --extra dev benchmarks/requirements.txt "$work/requirements.in" -o "$work/out.txt"
    {
        echo "# Airflow $airflow on Python $python and later: what PyPI served before $LOCK_DATE."
        echo "# Made by scripts/lock.sh (do not edit); installed by scripts/bootstrap.sh as constraints."
        sed "s#$work/requirements.in#scripts/lock.sh#" "$work/out.txt"
    } >"$file"
    echo "$file: $(grep -c '==' "$file") packages"
}

for python in $PYTHON_MAIN $PYTHON_OTHERS; do
    lock "$AIRFLOW_MAIN" "$python"
done
for airflow in $AIRFLOW_OTHERS; do
    lock "$airflow" "$PYTHON_MAIN"
done
