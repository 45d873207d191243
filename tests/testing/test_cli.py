"""Starting the emulator outside a test's code: the command line (``testing/__main__.py``), the pytest plugin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from airflow_provider_riffusion.testing import RiffusionEmulator
from tests.testing._support import AtUrl, client, upload, wait_for

# Command line -----------------------------------------------------------------------------------------


def test_cli_serves_until_sigterm_without_printing_the_token(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    secret = "cli-SECRET-token-42"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_riffusion.testing",
            "--port",
            "0",
            "--revision",
            "2025-02-17",
            "--user-id",
            "alice",
            "--ready-file",
            str(ready),
        ],
        env={**os.environ, "RIFFUSION_EMULATOR_TOKEN": secret},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: ready.exists() or process.poll() is not None, timeout=30)
        base_url = ready.read_text().strip()
        accounts = client(secret).get(f"{base_url}/accounts", timeout=10)
        job = upload(client(secret), AtUrl(base_url), b"abc").json()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0
    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1/riffusion")
    assert accounts.status_code == 200 and list(accounts.json()) == ["alice"]
    assert set(job) == {"job_id"}, "revision 2025-02-17 was selected"
    assert f"Riffusion emulator listening on {base_url} (revision 2025-02-17" in output
    assert secret not in output


# pytest plugin ----------------------------------------------------------------------------------------


def test_pytest_plugin_fixtures(riffusion_connection: RiffusionEmulator) -> None:
    connection = json.loads(os.environ["AIRFLOW_CONN_RIFFUSION_DEFAULT"])

    assert connection == {
        "conn_type": "riffusion",
        "password": riffusion_connection.token,
        "host": riffusion_connection.base_url,
    }
    assert riffusion_connection.revision == "2025-02-25"
    response = client(connection["password"]).get(f"{connection['host']}/accounts", timeout=10)
    assert response.status_code == 200
