"""What a prepared upload is: a validated name and type, and a way to (re-)open its bytes as a hashed stream.

Every attempt of an upload opens the source again from its first byte, so a retried upload
re-sends the whole body, and streams it in chunks through a :class:`HashingReader` that counts
and hashes exactly what was sent. Nothing is read whole.

For remote sources: :func:`peek` at the first bytes without losing them, and a :class:`Reopener`
that hands the stream opened while preparing to the first attempt instead of fetching the source twice.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, NamedTuple, cast

from airflow_provider_riffusion.exceptions import RiffusionError, RiffusionInputError, RiffusionNetworkError
from airflow_provider_riffusion.sources.kinds import HEAD_BYTES, check_same_kind, check_size, describe_error

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024


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
    uri: str | None = None
    """Where the bytes come from, for lineage (``file:///...``, a URL without its query, ``s3://...``)."""

    def open_reader(self) -> HashingReader:
        """A fresh :class:`HashingReader` for one attempt, sized (Content-Length) when the size is known."""
        stream, size = self.opener()
        if size is not None:
            try:
                check_size(self.description, size, self.max_bytes, warn=False)
            except RiffusionInputError:
                stream.close()
                raise
        return hashing_reader(stream, size, where=self.description, max_bytes=self.max_bytes)

    def close(self) -> None:
        """Let go of what preparing kept open (a remote response, an HTTP session)."""
        if self.release is not None:
            self.release()

    def fingerprint(self) -> dict[str, Any]:
        """What an upload of this source would send now (name, type, byte count, sha256), read but not sent."""
        with self.open_reader() as reader:
            try:
                for _ in reader:
                    pass
            except SourceReadError as error:
                raise error.riffusion_error(f"reading {self.description}", 1) from None
        return {
            "file_name": self.file_name,
            "content_type": self.content_type,
            "bytes": reader.bytes_read,
            "sha256": reader.sha256,
        }


class SourceReadError(Exception):
    """Reading the source failed while the body was being sent.

    Deliberately not an ``OSError``: urllib3 would report one as a lost connection to the API.
    The transport turns it into :meth:`riffusion_error`, which names the source.
    """

    def __init__(self, where: str, reason: str, *, fatal: RiffusionInputError | None = None):
        super().__init__(f"Reading {where} failed: {reason}")
        self.fatal = fatal

    def riffusion_error(self, what: str, attempt: int) -> RiffusionError:
        """A refusal stays one; anything else is a network failure the API provably did not take."""
        if self.fatal is not None:
            return self.fatal
        tried = f" (attempt {attempt})" if attempt > 1 else ""
        return RiffusionNetworkError(f"{self} during {what}{tried}; the API received no complete body.")


class HashingReader:
    """Streams a source to the HTTP client in chunks, counting and hashing what was actually read.

    An iterable, not a file: ``requests`` (through urllib3) sends an iterable body chunk by chunk
    as it comes, where it would read a file-like body in 8-16 KiB blocks. This class has no
    ``__len__``, so ``requests`` sends it chunked; :class:`SizedHashingReader` (a known size) is
    sent with a Content-Length, never yields more bytes than it announced, and fails (before the
    body is complete) on fewer. ``complete`` tells whether the whole body left the reader: a
    connection lost before that provably did not deliver the upload, so it may be retried
    without risking a duplicate.
    """

    def __init__(self, stream: IO[bytes], *, where: str = "the source", max_bytes: int | None = None):
        self._stream = stream
        self._where = where
        self._max_bytes = max_bytes
        self._sha256 = hashlib.sha256()
        self.bytes_read = 0
        self.complete = False

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._next_chunk():
            yield chunk

    def _wanted(self) -> int:
        """How many bytes the next chunk may have; 0 once the announced body is out."""
        return CHUNK_SIZE

    def _next_chunk(self) -> bytes:
        """The next chunk of at most ``CHUNK_SIZE`` bytes, hashed and counted; ``b""`` at the end."""
        wanted = self._wanted()
        chunk = self._read(wanted) if wanted > 0 else b""
        if not chunk:
            self._at_end(wanted)
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

    def _at_end(self, wanted: int) -> None:
        """The stream ended: for a reader of unknown size, that is the whole body."""

    def _read(self, size: int) -> bytes:
        try:
            return self._stream.read(size) or b""
        except Exception as error:
            raise SourceReadError(self._where, describe_error(error)) from error

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> HashingReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SizedHashingReader(HashingReader):
    """A reader of known size: ``len()`` is the Content-Length, and the body is exactly that long."""

    def __init__(self, stream: IO[bytes], size: int, **kwargs: Any) -> None:
        super().__init__(stream, **kwargs)
        self._size = size

    def __len__(self) -> int:
        return self._size

    def _wanted(self) -> int:
        return min(CHUNK_SIZE, self._size - self.bytes_read)

    def _at_end(self, wanted: int) -> None:
        if wanted > 0:
            raise SourceReadError(self._where, f"it ended after {self.bytes_read} of {self._size} bytes")
        if self._read(1):  # the announced body is out: the API may have taken it, so warn rather than fail
            log.warning(
                "source %r grew while it was sent: sent the %d bytes it held when opened.", self._where, self._size
            )


def hashing_reader(
    stream: IO[bytes], size: int | None, *, where: str = "the source", max_bytes: int | None = None
) -> HashingReader:
    """The reader for a stream of known (Content-Length) or unknown (chunked) size."""
    if size is None:
        return HashingReader(stream, where=where, max_bytes=max_bytes)
    return SizedHashingReader(stream, size, where=where, max_bytes=max_bytes)


class Replay(io.RawIOBase):
    """A stream whose first bytes were already read: gives them back, then reads on from ``rest``."""

    def __init__(self, head: bytes, rest: IO[bytes] | io.RawIOBase):
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            head, self._head = self._head, b""
            return head + (self._rest.read() or b"")
        if self._head:
            taken, self._head = self._head[:size], self._head[size:]
            return taken
        return self._rest.read(size) or b""

    def close(self) -> None:
        if not self.closed:
            self._rest.close()
        super().close()


def peek(stream: IO[bytes] | io.RawIOBase, size: int = HEAD_BYTES) -> tuple[bytes, IO[bytes]]:
    """The first ``size`` bytes (fewer at EOF), and a stream that still starts at the first byte."""
    head = b""
    try:
        while len(head) < size:
            chunk = stream.read(size - len(head))
            if not chunk:
                break
            head += chunk
    except BaseException:
        stream.close()
        raise
    return head, cast(IO[bytes], Replay(head, stream))


class Reopener:
    """The first call returns the stream opened while preparing; every later call opens afresh, and
    refuses a source that no longer holds the ``kind`` of audio it was prepared as."""

    def __init__(self, where: str, kind: str, first: Opened, reopen: Callable[[], Opened]):
        self._where = where
        self._kind = kind
        self._first: Opened | None = first
        self._reopen = reopen

    def __call__(self) -> Opened:
        first, self._first = self._first, None
        if first is not None:
            return first
        again = self._reopen()
        head, stream = peek(again.stream)
        try:
            check_same_kind(self._where, self._kind, head)
        except RiffusionInputError:
            stream.close()
            raise
        return Opened(stream, again.size)

    def release(self) -> None:
        """Close the prepared stream if no attempt took it."""
        first, self._first = self._first, None
        if first is not None:
            first.stream.close()
