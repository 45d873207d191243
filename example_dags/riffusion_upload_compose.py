"""Upload a track, wait until the service has processed it, write lyrics from its words, compose two songs
from it, store the songs in a folder (one asset event per song: ``riffusion_on_new_songs`` follows),
and report them.

Connection: ``riffusion_default`` (type ``riffusion``; the API token as password; extra ``service``
``riffusion`` or ``flowmusic``). The DAG is the same on both services: it uses only the parameters
both have. To try it without the real service, start the bundled emulator and point the connection
at it:

    python -m airflow_provider_riffusion.testing --port 8765 --service flowmusic &
    export AIRFLOW_CONN_RIFFUSION_DEFAULT='{"conn_type": "riffusion", "password": "emulator-token",
        "host": "http://127.0.0.1:8765/v1/flowmusic", "extra": {"service": "flowmusic"}}'

``RIFFUSION_EXAMPLE_POLL_SECONDS`` shortens the waits for demos (default 10 s).
``RIFFUSION_EXAMPLE_TRACKS`` is where the demo track is written: an object-storage folder, for workers
that share no disk (default: the temporary directory). ``RIFFUSION_EXAMPLE_SONGS`` is where the songs
are stored: a folder or an object-storage URI such as ``s3://bucket/songs/`` (default
``riffusion-songs`` in the temporary directory).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import AssetAlias, dag, task

from airflow_provider_riffusion.operators.riffusion import (
    CreateComposeOperator,
    DownloadSongsOperator,
    GenerateLyricsOperator,
    UploadAudioOperator,
)
from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor

POLL_SECONDS = float(os.environ.get("RIFFUSION_EXAMPLE_POLL_SECONDS", "10"))
SONGS = os.environ.get("RIFFUSION_EXAMPLE_SONGS", os.path.join(tempfile.gettempdir(), "riffusion-songs"))
TRACKS = os.environ.get("RIFFUSION_EXAMPLE_TRACKS", "")
NEW_SONGS = AssetAlias("riffusion-songs")
"""Each stored song is an asset event through this alias; ``riffusion_on_new_songs`` is scheduled on it."""


def arpeggio_wav() -> bytes:
    """A real track made with the standard library: two seconds of a C major arpeggio."""
    import io
    import math
    import struct
    import wave

    rate = 16_000
    notes = [261.63, 329.63, 392.00, 523.25]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(rate)
        frames = bytearray()
        for i in range(rate * 2):
            freq = notes[(i * len(notes)) // (rate * 2)]
            frames += struct.pack("<h", int(12_000 * math.sin(2 * math.pi * freq * i / rate)))
        track.writeframes(bytes(frames))
    return buffer.getvalue()


@dag(
    dag_id="riffusion_upload_compose",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["riffusion", "example"],
)
def riffusion_upload_compose() -> None:
    @task
    def make_demo_track() -> str:
        """The demo track, always the same bytes at the same place: in ``RIFFUSION_EXAMPLE_TRACKS`` (object
        storage every worker reaches), else the temp dir (written whole, then moved into place)."""
        from pathlib import Path

        if TRACKS:
            from airflow.providers.common.compat.sdk import ObjectStoragePath

            target = ObjectStoragePath(TRACKS.rstrip("/") + "/demo-arpeggio.wav")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(arpeggio_wav())
            return str(target)
        path = Path(tempfile.gettempdir()) / "riffusion-example" / "demo-arpeggio.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_bytes(arpeggio_wav())
        partial.replace(path)
        return str(path)

    upload = UploadAudioOperator(task_id="upload_track", source=make_demo_track())

    processed = UploadCompletedSensor(
        task_id="wait_for_upload",
        job_id=upload.output["job_id"],
        poke_interval=POLL_SECONDS,
        timeout=15 * 60,
    )

    lyrics = GenerateLyricsOperator(
        task_id="write_lyrics",
        prompt="a slow morning, coffee and rain on the window",
        lyrics=processed.output["lyrics"],
    )

    compose = CreateComposeOperator(
        task_id="compose",
        prompt_1="dreamy lo-fi hip hop, warm vinyl crackle, soft piano",
        lyrics=lyrics.output["lyrics"],
        audio_upload_id=processed.output["audio_upload_id"],
        wait_for_completion=True,
        poll_interval=POLL_SECONDS,
        timeout=30 * 60,
    )

    stored = DownloadSongsOperator(
        task_id="store_songs",
        songs=compose.output,
        destination=SONGS,
        outlets=[NEW_SONGS],
    )

    @task
    def report(
        upload_result: dict[str, Any], status: dict[str, Any], composed: dict[str, Any], files: dict[str, Any]
    ) -> dict[str, Any]:
        """Log what a person wants to see: the upload, its lyrics, the songs and where they landed."""
        print(f"RIFFUSION upload job_id: {upload_result['job_id']}")
        print(f"RIFFUSION transcribed lyrics: {status['lyrics']!r}")
        for song in composed["songs"]:
            print(f"RIFFUSION song {song['title']!r} [{song['status']}]: {song['download_url']}")
        for file in files["files"]:
            print(f"RIFFUSION stored {file['path']} ({file['bytes']} bytes, sha256 {file['sha256']})")
        return {"job_id": upload_result["job_id"], "songs": len(composed["songs"]), "files": len(files["files"])}

    report(upload.output, processed.output, compose.output, stored.output)


riffusion_upload_compose()
