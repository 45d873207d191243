"""Audio sources: local checks before any request, and re-openable, hashed byte streams."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import wave
from collections.abc import Callable, Iterator, Sized
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import pytest

from airflow_provider_riffusion import audio
from airflow_provider_riffusion.audio import HashingReader, PreparedUpload, prepare_upload, sniff_kind
from airflow_provider_riffusion.exceptions import RiffusionInputError

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

KINDS = [
    pytest.param("mp3", MP3, "audio/mpeg", id="mp3"),
    pytest.param("m4a", M4A, "audio/mp4", id="m4a"),
    pytest.param("wav", WAV, "audio/wav", id="wav"),
]

ODD_NAME = "Beat & Bass #2 \u2013 Café déjà vu 音楽"
"""Spaces, an ampersand, a hash, non-ASCII: all legal in a track name and kept exactly."""


@contextmanager
def refused(*fragments: str) -> Iterator[None]:
    """The block raises a one-line RiffusionInputError whose message contains every fragment."""
    with pytest.raises(RiffusionInputError) as excinfo:
        yield
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Write ``data`` to a file called ``name`` in a temporary directory."""

    def _write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write


def read_all(upload: PreparedUpload) -> bytes:
    with upload.open() as stream:
        return stream.read()


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


def test_uppercase_extension_is_recognized_and_removed(write) -> None:
    upload = prepare_upload(write("My Song.M4A", M4A))
    assert upload.file_name == "My Song"
    assert upload.content_type == "audio/mp4"


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
        body = upload.open()
        assert body.read() == MP3
        body.close()  # what the hook does after each attempt
        assert not stream.closed


def test_hook_side_close_leaves_the_callers_file_open(write) -> None:
    path = write("song.wav", WAV)
    with path.open("rb") as stream:
        upload = prepare_upload(stream)
        assert upload.file_name == "song"  # taken from the file object's name
        reader = HashingReader(upload.open(), upload.size)
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


# --- file_name -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Take Five.mp3", "Take Five"),
        ("Take Five.MP3", "Take Five"),
        ("Take Five.M4A", "Take Five"),
        ("Take Five.wav", "Take Five"),
        ("Take Five", "Take Five"),
        ("remix.v2", "remix.v2"),  # not an audio extension: part of the name
        (ODD_NAME, ODD_NAME),
        (f"{ODD_NAME}.mp3", ODD_NAME),
    ],
)
def test_file_name_given(write, given: str, expected: str) -> None:
    upload = prepare_upload(write("source.mp3", MP3), file_name=given)
    assert upload.file_name == expected


def test_file_name_defaults_to_the_stem_with_special_characters(write) -> None:
    upload = prepare_upload(write(f"{ODD_NAME}.mp3", MP3))
    assert upload.file_name == ODD_NAME


@pytest.mark.parametrize("given", ["", "   ", "folder/name", "folder\\name"])
def test_unusable_file_name_refused(write, given: str) -> None:
    with refused("file_name"):
        prepare_upload(write("source.wav", WAV), file_name=given)


# --- content type --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "given", "sent"),
    [
        ("a.m4a", M4A, "audio/x-m4a", "audio/x-m4a"),
        ("a.wav", WAV, "audio/wave", "audio/wave"),
        ("a.mp3", MP3, "Audio/MPEG; charset=binary", "audio/mpeg"),
        ("a", WAV, "audio/wav", "audio/wav"),
    ],
)
def test_explicit_content_type_sent_normalized(write, name: str, data: bytes, given: str, sent: str) -> None:
    assert prepare_upload(write(name, data), content_type=given).content_type == sent


@pytest.mark.parametrize(
    ("name", "data"),
    [("song.ogg", b"OggS\x00\x02" + bytes(32)), ("song.flac", b"fLaC" + bytes(32)), ("song.txt", MP3)],
)
def test_unsupported_extension_refused(write, name: str, data: bytes) -> None:
    with refused(Path(name).suffix, ".mp3, .m4a or .wav"):
        prepare_upload(write(name, data))


def test_unsupported_content_type_refused(write) -> None:
    with refused("content_type", "audio/ogg", "audio/mpeg"):
        prepare_upload(write("song.mp3", MP3), content_type="audio/ogg")


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [("song.mp3", MP3, "audio/wav"), ("song.wav", WAV, "audio/mp4"), ("song.m4a", M4A, "audio/mpeg")],
)
def test_extension_contradicting_content_type_refused(write, name: str, data: bytes, content_type: str) -> None:
    with refused("contradicts", "content_type", "fix one of them"):
        prepare_upload(write(name, data), content_type=content_type)


@pytest.mark.parametrize(
    ("name", "data", "content_type", "claimed", "actual"),
    [
        ("song.mp3", WAV, None, "mp3", "wav"),
        ("song.wav", M4A, None, "wav", "m4a"),
        ("song.m4a", MP3, None, "m4a", "mp3"),
        ("song", WAV, "audio/mpeg", "mp3", "wav"),
    ],
)
def test_bytes_contradicting_name_or_type_refused(
    write, name: str, data: bytes, content_type: str | None, claimed: str, actual: str
) -> None:
    with refused(f"typed as {claimed}", f"bytes are {actual}", "fix the extension or content_type"):
        prepare_upload(write(name, data), content_type=content_type)


@pytest.mark.parametrize(("suffix", "data", "content_type"), KINDS)
def test_no_extension_but_recognizable_bytes_accepted(write, suffix: str, data: bytes, content_type: str) -> None:
    upload = prepare_upload(write("track", data))
    assert upload.file_name == "track"
    assert upload.content_type == content_type


def test_no_extension_and_unknown_bytes_refused(write) -> None:
    with refused("cannot tell", "content_type"):
        prepare_upload(write("track", b"\x00" * 64))


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (MP3, "mp3"),
        (MP3_FRAME_SYNC, "mp3"),
        (WAV, "wav"),
        (M4A, "m4a"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "m4a"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", None),
        (b"OggS\x00\x02", None),
        (b"\xff", None),
        (b"", None),
    ],
)
def test_sniff_kind(head: bytes, kind: str | None) -> None:
    assert sniff_kind(head[:16]) == kind


# --- refused sources -----------------------------------------------------------------------


def test_missing_file_refused(tmp_path: Path) -> None:
    with refused("does not exist", "nope.mp3"):
        prepare_upload(tmp_path / "nope.mp3")


def test_missing_file_uri_refused(tmp_path: Path) -> None:
    with refused("does not exist"):
        prepare_upload((tmp_path / "nope.wav").as_uri())


def test_directory_refused(tmp_path: Path) -> None:
    folder = tmp_path / "album.mp3"
    folder.mkdir()
    with refused("directory", "one audio file"):
        prepare_upload(folder)


def test_empty_file_refused(write) -> None:
    with refused("empty", "0 bytes"):
        prepare_upload(write("silence.mp3", b""))


def test_empty_file_object_refused() -> None:
    with refused("empty"):
        prepare_upload(io.BytesIO(b""), file_name="silence.mp3")


@pytest.mark.parametrize(
    ("source", "provider"),
    [
        ("s3://bucket/song.mp3", "apache-airflow-providers-amazon"),
        ("gs://bucket/song.wav", "apache-airflow-providers-google"),
    ],
)
def test_object_storage_without_its_filesystem_refused(source: str, provider: str) -> None:
    # Object storage is read through Airflow (tests/test_sources.py); a scheme whose provider is
    # not installed is refused before any request, naming what to install.
    scheme = source.split("://")[0]
    with refused(source, f"{scheme}://", provider):
        prepare_upload(source)


@OBJECT_STORAGE_ON_AIRFLOW_2
def test_unknown_scheme_refused() -> None:
    with refused("zzz://bucket/song.mp3", "object-storage URI"):
        prepare_upload("zzz://bucket/song.mp3")


@pytest.mark.parametrize("source", ["", "   "])
def test_blank_source_refused(source: str) -> None:
    with refused("source is empty"):
        prepare_upload(source)


def test_unsupported_source_type_refused() -> None:
    with refused("int", "local path"):
        prepare_upload(42)


# --- size ----------------------------------------------------------------------------------


def test_max_bytes_boundary(write) -> None:
    path = write("song.wav", WAV)
    assert prepare_upload(path, max_bytes=len(WAV)).size == len(WAV)
    with refused(str(len(WAV)), f"max_bytes={len(WAV) - 1}"):
        prepare_upload(path, max_bytes=len(WAV) - 1)


def test_max_bytes_applies_to_bytes_and_file_objects() -> None:
    with refused("max_bytes=10"):
        prepare_upload(MP3, file_name="a.mp3", max_bytes=10)
    with refused("max_bytes=10"):
        prepare_upload(io.BytesIO(MP3), file_name="a.mp3", max_bytes=10)


def test_file_over_50_mb_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "long.mp3"
    with path.open("wb") as out:
        out.write(MP3)
        out.truncate(51 * 1024 * 1024)  # sparse: cheap to create

    with caplog.at_level(logging.WARNING, logger=audio.__name__):
        upload = prepare_upload(path)

    assert upload.size == 51 * 1024 * 1024
    warnings = [r for r in caplog.records if r.name == audio.__name__ and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "50 MB" in warnings[0].getMessage()


def test_small_file_does_not_warn(write, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=audio.__name__):
        prepare_upload(write("short.mp3", MP3))
    assert not [r for r in caplog.records if r.name == audio.__name__]


# --- HashingReader -------------------------------------------------------------------------


def test_hashing_reader_counts_hashes_and_completes_only_at_eof(write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio, "CHUNK_SIZE", 1000)
    data = MP3 * 40
    path = write("song.mp3", data)
    upload = prepare_upload(path)
    reader = HashingReader(upload.open(), upload.size)
    assert isinstance(reader, Sized)
    assert len(reader) == len(data)

    chunks = iter(reader)
    received = b""
    while len(received) < len(data):
        chunk = next(chunks)
        assert 0 < len(chunk) <= 1000
        received += chunk
        assert not reader.complete  # every byte read, but EOF not yet seen
    assert reader.bytes_read == len(data)

    assert next(chunks, None) is None
    assert reader.complete
    assert received == data
    assert reader.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    reader.close()


def test_hashing_reader_iterates_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio, "CHUNK_SIZE", 100)
    reader = HashingReader(io.BytesIO(WAV), len(WAV))

    chunks = list(reader)

    assert len(chunks) == -(-len(WAV) // 100)
    assert all(len(chunk) <= 100 for chunk in chunks)
    assert b"".join(chunks) == WAV
    assert reader.complete
    assert reader.bytes_read == len(WAV)
    assert reader.sha256 == hashlib.sha256(WAV).hexdigest()


def test_hashing_reader_partial_read_is_not_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio, "CHUNK_SIZE", 10)
    reader = HashingReader(io.BytesIO(M4A), len(M4A))
    next(iter(reader))
    assert reader.bytes_read == 10
    assert not reader.complete
    assert reader.sha256 == hashlib.sha256(M4A[:10]).hexdigest()


class ThreadRecordingSha256:
    """hashlib's sha256, noting which thread hashed each chunk."""

    def __init__(self) -> None:
        self.real = ORIGINAL_SHA256()
        self.threads: list[str] = []
        RECORDERS.append(self)

    def update(self, chunk: bytes) -> None:
        self.threads.append(threading.current_thread().name)
        self.real.update(chunk)

    def hexdigest(self) -> str:
        return self.real.hexdigest()


ORIGINAL_SHA256 = hashlib.sha256
RECORDERS: list[ThreadRecordingSha256] = []


@pytest.mark.parametrize("chunk_size", [1000, 64 * 1024, 1024 * 1024])
def test_hashing_reader_hashes_large_chunks_beside_the_send_and_gets_the_same_digest(
    monkeypatch: pytest.MonkeyPatch, chunk_size: int
) -> None:
    monkeypatch.setattr(audio, "CHUNK_SIZE", chunk_size)
    data = bytes(range(256)) * 20_000 + b"tail"  # about 5 MB, and a short last chunk
    expected = hashlib.sha256(data).hexdigest()
    RECORDERS.clear()
    monkeypatch.setattr(audio.hashlib, "sha256", ThreadRecordingSha256)

    with HashingReader(io.BytesIO(data), len(data)) as reader:
        assert b"".join(reader) == data

    assert reader.sha256 == expected  # still readable after close
    [recorder] = RECORDERS
    assert len(recorder.threads) == -(-len(data) // chunk_size)
    on_helper = {name.startswith("riffusion-sha256") for name in recorder.threads[:-1]}
    assert on_helper == {chunk_size >= audio.OverlappedSha256.THREAD_MIN_BYTES}  # small chunks: inline


def test_hashing_reader_without_size_has_no_length() -> None:
    reader = HashingReader(io.BytesIO(MP3), None)
    assert not isinstance(reader, Sized)  # requests sends it chunked
