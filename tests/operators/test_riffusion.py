"""The operators, executed against the emulator (a real Airflow run is in test_example_dag.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator, UploadAudioOperator
from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor
from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger, UploadCompletedTrigger
from tests.support import RecordingTI, pushed, task_context

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

SENSOR_KEYS = {"job_id", "audio_upload_id", "status", "lyrics", "is_flagged", "response"}
UPLOAD_KEYS = {"job_id", "audio_upload_id", "is_flagged", "file_name", "content_type", "bytes", "sha256"}


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


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"lyrics_weirdness": 101}, "lyrics_weirdness=101 is out of range"),
        ({"max_jobs": 20}, "max_jobs=20 is out of range: use an integer from 1 to 10"),
    ],
)
def test_compose_ranges_fail_when_the_dag_is_parsed(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(exc.RiffusionInputError) as raised:
        CreateComposeOperator(task_id="c", prompt_1="x", **fields)
    message = str(raised.value)
    assert "\n" not in message and fragment in message, message


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


def test_parsing_the_example_dag_loads_no_client_hook_poller_or_trigger(tmp_path: Path) -> None:
    """DAG files import the operators at every parse: what only a running task needs must load then."""
    example = Path(__file__).resolve().parents[2] / "example_dags" / "riffusion_upload_compose.py"
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('example', {str(example)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('airflow_provider_riffusion.'))))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "RIFFUSION_EXAMPLE_TRACKS": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = set(result.stdout.split())

    assert "airflow_provider_riffusion.operators.upload_audio" in loaded  # the parse did run
    heavy = {"hooks.riffusion", "hooks.answers", "hooks.transfers", "triggers.riffusion", "sources"}
    assert not {f"airflow_provider_riffusion.{name}" for name in heavy} & loaded
