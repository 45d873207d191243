"""Upload -> wait -> compose -> wait, waiting on the worker, with one retry: what a crashed or timed-out
try costs. ``riffusion_crash_durable`` reattaches on retry (the default); ``riffusion_crash_not_durable``
is the same DAG with ``durable=False``; ``riffusion_wait_timeout`` lets its upload's wait time out once."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import dag

from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator, UploadAudioOperator

RETRY = {"retries": 1, "retry_delay": timedelta(seconds=1)}


def crash_dag(dag_id: str, durable: bool) -> None:
    @dag(dag_id=dag_id, schedule=None, start_date=datetime(2025, 1, 1), catchup=False, default_args=RETRY)
    def riffusion_crash() -> None:
        upload = UploadAudioOperator(
            task_id="upload",
            source=os.environ.get("RIFFUSION_TEST_AUDIO", "/missing.wav"),
            wait_for_completion=True,
            deferrable=False,
            poll_interval=1,
            timeout=300,
            durable=durable,
        )
        CreateComposeOperator(
            task_id="compose",
            prompt_1="cinematic strings, slow build",
            audio_upload_id=upload.output["audio_upload_id"],
            title="Survivor",
            wait_for_completion=True,
            deferrable=False,
            poll_interval=1,
            timeout=300,
            durable=durable,
        )

    riffusion_crash()


crash_dag("riffusion_crash_durable", durable=True)
crash_dag("riffusion_crash_not_durable", durable=False)


@dag(dag_id="riffusion_wait_timeout", schedule=None, start_date=datetime(2025, 1, 1), catchup=False, default_args=RETRY)
def riffusion_wait_timeout() -> None:
    UploadAudioOperator(
        task_id="upload",
        source=os.environ.get("RIFFUSION_TEST_AUDIO", "/missing.wav"),
        wait_for_completion=True,
        deferrable=False,
        poll_interval=1,
        timeout=int(os.environ.get("RIFFUSION_TEST_WAIT_TIMEOUT", "4")),
    )


riffusion_wait_timeout()
