"""Stream plumbing for remote sources: peek at the first bytes without losing them, and hand the
stream opened while preparing to the first attempt instead of fetching the source twice."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, cast

from airflow_provider_riffusion.sources.kinds import HEAD_BYTES
from airflow_provider_riffusion.sources.model import Opened


class Replay(io.RawIOBase):
    """A stream whose first bytes were already read: gives them back, then reads on from ``rest``."""

    def __init__(self, head: bytes, rest: IO[bytes]):
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

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._rest.close()
        super().close()


def peek(stream: IO[bytes], size: int = HEAD_BYTES) -> tuple[bytes, IO[bytes]]:
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
    """The first call returns the stream opened while preparing; every later call opens afresh."""

    def __init__(self, first: Opened, reopen: Callable[[], Opened]):
        self._first: Opened | None = first
        self._reopen = reopen

    def __call__(self) -> Opened:
        first, self._first = self._first, None
        return first if first is not None else self._reopen()

    def release(self) -> None:
        """Close the prepared stream if no attempt took it."""
        first, self._first = self._first, None
        if first is not None:
            first.stream.close()
