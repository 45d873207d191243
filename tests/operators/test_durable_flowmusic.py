"""Crash-safe submissions on Flow Music in real Airflow runs (``airflow dags test``, which runs retries), through
Airflow 3.3's task state store: a try that dies after its upload or compose was made, or whose wait times out, is
retried, and the retry reattaches instead of paying again. ``tests/operators/test_durable.py`` does the same on
Riffusion; the DAGs are ``tests/dags/flowmusic_crash_safety.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.testing.dag_run import DagTestRun, run_dag_test
from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_3_PLUS
from tests.support import TOKEN, connection_json, write_wav

DAGS = Path(__file__).parents[1] / "dags"
pytestmark = [
    pytest.mark.airflow_cli,
    pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="the task state store arrived in Airflow 3.3"),
]


def run(dag_id: str, emu: RiffusionEmulator, tmp_path: Path, **env: str) -> DagTestRun:
    return run_dag_test(
        dag_id,
        DAGS,
        airflow_home=tmp_path / "airflow",
        env={
            "AIRFLOW_CONN_RIFFUSION_DEFAULT": connection_json(emu.base_url, service="flowmusic"),
            "RIFFUSION_TEST_AUDIO": str(write_wav(tmp_path / "crash take.wav")),
            **env,
        },
    )


def paid(emu: RiffusionEmulator, path: str) -> int:
    """POSTs to a Flow Music path that the emulator took (2xx)."""
    return sum(
        1
        for r in emu.requests
        if r["method"] == "POST" and r["path"] == f"/v1/flowmusic/{path}" and 200 <= r["status"] < 300
    )


def tries(run: DagTestRun, task_id: str) -> int:
    [(number,)] = run.query(
        "SELECT try_number FROM task_instance WHERE dag_id = ? AND task_id = ?", run.dag_id, task_id
    )
    return int(number)


@pytest.mark.parametrize(("durable", "payments"), [(True, 1), (False, 2)], ids=["durable", "not-durable"])
def test_a_try_that_dies_after_submitting_is_retried_without_paying_again(
    tmp_path: Path, durable: bool, payments: int
) -> None:
    """Each task's first try dies after its upload or compose was made (and, durable, stored); the retry reattaches
    to it. Without durability each retry uploads and composes again: what the store saves."""
    dag_id = "flowmusic_crash_durable" if durable else "flowmusic_crash_not_durable"
    with RiffusionEmulator(token=TOKEN, service="flowmusic", song_polls=1) as emu:
        result = run(dag_id, emu, tmp_path)
        uploads, composes = paid(emu, "files"), paid(emu, "music")
        stored = emu.uploads

    assert result.succeeded, result.output[-4000:]
    assert (uploads, composes) == (payments, payments)
    assert tries(result, "upload") == tries(result, "compose") == 2
    log = result.log_text()
    assert "the first try dies after it submitted" in log
    upload, compose = result.xcom("upload"), result.xcom("compose")
    assert upload["job_id"] == stored[-1].job_id and upload["status"] == "complete"
    assert {song["status"] for song in compose["songs"]} == {"completed"} and len(compose["songs"]) == 2
    # The retry found the job in the task state store (ResumableJobMixin's words), or, not durable, never looked.
    assert log.count("Job already completed successfully, skipping resubmission") == (2 if durable else 0)


def test_a_compose_whose_wait_timed_out_is_retried_on_the_same_job(tmp_path: Path) -> None:
    """Try 1 polls the job for 4 s (at most 5 polls), and the job ends on its 7th: the timeout is retryable because
    the retry reattaches, and try 2 waits on for the same job."""
    with RiffusionEmulator(token=TOKEN, service="flowmusic", song_polls=6) as emu:
        result = run("flowmusic_compose_timeout", emu, tmp_path, RIFFUSION_TEST_WAIT_TIMEOUT="4")
        composes = paid(emu, "music")

    assert result.succeeded, result.output[-4000:]
    assert composes == 1
    assert tries(result, "compose") == 2
    log = " ".join(result.log_text().split())
    assert "A retry of the task waits for the same job again" in log
    assert "Reconnecting to existing job" in log
    assert {song["status"] for song in result.xcom("compose")["songs"]} == {"completed"}
