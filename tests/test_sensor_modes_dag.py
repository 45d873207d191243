"""The sensor in poke and reschedule mode inside a real Airflow run (``airflow dags test``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.testing.dag_run import run_dag_test
from tests.support import TOKEN, connection_json, write_wav

pytestmark = pytest.mark.airflow_cli


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
