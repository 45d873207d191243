#!/usr/bin/env bash
# Create .venv (or $RIFFUSION_VENV) with Airflow and this provider installed editable.
# Needs only python3; uv comes from PyPI and makes the Airflow install take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${RIFFUSION_VENV:-.venv}"
airflow_version="${AIRFLOW_VERSION:-3.3.2}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if [ ! -x "$venv/bin/uv" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
fi
# Compile bytecode at install: where PYTHONDONTWRITEBYTECODE is set, every airflow process would otherwise
# recompile Airflow at start-up (import airflow: 8.8 s without .pyc files, 3.7 s with them).
extra=()
case "$airflow_version" in
    # Airflow 3.0's ObjectStoragePath refuses every scheme with universal-pathlib 0.3 ("detected protocol ...
    # which is incompatible"), which its requirements do not exclude; 3.1 onwards work with it. And 3.0
    # builds no provider's connection form without the FAB provider (3.1 mocks what it lacks).
    # Both also lack upper bounds that Airflow's constraints files supply (we cannot fetch those here): with
    # the newest fastapi and cadwyn, 3.0's in-process execution API (`airflow dags test`) rejects every
    # request body, and 3.2's fails on pydantic's discriminator or, with svcs 26.2 (which detaches its
    # registry when a lifespan ends), loses its service registry before the first task reports back.
    3.0.*) extra+=("universal-pathlib<0.3" "apache-airflow-providers-fab" "cadwyn<6" "fastapi<0.118") ;;
    3.2.*) extra+=("fastapi<0.137" "svcs<26.2") ;;
esac
"$venv/bin/uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" -e ".[dev]" \
    "apache-airflow==${airflow_version}" ${extra[@]+"${extra[@]}"}
