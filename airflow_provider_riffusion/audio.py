"""What an upload is: the audio kinds the API takes, the checks made before any request, and
the re-openable, hashed byte stream the hook sends.

Where the bytes come from is :mod:`airflow_provider_riffusion.sources`' job (local files, bytes
and file objects, Airflow object storage, http(s) URLs). Every source gets the same checks here
(name, type against the leading bytes, size), each failing with one line that says what to fix,
and is re-opened from its first byte for every attempt, so a retried upload re-sends the whole
body. Nothing is read whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

from airflow_provider_riffusion.exceptions import RiffusionError, RiffusionInputError, RiffusionNetworkError

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

CHUNK_SIZE = 1024 * 1024

HEAD_BYTES = 16
"""How many leading bytes :func:`sniff_kind` needs."""

DEFAULT_FETCH_TIMEOUT = 60.0
"""Seconds per network read of a remote source when the caller gives none."""

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


class Opened(NamedTuple):
    """One opening of a source: a stream at its first byte, and its size now (None: unknown)."""

    stream: IO[bytes]
    size: int | None


@dataclass(frozen=True)
class PreparedUpload:
    """A validated upload: its name and type for the API, and a way to (re-)open its bytes.

    ``size`` is what preparing found; every opening measures again, because a retry sends what
    the source holds then, with a Content-Length that must match it exactly.
    """

    file_name: str
    content_type: str
    size: int | None
    description: str
    opener: Callable[[], Opened]
    max_bytes: int | None = None
    release: Callable[[], None] | None = None

    def open(self) -> IO[bytes]:
        """A fresh binary stream positioned at the first byte."""
        return self.opener().stream

    def open_reader(self) -> HashingReader:
        """A fresh :class:`HashingReader` for one attempt, sized (Content-Length) when the size is known."""
        stream, size = self.opener()
        if size is not None:
            try:
                check_size(self.description, size, self.max_bytes, warn=False)
            except RiffusionInputError:
                stream.close()
                raise
        return HashingReader(stream, size, where=self.description, max_bytes=self.max_bytes)

    def close(self) -> None:
        """Let go of what preparing kept open (a remote response, an HTTP session)."""
        if self.release is not None:
            self.release()


class SourceReadError(Exception):
    """Reading the source failed while the body was being sent.

    Deliberately not an ``OSError``: urllib3 would report one as a lost connection to the API.
    The hook turns it into :meth:`riffusion_error`, which names the source.
    """

    def __init__(self, where: str, reason: str, *, fatal: RiffusionInputError | None = None):
        super().__init__(f"Reading {where} failed: {reason}")
        self.fatal = fatal

    def riffusion_error(self, what: str, attempt: int) -> RiffusionError:
        """A refusal stays one; anything else is a network failure the API provably did not take."""
        if self.fatal is not None:
            return self.fatal
        tried = f" (attempt {attempt})" if attempt > 1 else ""
        return RiffusionNetworkError(
            f"{self} during {what}{tried}; the API received no complete body.", body_sent=False
        )


class OverlappedSha256:
    """A sha256 that hashes large chunks on a helper thread while the caller goes on sending them.

    hashlib releases the GIL while it hashes a large buffer, so hashing chunk *n* overlaps with
    the HTTP client writing chunk *n* to the socket: with a core to spare, the digest stops
    adding its own time to the upload's (``benchmarks/upload_speed.py``). One chunk at a time is
    in flight (deeper queues measured slower), so memory stays at two chunks; small chunks are
    hashed inline, where a thread hop costs more than it saves.
    """

    THREAD_MIN_BYTES = 64 * 1024

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def update(self, chunk: bytes) -> None:
        self._settle()
        if len(chunk) < self.THREAD_MIN_BYTES:
            self._hash.update(chunk)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="riffusion-sha256")
        self._pending = self._executor.submit(self._hash.update, chunk)

    def hexdigest(self) -> str:
        self._settle()
        return self._hash.hexdigest()

    def close(self) -> None:
        """Finish the chunk in flight and let the helper thread go; the digest stays readable."""
        self._settle()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _settle(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()


class HashingReader:
    """Streams a source to the HTTP client in chunks, counting and hashing what was actually read.

    An iterable, not a file: ``requests`` (through urllib3) sends an iterable body chunk by chunk
    as it comes, where it would read a file-like body in 8-16 KiB blocks; whole chunks let the
    sha256 run beside the send (:class:`OverlappedSha256`). It is sent with a Content-Length when
    it has ``__len__`` and chunked otherwise, so only a reader of known size defines ``__len__``
    (``requests`` calls ``len()`` whenever the method exists). A sized reader never yields more
    bytes than it announced, and fails (before the body is complete) on fewer. ``complete``
    tells whether the whole body left the reader: a connection lost before that provably did
    not deliver the upload, so it may be retried without risking a duplicate.
    """

    def __new__(cls, stream: IO[bytes], size: int | None, **kwargs: Any) -> HashingReader:
        if cls is HashingReader and size is not None:
            return super().__new__(_SizedHashingReader)
        return super().__new__(cls)

    def __init__(self, stream: IO[bytes], size: int | None, *, where: str = "the source", max_bytes: int | None = None):
        self._stream = stream
        self._size = size
        self._where = where
        self._max_bytes = max_bytes
        self._sha256 = OverlappedSha256()
        self.bytes_read = 0
        self.complete = False

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._next_chunk():
            yield chunk

    def _next_chunk(self) -> bytes:
        """The next chunk of at most ``CHUNK_SIZE`` bytes, hashed and counted; ``b""`` at the end."""
        wanted = CHUNK_SIZE
        if self._size is not None:
            wanted = min(wanted, self._size - self.bytes_read)
            if wanted <= 0:
                # The announced body is out: the API may have taken it, so warn rather than fail (and retry).
                if self._read(1):
                    log.warning(
                        "source %r grew while it was sent: sent the %d bytes it held when opened.",
                        self._where,
                        self._size,
                    )
                self.complete = True
                return b""
        chunk = self._read(wanted)
        if not chunk:
            if self._size is not None:
                raise SourceReadError(self._where, f"it ended after {self.bytes_read} of {self._size} bytes")
            self.complete = True
            return b""
        self._sha256.update(chunk)
        self.bytes_read += len(chunk)
        if self._max_bytes is not None and self.bytes_read > self._max_bytes:
            refusal = RiffusionInputError(
                f"source {self._where!r} is over max_bytes={self._max_bytes}: use a smaller file or raise max_bytes."
            )
            raise SourceReadError(self._where, str(refusal), fatal=refusal)
        return chunk

    def _read(self, size: int) -> bytes:
        try:
            return self._stream.read(size) or b""
        except Exception as error:
            raise SourceReadError(self._where, describe_error(error)) from error

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def close(self) -> None:
        self._sha256.close()
        self._stream.close()

    def __enter__(self) -> HashingReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _SizedHashingReader(HashingReader):
    """A reader of known size: ``len()`` is the Content-Length."""

    def __len__(self) -> int:
        return self._size or 0


def describe_error(error: BaseException) -> str:
    """A short, single-line reason that never repeats a URL (it might carry credentials)."""
    text = " ".join(str(error).split())
    if not text or "://" in text or "url:" in text.lower() or len(text) > 200:
        return type(error).__name__
    return f"{type(error).__name__}: {text}"


def prepare_upload(
    source: Any,
    file_name: str | None = None,
    content_type: str | None = None,
    max_bytes: int | None = None,
    *,
    conn_id: str | None = None,
    timeout: float = DEFAULT_FETCH_TIMEOUT,
) -> PreparedUpload:
    """Validate ``source`` and the upload's name and type, before anything is sent to the API.

    The kind of source picks a module of :mod:`airflow_provider_riffusion.sources`. ``conn_id``
    is the Airflow connection of an object-storage source; ``timeout`` bounds each network read
    of a remote source.
    """
    from airflow_provider_riffusion.sources import prepare_source

    return prepare_source(source, file_name, content_type, max_bytes, conn_id=conn_id, timeout=timeout)


def resolve_kind(where: str, suffix: str, head: bytes, content_type: str | None, hint: str | None = None) -> str:
    """The audio kind from the explicit content type, the extension (or a remote's Content-Type,
    ``hint``, when there is no audio extension) and the leading bytes, which must agree."""
    if not head:
        raise RiffusionInputError(f"source {where!r} is empty (0 bytes): pass a non-empty audio file.")
    declared: str | None = None
    if content_type:
        declared = CONTENT_TYPE_KINDS.get(_media_type(content_type))
        if declared is None:
            raise RiffusionInputError(
                f"content_type {content_type!r} is not one the API takes: use audio/mpeg (mp3), "
                "audio/mp4 (m4a) or audio/wav (wav)."
            )
    suffix = suffix.lower()
    from_extension = EXTENSION_CONTENT_TYPES.get(suffix)
    extension_kind = CONTENT_TYPE_KINDS[from_extension] if from_extension else None
    hinted = CONTENT_TYPE_KINDS.get(_media_type(hint)) if hint and not extension_kind else None
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
    claimed = declared or extension_kind or hinted
    if claimed and sniffed and claimed != sniffed:
        if claimed == hinted and not declared:
            raise RiffusionInputError(
                f"source {where!r} is served as {hint} ({claimed}) but its bytes are {sniffed}: "
                "pass content_type to say what it is."
            )
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


def check_same_kind(where: str, kind: str, head: bytes) -> None:
    """A re-opened remote source must still hold the kind of audio it was prepared as."""
    sniffed = sniff_kind(head)
    if not head or (sniffed and sniffed != kind):
        found = sniffed or "empty"
        raise RiffusionInputError(f"source {where!r} changed between attempts: it was {kind}, now {found}.")


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def content_type_for(kind: str, content_type: str | None) -> str:
    """An explicit content type is sent as given (normalized); otherwise the kind's documented one."""
    if content_type:
        return _media_type(content_type)
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
