"""Status words on every path: what each word ends a wait (``waits.py``) with, in the worker's sensor and in the
triggerer alike. What each word means: tests/services/test_riffusion.py; the waits' own checks, with stand-in
answers: tests/test_waits.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.sensors.riffusion import SongsCompletedSensor, UploadCompletedSensor
from airflow_provider_riffusion.testing import RiffusionEmulator
from tests.support import RecordingTI, one_event, task_context

# Every word through the worker's wait and the triggerer's: the same outcome, as documented --------------

UPLOAD_OUTCOMES = {
    **dict.fromkeys(["complete", "completed", "Completed", "transcribed", "ready"], "ready"),
    **dict.fromkeys(["failed", "error", "cancelled", "FAILED"], "failed"),
}
SONG_OUTCOMES = {
    **dict.fromkeys(["completed", "complete", "Completed"], "ready"),
    **dict.fromkeys(["failed", "error", "cancelled", "ERROR"], "failed"),
}


def _outcome(wait: Callable[[], Any]) -> str:
    try:
        wait()
    except (exc.RiffusionUploadFailedError, exc.RiffusionSongFailedError):
        return "failed"
    return "ready"


def _deferred(sensor: Any) -> Any:
    """The deferrable path as Airflow runs it: poke (pending), defer, the trigger's one event, ``execute_complete``."""
    context = task_context(RecordingTI())
    with pytest.raises(TaskDeferred) as deferred:  # its first poll must see the job pending
        sensor.execute(context)
    return sensor.execute_complete(context, event=one_event(deferred.value.trigger))


@pytest.mark.parametrize("word", sorted(UPLOAD_OUTCOMES))
def test_an_upload_status_ends_the_sync_and_the_deferred_wait_alike(
    connection: RiffusionEmulator, wav_file: Path, word: str
) -> None:
    connection.upload_final_status = word

    def sensor(**kwargs: Any) -> UploadCompletedSensor:  # a fresh upload each: the first poll sees it pending
        job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
        return UploadCompletedSensor(task_id="wait", job_id=job_id, poke_interval=0.01, timeout=20, **kwargs)

    sync = _outcome(lambda: sensor().execute(task_context(RecordingTI())))
    deferred = _outcome(lambda: _deferred(sensor(deferrable=True)))

    assert (sync, deferred) == (UPLOAD_OUTCOMES[word],) * 2


@pytest.mark.parametrize("word", sorted(SONG_OUTCOMES))
def test_a_song_status_ends_the_sync_and_the_deferred_wait_alike(connection: RiffusionEmulator, word: str) -> None:
    connection.song_final_status = word

    def sensor(**kwargs: Any) -> SongsCompletedSensor:  # a fresh compose each: the first poll sees it pending
        job_ids = RiffusionHook().create_compose("surf rock")["job_ids"]
        return SongsCompletedSensor(task_id="songs", job_ids=job_ids, poke_interval=0.01, timeout=20, **kwargs)

    sync = _outcome(lambda: sensor().execute(task_context(RecordingTI())))
    deferred = _outcome(lambda: _deferred(sensor(deferrable=True)))

    assert (sync, deferred) == (SONG_OUTCOMES[word],) * 2
