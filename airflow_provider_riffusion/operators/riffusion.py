"""The provider's operators, under the import path Airflow users expect (``operators/riffusion.py``).

Each lives in a module of its own; this one gathers them. Imported at every DAG parse, so it
imports nothing heavy: the hook, HTTP clients and triggers load when a task runs.
"""

from __future__ import annotations

from airflow_provider_riffusion.operators._songs import SONG_URL_XCOM_KEY, RiffusionSongsLink
from airflow_provider_riffusion.operators.create_compose import CreateComposeOperator
from airflow_provider_riffusion.operators.create_prompt import CreatePromptOperator
from airflow_provider_riffusion.operators.download_songs import DownloadSongsOperator
from airflow_provider_riffusion.operators.generate_lyrics import GenerateLyricsOperator
from airflow_provider_riffusion.operators.upload_audio import UploadAudioOperator

__all__ = [
    "SONG_URL_XCOM_KEY",
    "CreateComposeOperator",
    "CreatePromptOperator",
    "DownloadSongsOperator",
    "GenerateLyricsOperator",
    "RiffusionSongsLink",
    "UploadAudioOperator",
]
