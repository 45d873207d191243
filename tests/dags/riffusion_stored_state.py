"""What a durable upload finds in the real task state store (Airflow 3.3+) before its first try, for a real-Airflow run.

``RIFFUSION_TEST_STORED`` says what the upload's ``pre_execute`` puts under the operator's key first:
``0.2.0`` uploads the track itself and stores it the way release 0.2.0 did (no format version), so the
operator must reattach to it, not upload again; any other value is JSON stored as it is (a value the
operator cannot read, which must fail the task without uploading).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import dag

from airflow_provider_riffusion.operators.riffusion import UploadAudioOperator

AUDIO = os.environ.get("RIFFUSION_TEST_AUDIO", "/missing.wav")
STORED = os.environ.get("RIFFUSION_TEST_STORED", "0.2.0")


def seed_the_store(context: Any) -> None:
    """Before the first try's execute: what an earlier release (or something else) left under the key."""
    if context["ti"].try_number != 1:
        return
    if STORED == "0.2.0":
        from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

        hook = RiffusionHook()
        try:
            upload = hook.upload_audio(AUDIO)
        finally:
            hook.close()
        value: Any = {"upload": upload, "user_id": None, "try_number": 1}
    else:
        value = json.loads(STORED)
    context["task_state_store"].set(UploadAudioOperator.external_id_key, value)


@dag(dag_id="riffusion_stored_state", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def riffusion_stored_state() -> None:
    UploadAudioOperator(
        task_id="upload",
        source=AUDIO,
        wait_for_completion=True,
        poll_interval=1,
        timeout=120,
        retries=1,
        retry_delay=timedelta(seconds=1),
        pre_execute=seed_the_store,
    )


riffusion_stored_state()
