#!/usr/bin/env bash
# Install everything, check style and types, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
venv="${RIFFUSION_VENV:-.venv}"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/mypy" airflow_provider_riffusion
exec "$venv/bin/python" -m pytest "$@"
