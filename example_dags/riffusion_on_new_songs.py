"""Runs whenever ``riffusion_upload_compose`` stores songs: one asset event per song, through the
``riffusion-songs`` alias, each with the song's id, title, job id, format, size and sha256.

It checks every file it is told about (the bytes on disk or in the object store must be the ones the
event names) and returns what arrived; a real pipeline would publish, tag or transcode them here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import AssetAlias, dag, task

NEW_SONGS = AssetAlias("riffusion-songs")


@dag(
    dag_id="riffusion_on_new_songs",
    schedule=[NEW_SONGS],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["riffusion", "example"],
)
def riffusion_on_new_songs() -> None:
    @task
    def check_new_songs(**context: Any) -> list[dict[str, Any]]:
        """Every song of the triggering events, its file read back and its sha256 compared."""
        import hashlib
        from pathlib import Path
        from urllib.parse import unquote, urlsplit

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        # Airflow 3: events by asset and by alias; Airflow 2.11: by dataset URI.
        triggering = context.get("triggering_asset_events") or context.get("triggering_dataset_events") or {}
        events = triggering[NEW_SONGS] if NEW_SONGS in triggering else [e for v in triggering.values() for e in v]
        arrived = []
        for event in events:
            uri = getattr(getattr(event, "asset", None), "uri", None) or event.uri
            local = uri.startswith("file://")
            data = Path(unquote(urlsplit(uri).path)).read_bytes() if local else ObjectStoragePath(uri).read_bytes()
            if hashlib.sha256(data).hexdigest() != event.extra["sha256"]:
                raise ValueError(f"{uri} is not the file its event names (sha256 differs)")
            print(f"RIFFUSION new song {event.extra['title']!r} ({event.extra['song_id']}): {uri}")
            arrived.append({"uri": uri, **event.extra})
        return arrived

    check_new_songs()


riffusion_on_new_songs()
