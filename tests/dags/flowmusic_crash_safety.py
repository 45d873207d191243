"""Crash safety on Flow Music, for real-Airflow runs (``airflow dags test``) whose ``riffusion_default`` connection
says ``service: flowmusic``.

- ``flowmusic_crash_durable``: upload, then compose (waiting for the songs), each with one retry; each task's
  first try fails after its upload or compose was made and stored (``post_execute``: the try dies before it
  ends, as a killed worker's would); the retry must reattach, not upload or compose again.
  ``flowmusic_crash_not_durable`` is the same DAG with ``durable=False``: each retry pays again.
- ``flowmusic_compose_timeout``: the compose's wait times out on try 1 (the job outlasts it); try 2 waits for the
  same job, which ends meanwhile.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import dag

from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator, UploadAudioOperator

RETRY = {"retries": 1, "retry_delay": timedelta(seconds=1)}
AUDIO = os.environ.get("RIFFUSION_TEST_AUDIO", "/missing.wav")


class TryDied(RuntimeError):
    """What ends a first try after its job was made and stored."""


def die_on_the_first_try(context: Any, result: Any = None) -> None:
    if context["ti"].try_number == 1:
        raise TryDied(f"{context['ti'].task_id}: the first try dies after it submitted (a lost worker)")


def crash_dag(dag_id: str, durable: bool) -> None:
    @dag(dag_id=dag_id, schedule=None, start_date=datetime(2025, 1, 1), catchup=False, default_args=RETRY)
    def flowmusic_crash() -> None:
        upload = UploadAudioOperator(
            task_id="upload",
            source=AUDIO,
            wait_for_completion=True,
            deferrable=False,
            durable=durable,
            post_execute=die_on_the_first_try,
        )
        CreateComposeOperator(
            task_id="compose",
            prompt_1="cinematic strings, slow build",
            audio_upload_id=upload.output["audio_upload_id"],
            wait_for_completion=True,
            deferrable=False,
            poll_interval=1,
            timeout=60,
            durable=durable,
            post_execute=die_on_the_first_try,
        )

    flowmusic_crash()


crash_dag("flowmusic_crash_durable", durable=True)
crash_dag("flowmusic_crash_not_durable", durable=False)


@dag(dag_id="flowmusic_compose_timeout", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def flowmusic_compose_timeout() -> None:
    CreateComposeOperator(
        task_id="compose",
        prompt_1="lo-fi piano",
        wait_for_completion=True,
        deferrable=False,
        poll_interval=1,
        timeout=int(os.environ.get("RIFFUSION_TEST_WAIT_TIMEOUT", "4")),
        **RETRY,
    )


flowmusic_compose_timeout()
