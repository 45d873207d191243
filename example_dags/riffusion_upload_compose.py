"""Upload a track, wait until Riffusion has processed it, compose two songs from it, report them.

Connection: ``riffusion_default`` (type ``riffusion``; the API token as password). To try it
without the real service, start the bundled emulator and point the connection at it:

    python -m airflow_provider_riffusion.testing --port 8765 &
    export AIRFLOW_CONN_RIFFUSION_DEFAULT='{"conn_type": "riffusion", "password": "emulator-token",
        "host": "http://127.0.0.1:8765/v1/riffusion"}'

``RIFFUSION_EXAMPLE_POLL_SECONDS`` shortens the waits for demos (default 10 s).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator, UploadAudioOperator
from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor

POLL_SECONDS = float(os.environ.get("RIFFUSION_EXAMPLE_POLL_SECONDS", "10"))


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
        """Two seconds of a C major arpeggio as a WAV: a real track made with the standard library."""
        import math
        import struct
        import tempfile
        import wave
        from pathlib import Path

        path = Path(tempfile.mkdtemp(prefix="riffusion-demo-")) / "demo-arpeggio.wav"
        rate = 16_000
        notes = [261.63, 329.63, 392.00, 523.25]
        with wave.open(str(path), "wb") as track:
            track.setnchannels(1)
            track.setsampwidth(2)
            track.setframerate(rate)
            frames = bytearray()
            for i in range(rate * 2):
                freq = notes[(i * len(notes)) // (rate * 2)]
                frames += struct.pack("<h", int(12_000 * math.sin(2 * math.pi * freq * i / rate)))
            track.writeframes(bytes(frames))
        return str(path)

    upload = UploadAudioOperator(task_id="upload_track", source=make_demo_track())

    processed = UploadCompletedSensor(
        task_id="wait_for_upload",
        job_id=upload.output["job_id"],
        poke_interval=POLL_SECONDS,
        timeout=15 * 60,
    )

    compose = CreateComposeOperator(
        task_id="compose",
        prompt_1="dreamy lo-fi hip hop, warm vinyl crackle, soft piano",
        prompt_1_strength=60,
        lyrics=processed.output["lyrics"],
        title="Arpeggio Dreams",
        audio_upload_id=processed.output["audio_upload_id"],
        wait_for_completion=True,
        poll_interval=POLL_SECONDS,
        timeout=30 * 60,
    )

    @task
    def report(upload_result: dict[str, Any], status: dict[str, Any], composed: dict[str, Any]) -> dict[str, Any]:
        """Log what a person wants to see: the upload, its lyrics, and where to get the songs."""
        print(f"RIFFUSION upload job_id: {upload_result['job_id']}")
        print(f"RIFFUSION transcribed lyrics: {status['lyrics']!r}")
        for song in composed["songs"]:
            print(f"RIFFUSION song {song['title']!r} [{song['status']}]: {song['download_url']}")
        return {"job_id": upload_result["job_id"], "songs": len(composed["songs"])}

    report(upload.output, processed.output, compose.output)


riffusion_upload_compose()
