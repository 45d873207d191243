"""UploadCompletedSensor (``sensors/riffusion.py``), poked and executed against the emulator."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.sensors.riffusion import SongsCompletedSensor, UploadCompletedSensor
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from tests.support import RecordingTI, one_event, task_context
from tests.task_state import MemoryStore, context_with_store

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

SENSOR_KEYS = {"job_id", "audio_upload_id", "status", "lyrics", "is_flagged", "response"}


def logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """Task logs: Airflow 3 renders them with structlog to stdout, Airflow 2 through logging (and echoes)."""
    out = capsys.readouterr().out
    return caplog.text or out


@pytest.fixture
def context() -> Context:
    return task_context(RecordingTI())


def test_sensor_status_rule(connection: RiffusionEmulator, wav_file: Path, context: Context) -> None:
    upload = RiffusionHook().upload_audio(wav_file)
    sensor = UploadCompletedSensor(task_id="wait", job_id=upload["job_id"], poke_interval=0.01)

    assert not sensor.poke(context).is_done
    done = sensor.poke(context)

    assert done.is_done
    assert isinstance(done.xcom_value, dict)
    assert set(done.xcom_value) == SENSOR_KEYS
    assert done.xcom_value["status"] == "complete"


@pytest.mark.parametrize("word", ["failed", "error", "cancelled"])
def test_sensor_fails_at_once_on_a_failed_status(
    connection: RiffusionEmulator, wav_file: Path, context: Context, word: str
) -> None:
    connection.upload_final_status = word
    upload = RiffusionHook().upload_audio(wav_file)
    sensor = UploadCompletedSensor(task_id="wait", job_id=upload["job_id"])
    sensor.poke(context)

    with pytest.raises(exc.RiffusionUploadFailedError, match=repr(word)) as raised:
        sensor.poke(context)
    assert isinstance(raised.value, AirflowFailException)


def test_sensor_accepts_an_unknown_word_with_a_warning(
    connection: RiffusionEmulator,
    wav_file: Path,
    context: Context,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    connection.upload_final_status = "transcribed"
    upload = RiffusionHook().upload_audio(wav_file)
    sensor = UploadCompletedSensor(task_id="wait", job_id=upload["job_id"])
    sensor.poke(context)

    capsys.readouterr()
    with caplog.at_level(logging.WARNING):
        assert sensor.poke(context).is_done
    assert "status 'transcribed', which the docs do not name" in logged(caplog, capsys)


def test_sensor_fails_on_flagged_only_when_asked(
    connection: RiffusionEmulator, wav_file: Path, context: Context
) -> None:
    connection.flag_uploads = True
    upload = RiffusionHook().upload_audio(wav_file)
    lenient = UploadCompletedSensor(task_id="lenient", job_id=upload["job_id"])
    strict = UploadCompletedSensor(task_id="strict", job_id=upload["job_id"], fail_on_flagged=True)
    lenient.poke(context)

    assert (lenient.poke(context).xcom_value or {})["is_flagged"] is True
    with pytest.raises(exc.RiffusionUploadFailedError, match="flagged"):
        strict.poke(context)


@pytest.mark.parametrize("job_id", ["", "None", "  "])
def test_sensor_refuses_an_empty_job_id(connection: RiffusionEmulator, context: Context, job_id: str) -> None:
    with pytest.raises(exc.RiffusionInputError, match="job_id is empty"):
        UploadCompletedSensor(task_id="wait", job_id=job_id).poke(context)
    assert connection.requests == []


def test_sensor_rides_out_blips_up_to_its_limit(
    connection: RiffusionEmulator, wav_file: Path, context: Context
) -> None:
    upload = RiffusionHook().upload_audio(wav_file)
    sensor = UploadCompletedSensor(task_id="wait", job_id=upload["job_id"], max_consecutive_errors=2)
    # Each poke's hook call makes 3 attempts (the test connection's max_attempts): 3 pokes' worth of 502s.
    connection.inject(Fault(method="GET", path="music/upload-audio", kind="status", status=502, times=9))

    assert not sensor.poke(context).is_done
    assert not sensor.poke(context).is_done
    with pytest.raises(exc.RiffusionServerError):
        sensor.poke(context)


def test_sensor_logs_a_status_once_while_it_stays(
    connection: RiffusionEmulator,
    wav_file: Path,
    context: Context,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    connection.upload_final_status = "complete"
    upload = RiffusionHook().upload_audio(wav_file)
    connection.inject(
        Fault(method="GET", path="music/upload-audio", kind="status", status=200, body={"status": "pending"}, times=3)
    )
    sensor = UploadCompletedSensor(task_id="wait", job_id=upload["job_id"])
    capsys.readouterr()

    with caplog.at_level(logging.INFO):
        for _ in range(3):
            sensor.poke(context)
    assert logged(caplog, capsys).count("status 'pending'") == 1


def test_a_rescheduled_sensor_logs_a_status_once_while_it_stays(
    connection: RiffusionEmulator,
    wav_file: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In reschedule mode every poke is a new run of the task (a new sensor object): the status it logged
    rides along in the task state store, so it is logged once while it stays, and once more in a new try."""
    upload = RiffusionHook().upload_audio(wav_file)
    connection.inject(
        Fault(method="GET", path="music/upload-audio", kind="status", status=200, body={"status": "pending"}, times=4)
    )
    store = MemoryStore()

    def poke(try_number: int) -> bool:
        sensor = UploadCompletedSensor(task_id="wait", job_id=upload["job_id"], mode="reschedule")
        return sensor.poke(context_with_store(RecordingTI(try_number), store)).is_done

    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        assert not any(poke(1) for _ in range(3))
        first_try = logged(caplog, capsys)
        caplog.clear()
        assert not poke(2)
        second_try = logged(caplog, capsys)
    assert first_try.count("status 'pending'") == 1
    assert second_try.count("status 'pending'") == 1
    assert store.writes == 2  # a poke with nothing new to keep writes nothing


def test_deferrable_sensor_pokes_once_then_defers_with_its_timeout(
    connection: RiffusionEmulator, wav_file: Path, context: Context
) -> None:
    upload = RiffusionHook().upload_audio(wav_file)
    sensor = UploadCompletedSensor(
        task_id="wait", job_id=upload["job_id"], deferrable=True, poke_interval=3, timeout=120
    )

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)

    assert deferred.value.timeout.total_seconds() == 120
    assert deferred.value.trigger.deadline == pytest.approx(time.time() + 120, abs=5)
    assert sum(1 for r in connection.requests if r["method"] == "GET") == 1


def test_deferrable_sensor_returns_without_deferring_when_ready(
    connection: RiffusionEmulator, wav_file: Path, context: Context
) -> None:
    upload = RiffusionHook().upload_audio(wav_file)
    RiffusionHook().get_upload_status(upload["job_id"])  # the emulator's one pending answer

    result = UploadCompletedSensor(task_id="wait", job_id=upload["job_id"], deferrable=True).execute(context)

    assert result["status"] == "complete"


# -- SongsCompletedSensor: the songs' wait as a task of its own ---------------------------------


def test_songs_sensor_waits_for_every_song(connection: RiffusionEmulator, context: Context) -> None:
    connection.song_polls = 2
    job_ids = RiffusionHook().create_compose("surf rock", title="Waves")["job_ids"]
    sensor = SongsCompletedSensor(task_id="songs", job_ids=job_ids, poke_interval=0.01, timeout=20)

    assert not sensor.poke(context).is_done  # queued
    result = sensor.execute(context)

    assert result["job_ids"] == job_ids
    assert {song["status"] for song in result["songs"]} == {"completed"}
    assert {song["title"] for song in result["songs"]} == {"Waves"}
    assert posts(connection, "create-compose") == 1  # the wait composes nothing


def test_songs_sensor_defers_and_resumes_with_the_songs(connection: RiffusionEmulator, context: Context) -> None:
    from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger

    connection.song_polls = 3
    job_ids = RiffusionHook().create_compose("surf rock")["job_ids"]
    sensor = SongsCompletedSensor(task_id="songs", job_ids=job_ids, deferrable=True, poke_interval=0.01, timeout=20)

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, SongsCompletedTrigger) and trigger.job_ids == job_ids

    result = sensor.execute_complete(context, event=one_event(trigger))
    assert result["job_ids"] == job_ids and {song["status"] for song in result["songs"]} == {"completed"}


def test_songs_sensor_fails_at_once_when_a_song_failed(connection: RiffusionEmulator, context: Context) -> None:
    connection.song_final_status = "failed"
    job_ids = RiffusionHook().create_compose("surf rock")["job_ids"]
    sensor = SongsCompletedSensor(task_id="songs", job_ids=job_ids, poke_interval=0.01, timeout=20)

    with pytest.raises(exc.RiffusionSongFailedError) as raised:
        sensor.execute(context)
    assert isinstance(raised.value, AirflowFailException)


@pytest.mark.parametrize("job_ids", [[], None, "", ["job-1", "None"]])
def test_songs_sensor_refuses_empty_job_ids(connection: RiffusionEmulator, context: Context, job_ids: object) -> None:
    sensor = SongsCompletedSensor(task_id="songs", job_ids=job_ids, poke_interval=0.01, timeout=20)
    with pytest.raises(exc.RiffusionInputError, match="job_ids is empty"):
        sensor.poke(context)
    assert connection.requests == []


def posts(emu: RiffusionEmulator, path: str) -> int:
    return sum(1 for r in emu.requests if r["method"] == "POST" and path in r["path"])
