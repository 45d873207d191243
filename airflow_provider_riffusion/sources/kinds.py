"""The audio the API takes, and the checks every source gets before any request is sent.

A track is uploaded only when its leading bytes are mp3, m4a or wav, whatever its name or
``content_type`` says: the type is what the bytes are, and a name or type that contradicts them
is refused. So a file that is not audio (``/etc/passwd`` behind a link named ``x.mp3``) is never
sent. Every refusal is one line that says what to fix.
"""

from __future__ import annotations

import logging
import os

from airflow_provider_riffusion.exceptions import RiffusionInputError

log = logging.getLogger(__name__)

EXTENSION_CONTENT_TYPES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".wav": "audio/wav"}
"""The extensions the API takes, with the Content-Type sent for each."""

CONTENT_TYPE_KINDS = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/m4a": "m4a",
    "audio/wav": "wav",
    "audio/wave": "wav",
    "audio/x-wav": "wav",
}
"""Content types accepted from callers (or remotes), by the kind of audio they name."""

KIND_CONTENT_TYPES = {"mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav"}
"""The Content-Type the API documents for each kind; aliases above are sent as these."""

FILE_NAME_EXTENSIONS = (*EXTENSION_CONTENT_TYPES, ".mp4")
"""Extensions removed from ``file_name``: the API wants the bare name (``.mp4`` is m4a's container)."""

RECOMMENDED_MAX_BYTES = 50 * 1024 * 1024
"""The API recommends uploads under 50 MB; larger ones get a warning (``max_bytes`` refuses)."""

HEAD_BYTES = 16
"""How many leading bytes :func:`sniff_kind` needs."""

_M4A_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"mp41", b"mp42", b"isom", b"iso2", b"dash")
_WAV_CONTAINERS = (b"RIFF", b"RF64", b"BW64")
"""RIFF, and the 64-bit variants long recordings are written in (EBU Tech 3306, ITU BS.2088)."""


def sniff_kind(head: bytes) -> str | None:
    """The audio kind the leading bytes show (``mp3``, ``wav``, ``m4a``), or None if they show no audio.

    mp3: an ID3v2 tag, or an MPEG audio frame header (11 sync bits, a valid version and layer);
    wav: a RIFF/RF64/BW64 container of WAVE; m4a: an ISO-BMFF ``ftyp`` box with an audio brand.
    """
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
        if version != 0b01 and layer != 0b00:  # 01 and 00 are reserved values
            return "mp3"
    if head[:4] in _WAV_CONTAINERS and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp" and head[8:12] in _M4A_BRANDS:
        return "m4a"
    return None


def resolve_kind(where: str, suffix: str, head: bytes, content_type: str | None, hint: str | None = None) -> str:
    """The audio kind from the leading bytes, which the explicit content type, the extension and (for a
    remote without an audio extension) its Content-Type ``hint`` must agree with."""
    if not head:
        raise RiffusionInputError(f"source {where!r} is empty (0 bytes): pass a non-empty audio file.")
    declared: str | None = None
    if content_type:
        declared = CONTENT_TYPE_KINDS.get(media_type(content_type))
        if declared is None:
            raise RiffusionInputError(
                f"content_type {content_type!r} is not one the API takes: use audio/mpeg (mp3), "
                "audio/mp4 (m4a) or audio/wav (wav)."
            )
    suffix = suffix.lower()
    from_extension = EXTENSION_CONTENT_TYPES.get(suffix)
    extension_kind = CONTENT_TYPE_KINDS[from_extension] if from_extension else None
    hinted = CONTENT_TYPE_KINDS.get(media_type(hint)) if hint and not extension_kind else None
    if suffix and extension_kind is None and declared is None and hinted is None:
        raise RiffusionInputError(
            f"source {where!r} has extension {suffix!r}: the API takes .mp3, .m4a or .wav "
            "(or pass content_type explicitly)."
        )
    if declared and extension_kind and declared != extension_kind:
        raise RiffusionInputError(
            f"content_type {content_type!r} contradicts the extension of {where!r} ({suffix}): fix one of them."
        )
    sniffed = sniff_kind(head)
    if sniffed is None:
        raise RiffusionInputError(
            f"source {where!r} is not sent: cannot tell mp3, m4a or wav from its first bytes, and a name or "
            "content_type does not make other bytes audio. Pass the audio file itself."
        )
    claimed = declared or extension_kind or hinted
    if claimed and claimed != sniffed:
        if claimed == hinted and not declared:
            raise RiffusionInputError(
                f"source {where!r} is served as {hint} ({claimed}) but its bytes are {sniffed}: "
                "pass content_type to say what it is."
            )
        raise RiffusionInputError(
            f"source {where!r} is named or typed as {claimed} but its bytes are {sniffed}: "
            "fix the extension or content_type."
        )
    return sniffed


def check_same_kind(where: str, kind: str, head: bytes) -> None:
    """A re-opened remote source must still hold the kind of audio it was prepared as."""
    sniffed = sniff_kind(head)
    if sniffed != kind:
        found = sniffed or ("empty" if not head else "not audio")
        raise RiffusionInputError(f"source {where!r} changed between attempts: it was {kind}, now {found}.")


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def content_type_for(kind: str, content_type: str | None) -> str:
    """An explicit content type is sent as given (normalized); otherwise the kind's documented one."""
    if content_type:
        return media_type(content_type)
    return KIND_CONTENT_TYPES[kind]


def resolve_file_name(file_name: str | None, fallback: str) -> str:
    """The API's ``file_name``: without an audio extension; defaults to the source's stem."""
    if file_name is not None and not isinstance(file_name, str):
        raise RiffusionInputError(f"file_name must be a string, got {type(file_name).__name__}.")
    name = (file_name if file_name is not None else fallback).strip()
    if name.lower() in FILE_NAME_EXTENSIONS:
        raise RiffusionInputError(f"file_name {name!r} is only an extension: pass a name for the track.")
    stem, suffix = os.path.splitext(name)
    if suffix.lower() in FILE_NAME_EXTENSIONS:
        name = stem
    if not name:
        raise RiffusionInputError("file_name is empty: pass a name for the track (without extension).")
    if "/" in name or "\\" in name:
        raise RiffusionInputError(f"file_name {name!r} contains a path separator: pass a bare name.")
    return name


def check_size(where: str, size: int | None, max_bytes: int | None, *, warn: bool = True) -> None:
    """Refuse an empty source or one over ``max_bytes``; warn over the API's recommended 50 MB."""
    if size is None:
        return
    if size == 0:
        raise RiffusionInputError(f"source {where!r} is empty (0 bytes): pass a non-empty audio file.")
    if max_bytes is not None and size > max_bytes:
        raise RiffusionInputError(
            f"source {where!r} is {size} bytes, over max_bytes={max_bytes}: use a smaller file or raise max_bytes."
        )
    if warn and size > RECOMMENDED_MAX_BYTES:
        log.warning("source %r is %.1f MB; the Riffusion API recommends uploads under 50 MB.", where, size / 1e6)


def describe_error(error: BaseException) -> str:
    """A short, single-line reason that never repeats a URL (it might carry credentials)."""
    text = " ".join(str(error).split())
    if not text or "://" in text or "url:" in text.lower() or len(text) > 200:
        return type(error).__name__
    return f"{type(error).__name__}: {text}"
