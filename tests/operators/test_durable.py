"""Crash-safe submissions in real Airflow runs (``airflow dags test``, which runs retries): a retry reattaches
to what an earlier try uploaded or composed, unless the input changed; on Airflow before 3.3 (no task
state store), the wait in a task of its own is what keeps a retry from paying again.

The kill tests (a worker's process lost mid-wait, a deferred task cleared) run in the real multi-process
Airflow of ``tests/test_airflow_cluster.py``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.testing.dag_run import DagTestRun, run_dag_test
from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger, UploadCompletedTrigger
from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_3_PLUS
from tests.support import TOKEN, connection_json, write_wav

DAGS = Path(__file__).parents[1] / "dags"
NEEDS_STATE_STORE = pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="the task state store arrived in Airflow 3.3")


def run(dag_id: str, emu: RiffusionEmulator, tmp_path: Path, audio: Path, **env: str) -> DagTestRun:
    return run_dag_test(
        dag_id,
        DAGS,
        airflow_home=tmp_path / "airflow",
        env={
            "AIRFLOW_CONN_RIFFUSION_DEFAULT": connection_json(emu.base_url),
            "RIFFUSION_TEST_AUDIO": str(audio),
            **env,
        },
    )


def posts(emu: RiffusionEmulator, path: str) -> int:
    return sum(1 for r in emu.requests if r["method"] == "POST" and path in r["path"] and r["status"] == 200)


def tries(run: DagTestRun, task_id: str) -> int:
    [(number,)] = run.query(
        "SELECT try_number FROM task_instance WHERE dag_id = ? AND task_id = ?", run.dag_id, task_id
    )
    return int(number)


@pytest.mark.airflow_cli
def test_a_timed_out_wait_is_retried_on_the_same_upload_or_fails_without_a_retry(tmp_path: Path) -> None:
    """Airflow 3.3+: the timeout is retryable, because the retry reattaches. Before 3.3 a retry would upload
    again, so the timeout fails the task without using its retries."""
    audio = write_wav(tmp_path / "slow.wav")
    with RiffusionEmulator(token=TOKEN, pending_polls=1, pending_seconds=6) as emu:
        result = run("riffusion_wait_timeout", emu, tmp_path, audio, RIFFUSION_TEST_WAIT_TIMEOUT="3")
        uploads = posts(emu, "upload-audio")

    assert uploads == 1
    log = " ".join(result.log_text().split())  # Airflow 3.0 wraps an exception's message at 80 columns
    assert "did not finish before the wait's timeout" in log
    if AIRFLOW_V_3_3_PLUS:
        assert result.succeeded, result.output[-4000:]
        assert tries(result, "upload") == 2
        assert "A retry of the task waits for the same job again" in log
        assert result.xcom("upload")["status"] == "complete"
    else:
        assert result.task_states()["upload"] == "failed"
        assert tries(result, "upload") == 1
        assert "A retry would submit the job again, so none is made" in log


@NEEDS_STATE_STORE
@pytest.mark.airflow_cli
def test_a_retry_whose_source_changed_uploads_the_new_track(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "take.wav")
    with RiffusionEmulator(token=TOKEN, pending_polls=1, pending_seconds=3600) as emu:
        result = run("riffusion_input_changes", emu, tmp_path, audio)
        uploads = emu.uploads

    assert [record.file_name for record in uploads] == ["take", "take"]
    assert uploads[0].sha256 != uploads[1].sha256 and uploads[1].bytes == audio.stat().st_size
    assert "Not reattaching to upload" in result.log_text() and "the sha256 and size changed" in result.log_text()


@NEEDS_STATE_STORE
@pytest.mark.airflow_cli
def test_a_retry_whose_compose_request_changed_composes_anew(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "unused.wav")
    with RiffusionEmulator(token=TOKEN, song_polls=10**6) as emu:
        result = run("riffusion_compose_changes", emu, tmp_path, audio)
        composes = posts(emu, "create-compose")

    assert composes == 2
    assert "Not reattaching to compose jobs" in result.log_text() and "the request changed" in result.log_text()


@NEEDS_STATE_STORE
@pytest.mark.airflow_cli
def test_an_upload_stored_by_release_0_2_0_is_reattached_not_uploaded_again(tmp_path: Path) -> None:
    """Release 0.2.0 stored the upload without a format version: read through the real task state store as
    version 1, the try reattaches to it (the DAG's pre_execute made the only upload)."""
    audio = write_wav(tmp_path / "legacy.wav")
    with RiffusionEmulator(token=TOKEN, pending_polls=1) as emu:
        result = run("riffusion_stored_state", emu, tmp_path, audio, RIFFUSION_TEST_STORED="0.2.0")
        uploads = emu.uploads

    assert result.succeeded, result.output[-4000:]
    assert len(uploads) == 1
    assert result.xcom("upload")["job_id"] == uploads[0].job_id and result.xcom("upload")["status"] == "complete"
    assert tries(result, "upload") == 1


@NEEDS_STATE_STORE
@pytest.mark.airflow_cli
@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("{}", "its 'upload' is missing, not an object"),  # falsy: the mixin alone would upload again over it
        ('{"version": 99, "upload": {}}', "it is format version 99, written by a newer release of the provider"),
    ],
)
def test_an_unreadable_stored_upload_fails_the_task_without_uploading(
    tmp_path: Path, stored: str, problem: str
) -> None:
    audio = write_wav(tmp_path / "unread.wav")
    with RiffusionEmulator(token=TOKEN) as emu:
        result = run("riffusion_stored_state", emu, tmp_path, audio, RIFFUSION_TEST_STORED=stored)
        uploads = posts(emu, "upload-audio")

    assert result.task_states()["upload"] == "failed"
    assert uploads == 0
    assert tries(result, "upload") == 1  # fatal: the task's retry is not used
    log = " ".join(result.log_text().split())
    assert "RiffusionStateError" in log
    named = (
        "Task upload of DAG riffusion_stored_state cannot read what its task state store holds under 'riffusion_upload'"
    )
    assert f"{named}: {problem}" in log
    assert "/taskInstances/upload/state-store/riffusion_upload" in log and "set durable=False" in log


@pytest.mark.airflow_cli
def test_a_wait_in_its_own_task_is_retried_without_a_second_upload(tmp_path: Path) -> None:
    """Every Airflow version: the sensor's first try fails (the status endpoint answers 500 past the hook's
    retries and the blip limit); its retry waits on the same job_id, read from the upload task's XCom."""
    audio = write_wav(tmp_path / "apart.wav")
    with RiffusionEmulator(token=TOKEN, pending_polls=1) as emu:
        emu.inject(Fault(method="GET", path="music/upload-audio", status=500, times=12))
        result = run("riffusion_wait_apart", emu, tmp_path, audio)
        uploads = posts(emu, "upload-audio")

    assert result.succeeded, result.output[-4000:]
    assert uploads == 1
    assert tries(result, "wait") == 2 and tries(result, "upload") == 1
    assert result.xcom("wait")["job_id"] == result.xcom("upload")["job_id"]


# -- a deferred wait stopped by a user (Airflow 3.3+ calls the trigger's on_kill) ----------------

USER_ACTION = "__airflow_user_action__"
"""What the triggerer's cancel says when the user cleared or marked the task (``cancel_triggers``)."""


@pytest.mark.parametrize("kind", ["upload", "songs"])
def test_a_trigger_stopped_by_a_user_stops_polling_and_names_what_it_abandons(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with RiffusionEmulator(token=TOKEN, pending_polls=10**6, song_polls=10**6) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url))
        hook = RiffusionHook()
        job_id = hook.upload_audio(write_wav(tmp_path / "held.wav"))["job_id"]  # pending for good
        hook.close()
        since = len(emu.requests)
        trigger: Any = (
            UploadCompletedTrigger(job_id=job_id, poll_interval=0.05)
            if kind == "upload"
            else SongsCompletedTrigger(job_ids=["job-1", "job-2"], poll_interval=0.05)
        )

        async def run_then_stop() -> int:
            task = asyncio.ensure_future(trigger.run().__anext__())
            deadline = time.monotonic() + 10
            while len(emu.requests) < since + 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            task.cancel(USER_ACTION)  # what the triggerer does, then it awaits on_kill()
            with pytest.raises(asyncio.CancelledError):
                await task
            await trigger.on_kill()
            stopped_at = len(emu.requests)
            await asyncio.sleep(0.3)  # six poll intervals
            return stopped_at

        stopped_at = asyncio.run(run_then_stop())
        assert len(emu.requests) == stopped_at  # no poll after the cancel
    logged = capsys.readouterr().out
    abandoned = f"upload {job_id}" if kind == "upload" else "compose jobs ['job-1', 'job-2']"
    assert f"Stopped waiting for {abandoned}" in logged
    assert "The job goes on upstream" in logged
