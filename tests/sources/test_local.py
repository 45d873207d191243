"""Sources on the worker (``sources/local.py``): paths, file:// URIs, bytes, file objects, and what is refused."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.sources import prepare_source as prepare_upload
from airflow_provider_riffusion.sources.model import hashing_reader
from airflow_provider_riffusion.testing import RiffusionEmulator
from tests.sources._support import KINDS, MP3, ODD_NAME, WAV, read_all, sha256
from tests.support import refused

# --- local paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["str", "path", "file_uri"])
@pytest.mark.parametrize(("suffix", "data", "content_type"), KINDS)
def test_local_file_forms(write, form: str, suffix: str, data: bytes, content_type: str) -> None:
    path = write(f"take one.{suffix}", data)
    source = {"str": str(path), "path": path, "file_uri": path.as_uri()}[form]

    upload = prepare_upload(source)

    assert upload.file_name == "take one"
    assert upload.content_type == content_type
    assert upload.size == len(data)
    # Every open starts from the first byte: a retry re-sends the whole body.
    assert read_all(upload) == data
    assert read_all(upload) == data


def test_file_uri_with_escaped_special_characters_keeps_the_name(write) -> None:
    path = write(f"{ODD_NAME}.wav", WAV)
    uri = path.as_uri()
    assert "%23" in uri  # '#' is escaped, or it would start a fragment

    upload = prepare_upload(uri)

    assert upload.file_name == ODD_NAME
    assert read_all(upload) == WAV


# --- bytes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"])
def test_bytes_source(wrap) -> None:
    upload = prepare_upload(wrap(WAV), file_name="in memory.wav")

    assert upload.file_name == "in memory"
    assert upload.content_type == "audio/wav"
    assert upload.size == len(WAV)
    assert read_all(upload) == WAV
    assert read_all(upload) == WAV


def test_bytes_without_file_name_refused() -> None:
    with refused("file_name"):
        prepare_upload(MP3)


# --- file objects --------------------------------------------------------------------------


def test_seekable_file_object_reopens_at_its_original_position() -> None:
    prefix = b"caller's own header, not part of the upload"
    stream = io.BytesIO(prefix + MP3)
    stream.seek(len(prefix))

    upload = prepare_upload(stream, file_name="clip.mp3")

    assert upload.file_name == "clip"
    assert upload.content_type == "audio/mpeg"
    assert upload.size == len(MP3)
    assert stream.tell() == len(prefix)  # preparing leaves the caller's position alone
    for _ in range(2):
        body = upload.opener().stream
        assert body.read() == MP3
        body.close()  # what the hook does after each attempt
        assert not stream.closed


def test_hook_side_close_leaves_the_callers_file_open(write) -> None:
    path = write("song.wav", WAV)
    with path.open("rb") as stream:
        upload = prepare_upload(stream)
        assert upload.file_name == "song"  # taken from the file object's name
        reader = hashing_reader(upload.opener().stream, upload.size)
        assert b"".join(reader) == WAV
        reader.close()
        assert not stream.closed
        stream.seek(0)
        assert stream.read(4) == b"RIFF"
        assert reader.sha256 == hashlib.sha256(WAV).hexdigest()


def test_file_object_without_name_needs_file_name() -> None:
    with refused("file_name"):
        prepare_upload(io.BytesIO(MP3))


def test_text_mode_string_io_refused() -> None:
    with refused("binary", "'rb'"):
        prepare_upload(io.StringIO("RIFF\x00\x00\x00\x00WAVEfmt "), file_name="song.wav")


def test_text_mode_file_with_ascii_safe_encoding_refused(write) -> None:
    path = write("song.wav", WAV)
    with path.open(encoding="latin-1") as stream, refused("binary", "'rb'"):
        prepare_upload(stream)


def test_text_mode_file_opened_the_usual_way_refused(write) -> None:
    path = write("song.wav", WAV)
    with path.open(encoding="utf-8") as stream, refused("binary", "'rb'"):
        prepare_upload(stream)


class _ReadOnly:
    """A stream with ``read`` and nothing else (a socket-like body)."""

    def read(self, size: int = -1) -> bytes:
        return MP3


class _NotSeekable(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        return 0


@pytest.mark.parametrize("stream", [_ReadOnly(), _NotSeekable()], ids=["read-only", "seekable-false"])
def test_non_seekable_file_object_refused(stream) -> None:
    with refused("seek", "path, bytes or a seekable binary file"):
        prepare_upload(stream, file_name="live.mp3")


def test_pipe_refused() -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, MP3)
    os.close(write_fd)
    with open(read_fd, "rb") as pipe, refused("seek"):
        prepare_upload(pipe, file_name="piped.mp3")


# --- refused sources -----------------------------------------------------------------------


def test_missing_file_refused(tmp_path: Path) -> None:
    with refused("nope.mp3", "does not exist: check the path"):
        prepare_upload(tmp_path / "nope.mp3")


def test_missing_file_uri_refused(tmp_path: Path) -> None:
    with refused("does not exist"):
        prepare_upload((tmp_path / "nope.wav").as_uri())


def test_directory_refused(tmp_path: Path) -> None:
    folder = tmp_path / "album.mp3"
    folder.mkdir()
    with refused("is a directory: pass one audio file"):
        prepare_upload(folder)


def test_empty_file_refused(write) -> None:
    with refused("empty", "0 bytes"):
        prepare_upload(write("silence.mp3", b""))


def test_empty_file_object_refused() -> None:
    with refused("empty"):
        prepare_upload(io.BytesIO(b""), file_name="silence.mp3")


@pytest.mark.parametrize("source", ["", "   "])
def test_blank_source_refused(source: str) -> None:
    with refused("source is empty"):
        prepare_upload(source)


def test_unsupported_source_type_refused() -> None:
    with refused("int", "local path"):
        prepare_upload(42)


# --- through the hook, to the emulator -----------------------------------------------------


@pytest.mark.parametrize("form", ["path", "str", "file_uri", "bytes", "file_object"])
def test_local_sources_are_sent_with_content_length(
    connection: RiffusionEmulator, tmp_path: Path, wav, form: str
) -> None:
    local = tmp_path / "local take.wav"
    local.write_bytes(wav)
    with local.open("rb") as handle:
        source: Any = {
            "path": local,
            "str": str(local),
            "file_uri": local.as_uri(),
            "bytes": wav,
            "file_object": handle,
        }[form]
        result = RiffusionHook().upload_audio(source, file_name="local take.wav")

    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256(wav)
    assert record.file_name == "local take"
    assert not record.chunked


@pytest.mark.parametrize("source", [b"ID3\x04" + bytes(64), io.BytesIO(b"ID3\x04" + bytes(64))])
def test_in_memory_sources_refuse_source_conn_id(connection: RiffusionEmulator, source: Any) -> None:
    with pytest.raises(exc.RiffusionInputError, match="source_conn_id"):
        RiffusionHook().upload_audio(source, file_name="a.mp3", source_conn_id="aws_default")
