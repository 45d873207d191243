#!/usr/bin/env bash
# Install everything, then run the example DAG end to end in a real Airflow against the emulator,
# and show the songs it stored on disk. RIFFUSION_SERVICE=flowmusic runs it against the emulator's Flow Music
# API (default: riffusion); the demo prints the service it ran against.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
"${RIFFUSION_VENV:-.venv}/bin/python" scripts/run_demo.py "$@"
ls -l "${RIFFUSION_DEMO_SONGS:-artifacts/demo-songs}"
