"""``python -m airflow_provider_riffusion.check``, the live check for users, run against the emulator."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from airflow_provider_riffusion import check
from airflow_provider_riffusion.testing import RiffusionEmulator
from tests.support import TOKEN, connection_json


def run_check(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return check.run(check.parse_args(list(argv)), out), out.getvalue()


def test_read_only_by_default_on_flow_music(flowmusic: RiffusionEmulator) -> None:
    status, printed = run_check()

    assert status == 0, printed
    lines = printed.splitlines()
    assert lines[0].startswith(f"Flow Music at {flowmusic.base_url} (connection 'riffusion_default'")
    assert lines[1].startswith("[1] accounts: 1 configured (artist@example.com); 0 in an error state; free")
    assert lines[2].startswith("[2] free slots: 3 free job slot(s) for all accounts; free")
    assert lines[3].startswith(f"[3] status read: job '{check.UNKNOWN_JOB}' is unknown (HTTP 404), as expected")
    assert "Read-only: nothing was created" in lines[4]
    assert [request["method"] for request in flowmusic.requests] == ["GET"] * len(flowmusic.requests)
    assert flowmusic.uploads == [] and TOKEN not in printed


def test_paid_uploads_a_tone_composes_and_says_what_it_cost(flowmusic: RiffusionEmulator) -> None:
    status, printed = run_check("--paid", "--user-id", "artist@example.com", "--timeout", "60")

    assert status == 0, printed
    [upload] = flowmusic.uploads
    assert upload.content_type == "audio/wav" and upload.bytes > 90_000  # three seconds at 16 kHz, 16 bits
    assert f"-> audio_upload_id {upload.audio_upload_id}" in printed
    assert "[5] compose: job_ids ['job:" in printed
    assert "[6] songs: 2 song(s): user:777-clip:" in printed
    assert "Cost: credits.balance 1000 -> 980 (20)" in printed
    assert TOKEN not in printed


def test_riffusion_and_a_job_of_ones_own(emu: RiffusionEmulator) -> None:
    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

    job_id = RiffusionHook().create_compose("folk", user_id=emu.user_ids[0])["job_ids"][0]

    status, printed = run_check("--job-id", job_id)

    assert status == 0, printed
    assert printed.startswith(f"Riffusion at {emu.base_url}")
    assert f"[3] status read: job '{job_id}': 1 song(s), status " in printed


def test_a_refused_token_fails_the_step_in_one_line(
    flowmusic: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(flowmusic.base_url, token="wrong-token", service="flowmusic")
    )

    status, printed = run_check("--paid")

    assert status == 1
    assert "[1] accounts: FAILED: The Flow Music API refused the token" in printed
    assert "Not running the paid steps" in printed and flowmusic.uploads == []
    assert "wrong-token" not in printed


def test_a_missing_connection_says_how_to_make_one() -> None:
    status, printed = run_check("--conn-id", "no_such_connection")

    assert status == 1
    assert printed.startswith("connection 'no_such_connection': ") and printed[-1] == "\n" and printed.count("\n") == 1


def test_from_the_shell(flowmusic: RiffusionEmulator) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_riffusion.check", "--conn-id", "riffusion_default"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Flow Music at" in result.stdout and "[3] status read" in result.stdout


def test_without_an_account_the_one_configured_is_billed_and_read(flowmusic: RiffusionEmulator) -> None:
    status, printed = run_check("--paid", "--timeout", "60")

    assert status == 0, printed
    assert "account any: the service picks one" in printed.splitlines()[0]
    assert "Cost: credits.balance 1000 -> 980 (20)" in printed


@pytest.mark.parametrize("refusal", [400, 403])
def test_an_unknown_job_refused_as_malformed_still_proves_the_read(flowmusic: RiffusionEmulator, refusal: int) -> None:
    from airflow_provider_riffusion.testing import Fault

    flowmusic.inject(Fault(method="GET", path=f"jobs/{check.UNKNOWN_JOB}", status=refusal, body={"error": "no"}))

    status, printed = run_check()

    assert status == 0, printed
    assert f"is unknown (HTTP {refusal}), as expected" in printed
