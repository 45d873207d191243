"""The provider's operators, under the import path Airflow users expect (``operators/riffusion.py``).

Each lives in a module of its own; this one gathers them. Imported at every DAG parse, so it
imports nothing heavy: the hook, HTTP clients and triggers load when a task runs.
"""

from __future__ import annotations

from airflow_provider_riffusion.operators.create_compose import (
    SONG_URL_XCOM_KEY,
    CreateComposeOperator,
    RiffusionSongsLink,
)
from airflow_provider_riffusion.operators.upload_audio import UploadAudioOperator

__all__ = ["SONG_URL_XCOM_KEY", "CreateComposeOperator", "RiffusionSongsLink", "UploadAudioOperator"]
