"""The checks every source gets (``sources/kinds.py``): sniffing, extensions, content types, file_name, size."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from airflow_provider_riffusion.sources import kinds
from airflow_provider_riffusion.sources import prepare_source as prepare_upload
from airflow_provider_riffusion.sources.kinds import sniff_kind
from tests.sources._support import KINDS, M4A, MP3, MP3_FRAME_SYNC, ODD_NAME, WAV
from tests.support import refused

# --- sniff_kind ----------------------------------------------------------------------------


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


# --- extension and content type ------------------------------------------------------------


def test_uppercase_extension_is_recognized_and_removed(write) -> None:
    upload = prepare_upload(write("My Song.M4A", M4A))
    assert upload.file_name == "My Song"
    assert upload.content_type == "audio/mp4"


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
    with refused(f"is named or typed as {claimed} but its bytes are {actual}: fix the extension or content_type"):
        prepare_upload(write(name, data), content_type=content_type)


@pytest.mark.parametrize(("suffix", "data", "content_type"), KINDS)
def test_no_extension_but_recognizable_bytes_accepted(write, suffix: str, data: bytes, content_type: str) -> None:
    upload = prepare_upload(write("track", data))
    assert upload.file_name == "track"
    assert upload.content_type == content_type


def test_no_extension_and_unknown_bytes_refused(write) -> None:
    with refused("cannot tell", "content_type"):
        prepare_upload(write("track", b"\x00" * 64))


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

    with caplog.at_level(logging.WARNING, logger=kinds.__name__):
        upload = prepare_upload(path)

    assert upload.size == 51 * 1024 * 1024
    warnings = [r for r in caplog.records if r.name == kinds.__name__ and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "50 MB" in warnings[0].getMessage()


def test_small_file_does_not_warn(write, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=kinds.__name__):
        prepare_upload(write("short.mp3", MP3))
    assert not [r for r in caplog.records if r.name == kinds.__name__]
