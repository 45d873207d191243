"""Two uploads, one watched by the sensor in poke mode, one in reschedule mode, for a real-Airflow run."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import dag

from airflow_provider_riffusion.operators.riffusion import UploadAudioOperator
from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor


@dag(dag_id="riffusion_sensor_modes", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def riffusion_sensor_modes() -> None:
    for mode in ("poke", "reschedule"):
        upload = UploadAudioOperator(task_id=f"upload_{mode}", source=os.environ["RIFFUSION_TEST_AUDIO"])
        UploadCompletedSensor(
            task_id=f"wait_{mode}", job_id=upload.output["job_id"], mode=mode, poke_interval=1, timeout=120
        )


riffusion_sensor_modes()
