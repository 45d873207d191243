"""What a new DAG author meets first: the demo (on Flow Music, the live service), the URI form of the
connection, a connection of the wrong type or none at all, and the download step chained to a compose that
did not wait; on the worker and in the triggerer, against the emulator."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators.riffusion import DownloadSongsOperator
from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger
from tests.support import RecordingTI, one_event, task_context, task_logs

ROOT = Path(__file__).resolve().parent.parent


def run_demo(service: str, songs: Path) -> subprocess.CompletedProcess[str]:
    """``scripts/run_demo.py`` as ``scripts/demo.sh`` runs it once installed, with its songs stored in ``songs``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PYTEST"))}
    env.update({"RIFFUSION_SERVICE": service, "RIFFUSION_DEMO_SONGS": str(songs)})
    return subprocess.run(
        [sys.executable, "scripts/run_demo.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.once  # one Airflow runs it: tests/test_example_dag.py runs the same DAG on every minor and service
@pytest.mark.airflow_cli
def test_the_demo_runs_on_flow_music_and_says_so(tmp_path: Path) -> None:
    result = run_demo("flowmusic", tmp_path / "songs")

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        r"Service: Flow Music \(Riffusion's live successor\), emulated at http://127\.0\.0\.1:\d+/v1/flowmusic",
        lines[0],
    ), lines
    assert "transcribed lyrics: '' (Flow Music transcribes no upload: it is ready when it answers)" in lines
    songs = [line for line in lines if line.startswith("song: ")]
    assert len(songs) == 2 and all(" [completed] " in line for line in songs), lines
    stored = sorted((tmp_path / "songs").glob("*.mp3"))
    assert len(stored) == 2 and all(f"  {path.name}  {path.stat().st_size} bytes" in result.stdout for path in stored)
    assert lines[-1] == "demo succeeded on Flow Music (Riffusion's live successor)", lines
    home = re.search(r"^Airflow home (\S+)/airflow;", result.stdout, re.MULTILINE)
    assert home and not Path(home[1]).exists()  # its temporary folder removed


def test_the_demo_refuses_a_service_it_does_not_know(tmp_path: Path) -> None:
    result = run_demo("suno", tmp_path / "songs")

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "demo failed: RIFFUSION_SERVICE='suno' is not one of ['flowmusic', 'riffusion']\n"
    assert not (tmp_path / "songs").exists()


def uri_of(emulator: RiffusionEmulator) -> str:
    """The emulator as a connection URI with a host, a port and a path (no scheme: the URI form has none)."""
    parts = urlsplit(emulator.base_url)
    return f"riffusion://:{quote(emulator.token, safe='')}@{parts.hostname}:{parts.port}{parts.path}"


def test_the_uri_form_with_host_port_and_path_reaches_the_emulator(
    riffusion_emulator: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", uri_of(riffusion_emulator))

    ok, message = RiffusionHook().test_connection()

    assert ok, message
    assert RiffusionHook().settings.base_url == riffusion_emulator.base_url
    assert [r["path"] for r in riffusion_emulator.requests][-1].endswith("/accounts")


def test_the_uri_form_to_a_remote_host_uses_https(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", "riffusion://:tok-1@proxy.example.com:8443/v1/riffusion")

    assert RiffusionHook().settings.base_url == "https://proxy.example.com:8443/v1/riffusion"


def test_a_connection_of_another_type_works_with_a_warning_on_both_paths(
    riffusion_emulator: RiffusionEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    connection = {"conn_type": "http", "password": riffusion_emulator.token, "host": riffusion_emulator.base_url}
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", json.dumps(connection))
    riffusion_emulator.song_polls = 0
    job_id = RiffusionHook().create_compose("ambient")["job_ids"][0]
    task_logs(caplog, capsys)

    with caplog.at_level(logging.WARNING):
        assert RiffusionHook().get_songs(job_id)
        event = one_event(SongsCompletedTrigger(job_ids=[job_id], poll_interval=1, deadline=time.time() + 20))

    assert event["status"] == "success", event
    logs = task_logs(caplog, capsys)
    assert logs.count("Connection 'riffusion_default' is of type 'http', not 'riffusion'") == 2, logs  # hook, trigger


def test_a_missing_connection_says_how_to_create_it_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_MY_RIFFUSION", raising=False)

    with pytest.raises(exc.RiffusionConnectionConfigError) as raised:
        RiffusionHook("my-riffusion").get_songs("job-1")
    event = one_event(
        SongsCompletedTrigger(
            job_ids=["job-1"], riffusion_conn_id="my-riffusion", poll_interval=1, deadline=time.time() + 20
        )
    )

    message = str(raised.value)
    assert "Connection 'my-riffusion' is not defined" in message and "\n" not in message
    assert "airflow connections add my-riffusion --conn-type riffusion" in message
    assert "AIRFLOW_CONN_MY_RIFFUSION=" in message
    assert event["status"] == "error" and event["message"] == message, event


def test_downloading_from_a_compose_that_did_not_wait_says_to_wait(
    riffusion_connection: RiffusionEmulator, tmp_path: Any
) -> None:
    composed = RiffusionHook().create_compose("ambient")
    operator = DownloadSongsOperator(task_id="store", songs=composed, destination=str(tmp_path))

    with pytest.raises(exc.RiffusionInputError) as raised:
        operator.execute(task_context(RecordingTI()))

    message = str(raised.value)
    assert "did not wait for its songs" in message and "wait_for_completion=True" in message
    assert "SongsCompletedSensor" in message
    assert all(f"'{job_id}'" in message for job_id in composed["job_ids"])  # each id whole, never cut
    assert list(tmp_path.iterdir()) == [] and not any("download" in r["path"] for r in riffusion_connection.requests)


@pytest.mark.parametrize(
    ("songs", "shows"),
    [
        ([{"title": "x" * 400, "status": "complete"}], "keys ['status', 'title']"),
        ({"unexpected": "y" * 400}, "keys ['unexpected']"),
        (7, "int 7"),
    ],
)
def test_a_bad_songs_value_is_named_without_cutting_it_mid_word(songs: Any, shows: str, tmp_path: Any) -> None:
    operator = DownloadSongsOperator(task_id="store", songs=songs, destination=str(tmp_path))

    with pytest.raises(exc.RiffusionInputError) as raised:
        operator.execute(task_context(RecordingTI()))

    assert shows in str(raised.value) and "x" * 50 not in str(raised.value) and "y" * 50 not in str(raised.value)
