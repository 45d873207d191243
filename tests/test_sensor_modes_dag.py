"""The sensor in poke and reschedule mode inside a real Airflow run (``airflow dags test``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.testing.dag_run import run_dag_test
from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_3_PLUS
from tests.support import FAST_RETRIES, TOKEN, connection_json, write_wav

pytestmark = pytest.mark.airflow_cli


@pytest.mark.xfail(
    AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS,
    reason="apache/airflow#58777: Airflow 3.0's `dags test` (only) hands a reschedule-mode sensor its first "
    "reschedule date as a string, so any sensor's second poke there fails",
    strict=True,
)
def test_poke_and_reschedule_modes_wait_for_the_upload(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "modes.wav")
    with RiffusionEmulator(token=TOKEN, pending_polls=2) as emu:
        run = run_dag_test(
            "riffusion_sensor_modes",
            Path(__file__).parent / "dags",
            airflow_home=tmp_path / "airflow",
            env={"AIRFLOW_CONN_RIFFUSION_DEFAULT": connection_json(emu.base_url), "RIFFUSION_TEST_AUDIO": str(audio)},
        )
        status_polls = sum(1 for r in emu.requests if r["method"] == "GET" and "upload-audio" in r["path"])

    assert run.succeeded, run.output[-4000:]
    for mode in ("poke", "reschedule"):
        result = run.xcom(f"wait_{mode}")
        assert result["status"] == "complete"
        assert result["job_id"] == run.xcom(f"upload_{mode}")["job_id"]
    [(reschedules,)] = run.query("SELECT COUNT(*) FROM task_reschedule")
    assert reschedules >= 1, "the reschedule-mode sensor never gave its slot back"
    # Each upload answers pending twice: each sensor polled at least three times.
    assert status_polls >= 6
    # A status is logged when it changes. In reschedule mode each poke is a new run of the task: Airflow 3.3+
    # keeps the status last logged in the task state store; older Airflow has nowhere to, so each poke logs it.
    for mode, pending_logs in (("poke", 1), ("reschedule", 1 if AIRFLOW_V_3_3_PLUS else 2)):
        line = f"Upload {run.xcom(f'upload_{mode}')['job_id']}: status 'pending'"
        assert log_records(run.output, line) == pending_logs, (mode, run.output[-4000:])


def log_records(output: str, message: str) -> int:
    """How many log records say ``message``: told apart by their time (Airflow 2's ``dags test`` prints each
    record twice, in two time formats)."""
    return len(set(re.findall(rf"(\d\d:\d\d:\d\d)[.,](\d{{3}}).*{re.escape(message)}", output)))


def test_a_permanent_5xx_ends_a_rescheduled_wait_after_its_error_limit(tmp_path: Path) -> None:
    """The count of failed polls in a row outlives each reschedule (the task state store, Airflow 3.3+);
    before 3.3 there is nowhere to keep it, so the first poke that fails (after the hook's own retries)
    fails the task. Either way the wait ends in seconds, not at its 15-minute timeout."""
    from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_3_PLUS

    limit = 2 if AIRFLOW_V_3_3_PLUS else None
    audio = write_wav(tmp_path / "errors.wav")
    with RiffusionEmulator(token=TOKEN) as emu:
        emu.inject(Fault(method="GET", path="music/upload-audio", status=500, times=1000))
        env = {"AIRFLOW_CONN_RIFFUSION_DEFAULT": connection_json(emu.base_url), "RIFFUSION_TEST_AUDIO": str(audio)}
        if limit is not None:
            env["RIFFUSION_TEST_ERROR_LIMIT"] = str(limit)
        run = run_dag_test(
            "riffusion_reschedule_errors", Path(__file__).parent / "dags", airflow_home=tmp_path / "a", env=env
        )
        status_requests = sum(1 for r in emu.requests if r["method"] == "GET" and "upload-audio" in r["path"])

    assert run.task_states()["wait"] == "failed", run.output[-4000:]
    failed_pokes = (limit or 0) + 1
    assert status_requests == failed_pokes * FAST_RETRIES["max_attempts"]
    [(reschedules,)] = run.query("SELECT COUNT(*) FROM task_reschedule")
    assert reschedules == failed_pokes - 1  # every poke but the last gave its slot back
    assert "RiffusionServerError" in run.log_text()


def test_max_consecutive_errors_is_refused_in_reschedule_mode_where_it_cannot_be_kept() -> None:
    from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor
    from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_3_PLUS

    def sensor() -> UploadCompletedSensor:
        return UploadCompletedSensor(task_id="wait", job_id="j", mode="reschedule", max_consecutive_errors=5)

    if AIRFLOW_V_3_3_PLUS:
        assert sensor().max_consecutive_errors == 5
    else:
        with pytest.raises(ValueError, match=r"cannot be kept across reschedules before Airflow 3\.3"):
            sensor()
    default = UploadCompletedSensor(task_id="w", job_id="j", mode="reschedule")
    assert default.max_consecutive_errors == (3 if AIRFLOW_V_3_3_PLUS else 0)
