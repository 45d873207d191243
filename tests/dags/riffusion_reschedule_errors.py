"""A reschedule-mode sensor against a status endpoint that always fails, for a real-Airflow run."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import dag

from airflow_provider_riffusion.operators.riffusion import UploadAudioOperator
from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor


@dag(dag_id="riffusion_reschedule_errors", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def riffusion_reschedule_errors() -> None:
    upload = UploadAudioOperator(task_id="upload", source=os.environ["RIFFUSION_TEST_AUDIO"])
    limit = os.environ.get("RIFFUSION_TEST_ERROR_LIMIT")
    UploadCompletedSensor(
        task_id="wait",
        job_id=upload.output["job_id"],
        mode="reschedule",
        poke_interval=1,
        timeout=900,
        **({"max_consecutive_errors": int(limit)} if limit else {}),
    )


riffusion_reschedule_errors()
