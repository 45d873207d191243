"""Audio bytes and checks that several modules of tests/sources/ share (their fixtures are in conftest.py)."""

from __future__ import annotations

import hashlib
import io
import wave
from importlib.metadata import version

import pytest

from airflow_provider_riffusion.sources.model import PreparedUpload
from airflow_provider_riffusion.testing import RiffusionEmulator

OBJECT_STORAGE_ON_AIRFLOW_2 = pytest.mark.skipif(
    int(version("apache-airflow").split(".")[0]) < 3,
    reason="object-storage sources are supported and tested on Airflow 3 (2.11's ObjectStoragePath differs)",
)


def wav_bytes() -> bytes:
    """A real (tiny) WAV file made with the standard library."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(8000)
        track.writeframes(bytes(range(256)) * 8)
    return buffer.getvalue()


WAV = wav_bytes()
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 4
M4A = b"\x00\x00\x00\x20ftypM4A " + bytes(range(256)) * 4
MP3_FRAME_SYNC = b"\xff\xfb\x90\x64" + bytes(range(256))

MP3_1MIB = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 4096
"""1 MiB and a bit: the uploads streamed from a remote, an object or a reader."""
M4A_16KIB = b"\x00\x00\x00\x20ftypM4A " + bytes(range(256)) * 64

KINDS = [
    pytest.param("mp3", MP3, "audio/mpeg", id="mp3"),
    pytest.param("m4a", M4A, "audio/mp4", id="m4a"),
    pytest.param("wav", WAV, "audio/wav", id="wav"),
]

ODD_NAME = "Beat & Bass #2 \u2013 Café déjà vu 音楽"
"""Spaces, an ampersand, a hash, non-ASCII: all legal in a track name and kept exactly."""


def read_all(upload: PreparedUpload) -> bytes:
    with upload.opener().stream as stream:
        return stream.read()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def posts(emulator: RiffusionEmulator) -> int:
    return sum(1 for r in emulator.requests if r["method"] == "POST" and "upload-audio" in r["path"])


def one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message
    return message
