#!/usr/bin/env bash
# Install everything, check style and types, run the whole suite on Airflow 3.3, then the
# suite (without the multi-process cluster and browser tests) again on Airflow 2.11.
# Arguments go to pytest. RIFFUSION_SKIP_AIRFLOW2=1 skips the 2.11 pass.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${RIFFUSION_VENV:-.venv}"
bash scripts/bootstrap.sh
bash scripts/install_browser.sh "$venv"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/mypy"  # files: pyproject.toml [tool.mypy] (package, tests, example DAGs, benchmarks)
# Airflow's components start their helpers by name: the venv's bin goes first on PATH.
PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pytest "$@"
if [ -z "${RIFFUSION_SKIP_AIRFLOW2:-}" ]; then
    echo "== Airflow 2.11.2 =="
    RIFFUSION_VENV=.venv-airflow-2.11 AIRFLOW_VERSION=2.11.2 bash scripts/bootstrap.sh
    PATH="$PWD/.venv-airflow-2.11/bin:$PATH" .venv-airflow-2.11/bin/python -m pytest -m "not airflow_cluster and not browser" "$@"
fi
