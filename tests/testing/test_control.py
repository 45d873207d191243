"""Driving the emulator (``emulator.py``, ``app.py``): arguments, settings, reset, control endpoints, the token."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import pytest
import requests

from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from tests.testing._support import TOKEN, Factory, client, status_of, upload, url

# The emulator object ----------------------------------------------------------------------------------


def test_constructor_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="revision"):
        RiffusionEmulator(revision="2024-01-01")
    with pytest.raises(ValueError, match="compose_shape"):
        RiffusionEmulator(compose_shape="songs")
    with pytest.raises(ValueError, match="pending_polls"):
        RiffusionEmulator(pending_polls=-1)


def test_reset_forgets_everything_but_settings(start: Factory) -> None:
    emu = start()
    session = client()
    upload(session, emu)
    emu.upload_final_status = "completed"
    emu.inject(Fault(method="GET", path="accounts", status=500))

    emu.reset()

    assert (emu.uploads, emu.requests, emu.connections) == ([], [], 0)
    assert session.get(url(emu, "accounts"), timeout=10).status_code == 200
    assert emu.upload_final_status == "completed"


def test_the_token_never_shows(start: Factory) -> None:
    emu = start()
    client().get(url(emu, "accounts"), timeout=10)
    client("wrong").get(url(emu, "accounts"), timeout=10)

    assert TOKEN not in repr(emu)
    assert TOKEN not in json.dumps(emu.requests)
    assert [entry["status"] for entry in emu.requests] == [200, 401]


def test_importing_the_testing_package_does_not_load_werkzeug() -> None:
    code = "import sys, airflow_provider_riffusion.testing; print('werkzeug' in sys.modules)"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)

    assert result.stdout.strip() == "False"


# Control endpoints (for tests in other processes) -----------------------------------------------------


def test_control_endpoints(start: Factory) -> None:
    emu = start(pending_polls=5)
    control = f"http://127.0.0.1:{emu.port}/_emulator"
    session = client()
    upload_id = upload(session, emu, b"abc", file_name="ctl").json()["id"]

    uploads = requests.get(f"{control}/uploads", timeout=10).json()
    settings = requests.post(
        f"{control}/settings", json={"pending_polls": 0, "upload_final_status": "completed"}, timeout=10
    )
    status = status_of(session, emu, upload_id)
    injected = requests.post(
        f"{control}/faults",
        json={"method": "GET", "path": "accounts", "status": 429, "headers": {"Retry-After": "2"}},
        timeout=10,
    )
    faulted = session.get(url(emu, "accounts"), timeout=10)
    logged = requests.get(f"{control}/requests", timeout=10).json()
    stats = requests.get(f"{control}/stats", timeout=10).json()

    assert uploads == [emu.uploads[0].to_dict()] and uploads[0]["file_name"] == "ctl"
    assert uploads[0]["sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert settings.status_code == 200 and settings.json()["pending_polls"] == 0
    assert status["status"] == "completed"
    assert injected.status_code == 200
    assert (faulted.status_code, faulted.headers["Retry-After"]) == (429, "2")
    assert [(entry["method"], entry["status"]) for entry in logged] == [("POST", 200), ("GET", 200), ("GET", 429)]
    assert logged[0]["query"] == {"file_name": "ctl"}
    assert stats == {"connections": 1, "requests": 3}, "control requests are not counted"

    account_error = requests.post(f"{control}/settings", json={"account_error": True}, timeout=10)
    assert account_error.status_code == 200 and emu.account_error is True
    assert requests.post(f"{control}/reset", timeout=10).status_code == 200
    assert emu.uploads == [] and emu.requests == []


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("faults", {"method": "GET", "path": "music", "kind": "explode"}),
        ("faults", {"method": "GET"}),
        ("faults", {"method": "GET", "path": "music", "colour": "red"}),
        ("settings", {"pending_polls": -1}),
        ("settings", {"flag_uploads": "yes"}),
        ("settings", {"volume": 11}),
    ],
)
def test_control_endpoints_refuse_bad_input(start: Factory, endpoint: str, body: dict[str, Any]) -> None:
    emu = start()

    response = requests.post(f"http://127.0.0.1:{emu.port}/_emulator/{endpoint}", json=body, timeout=10)

    assert response.status_code == 400
    assert emu.pending_polls == 1 and emu.flag_uploads is False
