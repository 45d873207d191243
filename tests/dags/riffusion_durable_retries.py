"""Retries that change, or avoid, what a task submits, for real-Airflow runs (``airflow dags test``).

- ``riffusion_input_changes``: the upload's wait times out on try 1 and its source is rewritten before
  try 2, so try 2 must upload the new track rather than reattach to the old one.
- ``riffusion_compose_changes``: the compose request's title depends on the try, so try 2 composes anew.
- ``riffusion_wait_apart``: the upload in its own task, the wait in a sensor task of its own, whose first
  try fails: what keeps a retry from uploading again on every Airflow version.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import dag

from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator, UploadAudioOperator
from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor

RETRY = {"retries": 1, "retry_delay": timedelta(seconds=1)}
AUDIO = os.environ.get("RIFFUSION_TEST_AUDIO", "/missing.wav")


def rewrite_the_track(context: Any) -> None:
    """Between the tries: the same file name, other bytes (a longer recording)."""
    path = Path(AUDIO)
    path.write_bytes(path.read_bytes() + b"\x00\x01" * 512)


@dag(dag_id="riffusion_input_changes", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def riffusion_input_changes() -> None:
    UploadAudioOperator(
        task_id="upload",
        source=AUDIO,
        wait_for_completion=True,
        poll_interval=1,
        timeout=3,
        on_retry_callback=rewrite_the_track,
        **RETRY,
    )


@dag(dag_id="riffusion_compose_changes", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def riffusion_compose_changes() -> None:
    CreateComposeOperator(
        task_id="compose",
        prompt_1="lo-fi piano",
        title="Take {{ ti.try_number }}",
        wait_for_completion=True,
        poll_interval=1,
        timeout=3,
        **RETRY,
    )


@dag(dag_id="riffusion_wait_apart", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def riffusion_wait_apart() -> None:
    upload = UploadAudioOperator(task_id="upload", source=AUDIO, **RETRY)
    UploadCompletedSensor(task_id="wait", job_id=upload.output["job_id"], poke_interval=1, timeout=120, **RETRY)


riffusion_input_changes()
riffusion_compose_changes()
riffusion_wait_apart()
