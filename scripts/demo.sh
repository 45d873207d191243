#!/usr/bin/env bash
# Install everything, then run the example DAG end to end in a real Airflow against the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec "${RIFFUSION_VENV:-.venv}/bin/python" scripts/run_demo.py "$@"
