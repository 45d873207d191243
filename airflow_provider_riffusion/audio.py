"""Audio sources: turn what a DAG author passes as ``source`` into a re-openable byte stream.

Checks that can be made locally (the file exists, is not empty, is audio of a supported
kind, the name is usable) run here, before any request, each failing with one line that says
what to fix. The stream is re-opened from the start for every attempt, so a retried upload
always re-sends the whole body, and it is read in chunks, never whole.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast
from urllib.parse import unquote, urlsplit

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

RECOMMENDED_MAX_BYTES = 50 * 1024 * 1024
"""The API recommends uploads under 50 MB; larger ones get a warning (``max_bytes`` refuses)."""

CHUNK_SIZE = 1024 * 1024

_M4A_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"mp41", b"mp42", b"isom", b"iso2", b"dash")


def sniff_kind(head: bytes) -> str | None:
    """The audio kind the leading bytes show (``mp3``, ``wav``, ``m4a``), or None if unrecognized."""
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp" and head[8:12] in _M4A_BRANDS:
        return "m4a"
    return None


@dataclass(frozen=True)
class PreparedUpload:
    """A validated upload: its name and type for the API, and a way to (re-)open its bytes."""

    file_name: str
    content_type: str
    size: int | None
    description: str
    opener: Callable[[], IO[bytes]]

    def open(self) -> IO[bytes]:
        """A fresh binary stream positioned at the first byte."""
        return self.opener()


class HashingReader:
    """Streams a file to the HTTP client while counting and hashing what was actually read.

    ``requests`` sends a body that has ``read`` in chunks; ``__len__`` gives it the
    Content-Length when the size is known (chunked transfer otherwise). ``complete`` tells
    whether the whole body left the reader: a connection lost before that provably did not
    deliver the upload, so it may be retried without risking a duplicate.
    """

    def __init__(self, stream: IO[bytes], size: int | None):
        self._stream = stream
        self._size = size
        self._sha256 = hashlib.sha256()
        self.bytes_read = 0
        self.complete = False

    def __len__(self) -> int:
        if self._size is None:
            raise TypeError("size unknown")
        return self._size

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(CHUNK_SIZE if size is None or size < 0 else size)
        if chunk:
            self._sha256.update(chunk)
            self.bytes_read += len(chunk)
        elif size != 0:
            self.complete = True
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK_SIZE):
            yield chunk

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def close(self) -> None:
        self._stream.close()


def prepare_upload(
    source: Any,
    file_name: str | None = None,
    content_type: str | None = None,
    max_bytes: int | None = None,
) -> PreparedUpload:
    """Validate ``source`` and the upload's name and type, before anything is sent."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _prepare_bytes(bytes(source), file_name, content_type, max_bytes)
    if hasattr(source, "read"):
        return _prepare_file_object(source, file_name, content_type, max_bytes)
    if isinstance(source, (str, os.PathLike)):
        return _prepare_path(_local_path(source), file_name, content_type, max_bytes)
    raise RiffusionInputError(
        f"source of type {type(source).__name__} is not supported: pass a local path, a file:// URI, "
        "bytes or a binary file object."
    )


def _local_path(source: str | os.PathLike[str]) -> Path:
    text = os.fspath(source).strip()
    if not text:
        raise RiffusionInputError("source is empty: pass the path of an mp3, m4a or wav file.")
    parts = urlsplit(text)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:
        raise RiffusionInputError(
            f"source {text!r} uses the {parts.scheme}:// scheme, which this version cannot read: "
            "pass a local path or a file:// URI."
        )
    return Path(text).expanduser()


def _prepare_path(path: Path, file_name: str | None, content_type: str | None, max_bytes: int | None) -> PreparedUpload:
    if not path.exists():
        raise RiffusionInputError(f"source {str(path)!r} does not exist: check the path on the worker.")
    if path.is_dir():
        raise RiffusionInputError(f"source {str(path)!r} is a directory: pass one audio file.")
    size = path.stat().st_size
    with path.open("rb") as stream:
        head = stream.read(16)
    kind = _resolve_kind(str(path), path.suffix, head, content_type)
    _check_size(str(path), size, max_bytes)
    return PreparedUpload(
        file_name=_resolve_file_name(file_name, path.name),
        content_type=_content_type_for(kind, content_type),
        size=size,
        description=str(path),
        opener=lambda: path.open("rb"),
    )


def _prepare_bytes(
    data: bytes, file_name: str | None, content_type: str | None, max_bytes: int | None
) -> PreparedUpload:
    if not file_name:
        raise RiffusionInputError("file_name is required when source is bytes: the API needs a name.")
    suffix = PurePosixPath(file_name).suffix
    kind = _resolve_kind("the bytes", suffix, data[:16], content_type)
    _check_size("the bytes", len(data), max_bytes)
    return PreparedUpload(
        file_name=_resolve_file_name(file_name, file_name),
        content_type=_content_type_for(kind, content_type),
        size=len(data),
        description=f"{len(data)} bytes in memory",
        opener=lambda: io.BytesIO(data),
    )


def _prepare_file_object(
    stream: IO[bytes], file_name: str | None, content_type: str | None, max_bytes: int | None
) -> PreparedUpload:
    name = file_name or os.path.basename(str(getattr(stream, "name", "") or ""))
    if not name:
        raise RiffusionInputError("file_name is required when source is a file object without a name.")
    if not (hasattr(stream, "seek") and hasattr(stream, "tell")) or not stream.seekable():
        raise RiffusionInputError(
            "source is a file object that cannot seek: a retried upload must re-send it from the start. "
            "Pass a path, bytes or a seekable binary file."
        )
    if isinstance(stream, io.TextIOBase) or "b" not in getattr(stream, "mode", "b"):
        raise RiffusionInputError("source is a text file object: open the file in binary mode ('rb').")
    start = stream.tell()
    head = stream.read(16)
    end = stream.seek(0, os.SEEK_END)
    stream.seek(start)
    size = end - start
    kind = _resolve_kind(name, PurePosixPath(name).suffix, head, content_type)
    _check_size(name, size, max_bytes)

    def reopen() -> IO[bytes]:
        stream.seek(start)
        return cast(IO[bytes], _Unclosable(stream))

    return PreparedUpload(
        file_name=_resolve_file_name(file_name, name),
        content_type=_content_type_for(kind, content_type),
        size=size,
        description=f"file object {name!r}",
        opener=reopen,
    )


class _Unclosable(io.RawIOBase):
    """Lets the hook close what it opened without closing a caller's own file object."""

    def __init__(self, stream: IO[bytes]):
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def close(self) -> None:  # the caller owns the stream
        pass


def _resolve_kind(where: str, suffix: str, head: bytes, content_type: str | None) -> str:
    """The audio kind from the explicit content type, the extension and the leading bytes, which must agree."""
    if not head:
        raise RiffusionInputError(f"source {where!r} is empty (0 bytes): pass a non-empty audio file.")
    declared: str | None = None
    if content_type:
        declared = CONTENT_TYPE_KINDS.get(content_type.split(";")[0].strip().lower())
        if declared is None:
            raise RiffusionInputError(
                f"content_type {content_type!r} is not one the API takes: use audio/mpeg (mp3), "
                "audio/mp4 (m4a) or audio/wav (wav)."
            )
    suffix = suffix.lower()
    from_extension = EXTENSION_CONTENT_TYPES.get(suffix)
    extension_kind = CONTENT_TYPE_KINDS[from_extension] if from_extension else None
    if suffix and extension_kind is None and declared is None:
        raise RiffusionInputError(
            f"source {where!r} has extension {suffix!r}: the API takes .mp3, .m4a or .wav "
            "(or pass content_type explicitly)."
        )
    if declared and extension_kind and declared != extension_kind:
        raise RiffusionInputError(
            f"content_type {content_type!r} contradicts the extension of {where!r} ({suffix}): fix one of them."
        )
    sniffed = sniff_kind(head)
    claimed = declared or extension_kind
    if claimed and sniffed and claimed != sniffed:
        raise RiffusionInputError(
            f"source {where!r} is named or typed as {claimed} but its bytes are {sniffed}: "
            "fix the extension or content_type."
        )
    kind = claimed or sniffed
    if kind is None:
        raise RiffusionInputError(
            f"cannot tell the audio type of {where!r}: give it an .mp3, .m4a or .wav extension or pass content_type."
        )
    return kind


def _content_type_for(kind: str, content_type: str | None) -> str:
    """An explicit content type is sent as given (normalized); otherwise the kind's documented one."""
    if content_type:
        return content_type.split(";")[0].strip().lower()
    return KIND_CONTENT_TYPES[kind]


def _resolve_file_name(file_name: str | None, fallback: str) -> str:
    """The API's ``file_name``: without an audio extension; defaults to the source's stem."""
    name = (file_name if file_name is not None else fallback).strip()
    stem, suffix = os.path.splitext(name)
    if suffix.lower() in EXTENSION_CONTENT_TYPES:
        name = stem
    if not name:
        raise RiffusionInputError("file_name is empty: pass a name for the track (without extension).")
    if "/" in name or "\\" in name:
        raise RiffusionInputError(f"file_name {name!r} contains a path separator: pass a bare name.")
    return name


def _check_size(where: str, size: int, max_bytes: int | None) -> None:
    if size == 0:
        raise RiffusionInputError(f"source {where!r} is empty (0 bytes): pass a non-empty audio file.")
    if max_bytes is not None and size > max_bytes:
        raise RiffusionInputError(
            f"source {where!r} is {size} bytes, over max_bytes={max_bytes}: use a smaller file or raise max_bytes."
        )
    if size > RECOMMENDED_MAX_BYTES:
        log.warning("source %r is %.1f MB; the Riffusion API recommends uploads under 50 MB.", where, size / 1e6)
