"""Hostile or careless input: malformed tokens, files that are not audio, a poll interval of 0, and
sessions left open. Each is refused (or corrected) before it can cost anything: the emulator the
connection points at sees no request where the input can be judged locally.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator, UploadAudioOperator
from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger
from tests.support import TOKEN, RecordingTI, connection_json, one_event, task_context


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[RiffusionEmulator]:
    with RiffusionEmulator(token=TOKEN, pending_polls=1, song_polls=1) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emulator.base_url))
        yield emulator


# -- 6. malformed tokens -----------------------------------------------------------------------

MALFORMED_TOKENS = {
    "zero-width space": TOKEN[:8] + "\u200b" + TOKEN[8:],
    "space inside": TOKEN[:8] + " " + TOKEN[8:],
    "line break inside": TOKEN[:8] + "\n" + TOKEN[8:],
    "control character": TOKEN[:8] + "\x07" + TOKEN[8:],
    "non-latin-1": TOKEN[:8] + "\u20ac" + TOKEN[8:],
}


@pytest.mark.parametrize("name", list(MALFORMED_TOKENS), ids=list(MALFORMED_TOKENS))
def test_a_malformed_token_is_a_configuration_error_before_any_request(
    emu: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch, name: str, wav_file: Path
) -> None:
    token = MALFORMED_TOKENS[name]
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, token=token))

    with pytest.raises(exc.RiffusionConnectionConfigError) as raised:
        RiffusionHook().upload_audio(wav_file)
    event = one_event(UploadCompletedTrigger(job_id="job-1", poll_interval=0.01))

    assert emu.requests == []  # never sent, never retried as a "lost connection"
    message = str(raised.value)
    assert "password" in message and "\n" not in message
    for shown in (message, repr(raised.value), json.dumps(event)):
        assert TOKEN[:8] not in shown and TOKEN[9:] not in shown
    assert isinstance(raised.value, AirflowFailException)
    assert event["status"] == "error" and event["error_class"] == "RiffusionConnectionConfigError"


def test_a_token_pasted_with_a_trailing_newline_still_works(
    emu: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, token=TOKEN + "\n"))
    assert RiffusionHook().test_connection()[0] is True


# -- 7. only audio is uploaded -----------------------------------------------------------------


def refused_before_any_request(emu: RiffusionEmulator, upload: Callable[[], Any], *fragments: str) -> str:
    with pytest.raises(exc.RiffusionInputError) as raised:
        upload()
    message = str(raised.value)
    assert emu.requests == [], "refused input must not reach the API"
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


@pytest.mark.parametrize("content_type", [None, "audio/mpeg"])
def test_a_text_file_behind_an_audio_name_is_never_sent(
    emu: RiffusionEmulator, tmp_path: Path, content_type: str | None
) -> None:
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    link = tmp_path / "x.mp3"
    link.symlink_to(secret)

    refused_before_any_request(
        emu, lambda: RiffusionHook().upload_audio(link, content_type=content_type), "first bytes", "not sent"
    )


@pytest.mark.parametrize("name", ["notes.wav", "notes.m4a", "notes"])
def test_bytes_that_are_no_audio_are_never_sent(emu: RiffusionEmulator, name: str) -> None:
    refused_before_any_request(
        emu, lambda: RiffusionHook().upload_audio(b"just some text, no audio", file_name=name, content_type="audio/wav")
    )


def refused_at_once(emu: RiffusionEmulator, path: Path, fragment: str) -> None:
    """Refused without blocking: a FIFO opened for reading would wait for a writer forever."""
    outcome: list[BaseException] = []
    worker = threading.Thread(
        target=lambda: outcome.extend(_raised(lambda: RiffusionHook().upload_audio(path, content_type="audio/mpeg"))),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), f"{path} blocked the upload"
    [error] = outcome
    assert isinstance(error, exc.RiffusionInputError), error
    assert fragment in str(error)
    assert emu.requests == []


def _raised(call: Callable[[], Any]) -> list[BaseException]:
    try:
        call()
    except BaseException as error:
        return [error]
    return []


def test_a_fifo_is_refused_at_once(emu: RiffusionEmulator, tmp_path: Path) -> None:
    fifo = tmp_path / "live.mp3"
    os.mkfifo(fifo)
    refused_at_once(emu, fifo, "a FIFO, not a regular file")


def test_a_device_is_refused_at_once(emu: RiffusionEmulator) -> None:
    refused_at_once(emu, Path("/dev/zero"), "a device, not a regular file")


def test_a_socket_is_refused_at_once(emu: RiffusionEmulator, tmp_path: Path) -> None:
    path = tmp_path / "s.mp3"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        refused_at_once(emu, path, "a socket, not a regular file")


# -- 8. no hot loop ----------------------------------------------------------------------------


@pytest.fixture
def real_floor(monkeypatch: pytest.MonkeyPatch) -> float:
    """The floor a deployment has (the suite lowers it for the emulator's instant answers)."""
    monkeypatch.delenv("AIRFLOW__RIFFUSION__MIN_POLL_INTERVAL")
    return 1.0


def test_an_interval_of_zero_is_raised_to_the_floor_with_a_warning(
    real_floor: float, capsys: pytest.CaptureFixture[str]
) -> None:
    trigger = UploadCompletedTrigger(job_id="job-1", poll_interval=0)
    sensor = UploadCompletedSensor(task_id="wait", job_id="job-1", poke_interval=0)
    operator = UploadAudioOperator(task_id="up", source="x.wav", poll_interval=0, wait_for_completion=True)
    composer = CreateComposeOperator(task_id="compose", prompt_1="p", poll_interval=0.2)
    logged = capsys.readouterr().out  # task and trigger loggers write through Airflow's structlog

    assert (
        trigger.poll_interval == sensor.poke_interval == operator.poll_interval == composer.poll_interval == real_floor
    )
    assert logged.count("below the floor of 1 s: polling every 1 s") == 4
    assert trigger.serialize()[1]["poll_interval"] == real_floor  # a re-created trigger keeps it


@pytest.mark.parametrize("configured", ["0", "-5", "soon"])
def test_the_floor_itself_cannot_be_set_to_nothing(monkeypatch: pytest.MonkeyPatch, configured: str) -> None:
    monkeypatch.setenv("AIRFLOW__RIFFUSION__MIN_POLL_INTERVAL", configured)
    try:
        interval = UploadCompletedTrigger(job_id="job-1", poll_interval=0).poll_interval
    except Exception as error:  # an unreadable setting is Airflow's own configuration error
        assert "min_poll_interval" in str(error)
    else:
        assert interval == 1.0


def test_a_trigger_with_interval_zero_polls_at_most_once_a_second(
    real_floor: float, emu: RiffusionEmulator, wav_file: Path
) -> None:
    job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
    emu.pending_polls = 10**6
    window = 3.5

    async def run_for_a_while() -> None:
        async for _ in UploadCompletedTrigger(job_id=job_id, poll_interval=0).run():
            raise AssertionError("the upload never completes")

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(asyncio.wait_for(run_for_a_while(), window))
    polls = sum(1 for r in emu.requests if r["method"] == "GET")
    assert 1 <= polls <= window / real_floor + 1, f"{polls} polls in {window} s"


# -- 12. sessions are closed -------------------------------------------------------------------


def wait_for_closed(emu: RiffusionEmulator) -> int:
    """The emulator's open connections once the client's close has reached it."""
    deadline = time.monotonic() + 5
    while emu.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    return emu.open_connections


def test_upload_operator_closes_its_session_on_success(emu: RiffusionEmulator, wav_file: Path) -> None:
    operator = UploadAudioOperator(task_id="up", source=str(wav_file), wait_for_completion=True, poll_interval=0.01)
    operator.execute(task_context(RecordingTI()))
    assert "session" not in operator.hook.__dict__
    assert wait_for_closed(emu) == 0


def test_upload_operator_closes_its_session_on_failure(emu: RiffusionEmulator, wav_file: Path) -> None:
    emu.inject(Fault(method="GET", path="music/upload-audio", status=401))
    operator = UploadAudioOperator(task_id="up", source=str(wav_file), wait_for_completion=True, poll_interval=0.01)
    with pytest.raises(exc.RiffusionAuthError):
        operator.execute(task_context(RecordingTI()))
    assert "session" not in operator.hook.__dict__
    assert wait_for_closed(emu) == 0


def test_compose_operator_closes_its_session_when_it_defers(emu: RiffusionEmulator) -> None:
    emu.song_polls = 5
    operator = CreateComposeOperator(
        task_id="compose", prompt_1="p", wait_for_completion=True, deferrable=True, poll_interval=0.01
    )
    with pytest.raises(TaskDeferred):
        operator.execute(task_context(RecordingTI()))
    assert "session" not in operator.hook.__dict__
    assert wait_for_closed(emu) == 0


def uploaded(wav_file: Path) -> str:
    """An upload made by a hook of the test's own, closed again: the connections left are the sensor's."""
    hook = RiffusionHook()
    try:
        return str(hook.upload_audio(wav_file)["job_id"])
    finally:
        hook.close()


def test_sensor_closes_its_session_when_execute_ends(emu: RiffusionEmulator, wav_file: Path) -> None:
    job_id = uploaded(wav_file)
    assert wait_for_closed(emu) == 0
    emu.pending_polls = 2
    sensor = UploadCompletedSensor(task_id="wait", job_id=job_id, mode="poke", poke_interval=0.01, timeout=10)
    assert sensor.execute(task_context(RecordingTI()))["status"] == "complete"
    assert "session" not in sensor.hook.__dict__
    assert wait_for_closed(emu) == 0


def test_sensor_closes_its_session_when_it_defers(emu: RiffusionEmulator, wav_file: Path) -> None:
    job_id = uploaded(wav_file)
    sensor = UploadCompletedSensor(task_id="wait", job_id=job_id, deferrable=True, poke_interval=0.01, timeout=10)
    with pytest.raises(TaskDeferred):
        sensor.execute(task_context(RecordingTI()))
    assert "session" not in sensor.hook.__dict__
    assert wait_for_closed(emu) == 0
