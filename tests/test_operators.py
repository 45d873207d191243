"""Operators and the sensor, executed against the emulator (a real Airflow run is in test_example_dag.py)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator, UploadAudioOperator
from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger, UploadCompletedTrigger
from tests.support import RecordingTI, pushed, task_context

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

SENSOR_KEYS = {"job_id", "audio_upload_id", "status", "lyrics", "is_flagged", "response"}
UPLOAD_KEYS = {"job_id", "audio_upload_id", "is_flagged", "file_name", "content_type", "bytes", "sha256"}


def logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """Task logs: Airflow 3 renders them with structlog to stdout, Airflow 2 through logging (and echoes)."""
    out = capsys.readouterr().out
    return caplog.text or out


@pytest.fixture
def context() -> Context:
    return task_context(RecordingTI())


def test_upload_operator_returns_the_upload(connection: RiffusionEmulator, wav_file: Path, context: Context) -> None:
    result = UploadAudioOperator(task_id="up", source=str(wav_file), file_name="Take 1.wav").execute(context)

    assert set(result) == UPLOAD_KEYS
    assert result["file_name"] == "Take 1"
    assert [record.file_name for record in connection.uploads] == ["Take 1"]


def test_upload_operator_waits_and_adds_sensor_keys(
    connection: RiffusionEmulator, wav_file: Path, context: Context
) -> None:
    operator = UploadAudioOperator(
        task_id="up", source=wav_file, wait_for_completion=True, deferrable=False, poll_interval=0.01
    )

    result = operator.execute(context)

    assert set(result) == UPLOAD_KEYS | SENSOR_KEYS
    assert result["status"] == "complete"
    assert result["lyrics"]
    assert pushed(context)["job_id"] == result["job_id"]


def test_upload_operator_defers_while_pending(connection: RiffusionEmulator, wav_file: Path, context: Context) -> None:
    operator = UploadAudioOperator(
        task_id="up", source=wav_file, wait_for_completion=True, deferrable=True, poll_interval=1, timeout=60
    )

    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)

    trigger = deferred.value.trigger
    assert isinstance(trigger, UploadCompletedTrigger)
    assert trigger.job_id == pushed(context)["job_id"]
    assert trigger.deadline == pytest.approx(time.time() + 60, abs=5)
    upload = (deferred.value.kwargs or {})["upload"]
    assert len(connection.uploads) == 1

    event = {"status": "success", "message": "ok", "result": RiffusionHook().get_upload_status(upload["job_id"])}
    resumed = operator.execute_complete(context, event=event, upload=upload)
    assert set(resumed) == UPLOAD_KEYS | SENSOR_KEYS


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


def test_compose_ranges_fail_when_the_dag_is_parsed() -> None:
    with pytest.raises(exc.RiffusionInputError, match="lyrics_weirdness=101 is out of range"):
        CreateComposeOperator(task_id="c", prompt_1="x", lyrics_weirdness=101)


def test_compose_operator_waits_for_songs(connection: RiffusionEmulator, context: Context) -> None:
    operator = CreateComposeOperator(
        task_id="c", prompt_1="folk", title="Hills", wait_for_completion=True, deferrable=False, poll_interval=0.01
    )

    result = operator.execute(context)

    assert set(result) == {"job_ids", "response", "songs"}
    assert pushed(context)["job_ids"] == result["job_ids"]
    assert all(song["status"] == "completed" and song["download_url"] for song in result["songs"])
    assert pushed(context)["riffusion_song_url"]


def test_compose_operator_defers_while_songs_render(connection: RiffusionEmulator, context: Context) -> None:
    operator = CreateComposeOperator(task_id="c", prompt_1="folk", wait_for_completion=True, deferrable=True)

    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)

    assert isinstance(deferred.value.trigger, SongsCompletedTrigger)
    assert deferred.value.trigger.job_ids == (deferred.value.kwargs or {})["compose"]["job_ids"]


def test_templated_fields_are_the_documented_ones() -> None:
    assert set(UploadAudioOperator.template_fields) == {
        "source",
        "source_conn_id",
        "file_name",
        "content_type",
        "user_id",
    }
    assert set(UploadCompletedSensor.template_fields) == {"job_id", "user_id"}
    assert {"prompt_1", "lyrics", "title", "audio_upload_id", "user_id"} <= set(CreateComposeOperator.template_fields)
