"""Upload every track under a folder or object-storage prefix, wait for each, compose from each.

Dynamic task mapping: one ``upload``, ``wait_for_upload`` and ``compose`` task instance per
track. ``upload`` is ``UploadAudioOperator.partial(...).expand(source=...)``; the sensor expands
over the uploads' ``job_id`` and compose over the processed tracks' ``audio_upload_id``, each
taken from the mapped task's return value with ``.map()`` (Airflow maps over return values only).

Param ``folder``: a local folder, a ``file://`` URI, or an object-storage prefix read through
Airflow's object storage, e.g. ``s3://aws_default@my-bucket/tracks/`` (the user part names the
connection; needs ``apache-airflow-providers-amazon``). Left empty (the default, or
``RIFFUSION_EXAMPLE_FOLDER``), a first task writes three demo WAVs to a temporary folder. Every
``.mp3``, ``.m4a`` and ``.wav`` below it is uploaded; other files are ignored.

Connection: ``riffusion_default``, as in ``riffusion_upload_compose.py`` (the bundled emulator
stands in for the service). ``RIFFUSION_EXAMPLE_POLL_SECONDS`` shortens the waits (default 10 s).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator, UploadAudioOperator
from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor

POLL_SECONDS = float(os.environ.get("RIFFUSION_EXAMPLE_POLL_SECONDS", "10"))
AUDIO_SUFFIXES = (".mp3", ".m4a", ".wav")


def job_id_of(upload: dict[str, Any]) -> str:
    return str(upload["job_id"])


def audio_upload_id_of(status: dict[str, Any]) -> str:
    return str(status["audio_upload_id"])


@dag(
    dag_id="riffusion_upload_folder",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={
        "folder": Param(
            os.environ.get("RIFFUSION_EXAMPLE_FOLDER", ""),
            type="string",
            description="A folder, file:// URI or object-storage prefix (s3://conn_id@bucket/prefix/); "
            "empty: generated demo tracks.",
        )
    },
    tags=["riffusion", "example"],
)
def riffusion_upload_folder() -> None:
    @task
    def tracks_folder(params: dict[str, Any] | None = None) -> str:
        """The folder to upload: the param's, or a temporary one with three generated demo tones."""
        import math
        import struct
        import tempfile
        import wave
        from pathlib import Path

        folder = str((params or {}).get("folder") or "").strip()
        if folder:
            return folder
        demo = Path(tempfile.mkdtemp(prefix="riffusion-folder-demo-"))
        rate = 16_000
        for name, freq in (("demo-a440", 440.0), ("demo-c523", 523.25), ("demo-e659", 659.25)):
            with wave.open(str(demo / f"{name}.wav"), "wb") as track:
                track.setnchannels(1)
                track.setsampwidth(2)
                track.setframerate(rate)
                samples = (int(9_000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(rate))
                track.writeframes(b"".join(struct.pack("<h", sample) for sample in samples))
        return str(demo)

    @task
    def list_tracks(folder: str) -> list[str]:
        """Every audio file under the folder or prefix, as a source the upload operator takes."""
        from pathlib import Path

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        root = ObjectStoragePath(folder if "://" in folder else f"file://{Path(folder).expanduser().resolve()}")
        found = sorted(
            (path for path in root.rglob("*") if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file()),
            key=str,
        )
        # Local files as plain paths; object storage as URIs (str() keeps the conn_id as the user part).
        sources = [path.path if path.protocol in ("", "file", "local") else str(path) for path in found]
        print(f"RIFFUSION found {len(sources)} track(s) under {folder}")
        return sources

    upload = UploadAudioOperator.partial(task_id="upload").expand(source=list_tracks(tracks_folder()))

    processed = UploadCompletedSensor.partial(
        task_id="wait_for_upload", poke_interval=POLL_SECONDS, timeout=15 * 60
    ).expand(job_id=upload.output.map(job_id_of))

    compose = CreateComposeOperator.partial(
        task_id="compose",
        prompt_1="warm analog synths, slow build, cinematic",
        title="Folder remix {{ ti.map_index + 1 }}",
        wait_for_completion=True,
        poll_interval=POLL_SECONDS,
        timeout=30 * 60,
    ).expand(audio_upload_id=processed.output.map(audio_upload_id_of))

    @task
    def report(uploads: list[dict[str, Any]], composed: list[dict[str, Any]]) -> dict[str, int]:
        """One line per track and per song; the counts for whoever reads the XCom."""
        uploads, composed = list(uploads), list(composed)
        for upload_result in uploads:
            print(f"RIFFUSION uploaded {upload_result['file_name']!r}: job_id {upload_result['job_id']}")
        for result in composed:
            for song in result["songs"]:
                print(f"RIFFUSION song {song['title']!r} [{song['status']}]: {song['download_url']}")
        return {"tracks": len(uploads), "songs": sum(len(result["songs"]) for result in composed)}

    report(upload.output, compose.output)


riffusion_upload_folder()
