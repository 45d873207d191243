"""Independent tasks, each ending in a different failure kind, for the secrets test (tests/test_secrets.py).

Each failing task uses its own connection, pointing at its own emulator (or carrying a wrong
token), so no task's failure depends on the order ``airflow dags test`` runs them in:

- ``auth_401``: ``riffusion_wrong_token`` (a wrong token: the emulator answers 401)
- ``account_596``: ``riffusion_account_error`` (an emulator with ``account_error``)
- ``busy_429``: ``riffusion_busy`` (every compose answers 429; the body echoes the token)
- ``upload_failed``: ``riffusion_failing_uploads`` (uploads end ``failed``; waits in the triggerer)
- ``moderated_422``: ``riffusion_default`` (the emulator moderates prompts with "forbidden")

``upload_ok`` succeeds, so XComs and rendered fields of a successful task are scanned as well.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import dag

from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator, UploadAudioOperator


@dag(
    dag_id="riffusion_secret_failures",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    default_args={"retries": 0},
    params={"audio": os.environ.get("RIFFUSION_TEST_AUDIO", "/nonexistent.wav")},
)
def riffusion_secret_failures() -> None:
    UploadAudioOperator(
        task_id="upload_ok",
        source="{{ params.audio }}",
        file_name="secret test {{ ds }}",
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.2,
    )
    UploadAudioOperator(task_id="auth_401", source="{{ params.audio }}", riffusion_conn_id="riffusion_wrong_token")
    CreateComposeOperator(
        task_id="account_596", prompt_1="ambient {{ ds }}", riffusion_conn_id="riffusion_account_error"
    )
    CreateComposeOperator(task_id="busy_429", prompt_1="ambient {{ ds }}", riffusion_conn_id="riffusion_busy")
    UploadAudioOperator(
        task_id="upload_failed",
        source="{{ params.audio }}",
        riffusion_conn_id="riffusion_failing_uploads",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.2,
        timeout=120,
    )
    CreateComposeOperator(task_id="moderated_422", prompt_1="forbidden noise", title="Secret test {{ run_id }}")


riffusion_secret_failures()
