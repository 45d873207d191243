#!/usr/bin/env bash
# Create .venv (or $RIFFUSION_VENV) with Airflow and this provider installed editable, every package at the
# version its lock file pins (locks/, made by scripts/lock.sh): an upstream release cannot change what installs.
# Needs only python3; uv comes from PyPI and makes the Airflow install take seconds.
#   AIRFLOW_VERSION   the Airflow release (default: AIRFLOW_MAIN in scripts/versions.sh); one that has a lock file
#   RIFFUSION_PYTHON  the Python to build the venv with: a version (3.12, found on PATH or under pyenv) or a path;
#                     default python3
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.sh
venv="${RIFFUSION_VENV:-.venv}"
airflow_version="${AIRFLOW_VERSION:-$AIRFLOW_MAIN}"
python="${RIFFUSION_PYTHON:-python3}"
if [[ "$python" =~ ^[0-9]+\.[0-9]+$ ]]; then
    found=$(find_python "$python")
    if [ -z "$found" ]; then
        echo "bootstrap.sh: no Python $python on PATH or under pyenv; install it, or set RIFFUSION_PYTHON to its path" >&2
        exit 1
    fi
    python=$found
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
python_version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
lock=$(lock_file "$airflow_version" "$python_version")
if [ ! -f "$lock" ]; then
    echo "bootstrap.sh: no lock file for Airflow $airflow_version on Python $python_version ($lock); locked:" \
        "$(cd locks && ls airflow-*.txt | sed 's/^airflow-//; s/\.txt$//' | paste -sd ' ')." \
        "Pick one with AIRFLOW_VERSION and RIFFUSION_PYTHON, or add it to scripts/versions.sh and run scripts/lock.sh" >&2
    exit 1
fi
uv_pin=$(grep -E '^uv==' "$lock" | cut -d' ' -f1)
if [ "$("$venv/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "${uv_pin#uv==}" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$uv_pin"
fi
# Compile bytecode at install: where PYTHONDONTWRITEBYTECODE is set, every airflow process would otherwise
# recompile Airflow at start-up (import airflow: 8.8 s without .pyc files, 3.7 s with them).
"$venv/bin/uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" -r "$lock" -e ".[dev]"
"$venv/bin/python" scripts/check_lock.py "$lock" "$venv/bin/python"
