#!/usr/bin/env bash
# Build the sdist and the wheel, check them with twine, install the wheel (with its testing extra) into a
# clean venv beside Airflow, and smoke-test it there: Airflow lists the provider, and the example DAG
# runs end to end against the emulator. Needs scripts/bootstrap.sh's venv for uv, build and twine. The clean
# venv resolves the wheel's own requirements, with the venv's lock file as constraints.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versions.sh
venv="${RIFFUSION_VENV:-.venv}"
airflow_version="${AIRFLOW_VERSION:-$AIRFLOW_MAIN}"
python_version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
lock=$(lock_file "$airflow_version" "$python_version")
work="$(mktemp -d "${TMPDIR:-/tmp}/riffusion-package-XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The build backend too comes from the lock: build's isolated environment is made by uv, with the lock as constraints.
UV_CONSTRAINT="$PWD/$lock" PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m build --installer uv --sdist --wheel --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$venv/bin/python" -m twine check --strict "$work"/dist/*
wheel=$(ls "$work"/dist/*.whl)
"$venv/bin/python" -m venv --without-pip "$work/venv"
"$venv/bin/uv" pip install --quiet --compile-bytecode --python "$work/venv/bin/python" -c "$lock" \
    "${wheel}[testing]" "apache-airflow==${airflow_version}"
"$venv/bin/python" scripts/check_lock.py "$lock" "$work/venv/bin/python"
export AIRFLOW_HOME="$work/airflow-home"
( cd "$work" && "$work/venv/bin/airflow" providers list --output json ) | "$work/venv/bin/python" -c '
import json, sys
names = [p["package_name"] for p in json.load(sys.stdin)]
assert "airflow-provider-riffusion" in names, names
print("airflow providers list: airflow-provider-riffusion is there")'
mkdir "$work/dags"
cp example_dags/*.py "$work/dags/"
( cd "$work" && PATH="$work/venv/bin:$PATH" "$work/venv/bin/python" - <<'PY'
import json, tempfile
from pathlib import Path

from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.testing.dag_run import run_dag_test

import airflow_provider_riffusion

assert "site-packages" in airflow_provider_riffusion.__file__, airflow_provider_riffusion.__file__  # the wheel's
with RiffusionEmulator(token="wheel-token", pending_polls=1, song_polls=1) as emu:
    run = run_dag_test(
        "riffusion_upload_compose",
        Path.cwd() / "dags",
        airflow_home=Path(tempfile.mkdtemp()),
        env={
            "AIRFLOW_CONN_RIFFUSION_DEFAULT": json.dumps({"conn_type": "riffusion", "password": "wheel-token", "host": emu.base_url}),
            "RIFFUSION_EXAMPLE_POLL_SECONDS": "1",
            "RIFFUSION_EXAMPLE_SONGS": tempfile.mkdtemp(),
        },
    )
    assert run.succeeded, run.output[-3000:]
    print(f"example DAG from the wheel: {run.state()}, {len(emu.uploads)} upload, {len(emu.downloads)} downloads")
PY
)
