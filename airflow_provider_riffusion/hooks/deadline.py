"""A deadline on each whole answer for ``requests``, which only bounds each single read.

``requests``' timeout applies per socket read, so a server that trickles a byte a second would
hold a worker for as long as it likes. Here, once a request has left (``getresponse``), an alarm
is armed on one watchdog thread per process; if the whole answer (headers and body) has not
been read by then, the watchdog shuts the connection's socket down, the read fails at once,
and the transport reports the timeout. Plugged in as urllib3 connection classes through the
session's adapter, so the library does all the rest of HTTP.

A file's body (a download) may be large, so its alarm is *paced* once the headers are in: the body
is due ``seconds`` plus its size at a minimum rate after the request left; the size is the declared
Content-Length, or, without one, the bytes received so far, so the deadline moves on only while
data keeps coming. The watchdog re-checks a paced alarm when it comes due, and fires it only when
the answer has not earned more time: still one thread, and one heap push per re-check.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class Alarm:
    """One armed deadline: the socket it shuts down, and whether it did."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sock: socket.socket | None = None
        self.fired = False
        self.cancelled = False
        self.started: float | None = None
        """When the request left (``time.monotonic()``): the deadline counts from there."""
        self.rate: float | None = None
        self.length: int | None = None
        self.received = 0
        """Bytes of the body read so far (the transport counts them): what an unsized body has earned."""

    def pace(self, rate: float, length: int | None) -> None:
        """Give the body its share of time: ``length`` bytes (or, when None, those received) at ``rate`` a second."""
        self.rate, self.length = rate, length

    @property
    def allowance(self) -> float:
        """Seconds the answer may take after the request left: ``seconds``, plus the body's bytes at the rate."""
        if not self.rate:
            return self.seconds
        return self.seconds + (self.length if self.length is not None else self.received) / self.rate

    def due(self) -> float:
        """The moment the answer is due (monotonic clock)."""
        return (self.started if self.started is not None else time.monotonic()) + self.allowance

    def fire(self) -> None:
        sock = self.sock
        if self.cancelled or sock is None:
            return
        self.fired = True
        with contextlib.suppress(OSError):
            # socket.socket's own shutdown, also for an SSLSocket: its override would drop the SSL
            # object under the thread that is reading from it.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """One thread that fires alarms at their deadlines; arming costs a heap push, not a thread."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # workers fork: the thread does not come along

    def _reset(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, alarm: Alarm, sock: socket.socket) -> None:
        alarm.sock = sock
        alarm.started = time.monotonic()
        with self._condition:
            heapq.heappush(self._heap, (alarm.due(), next(self._order), alarm))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="riffusion-answer-deadline", daemon=True)
                self._thread.start()
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._condition.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, alarm = heapq.heappop(self._heap)
                due = alarm.due()
                if not alarm.cancelled and due > time.monotonic():
                    # Paced since it was armed (or re-armed by a redirect): check again when it is due.
                    heapq.heappush(self._heap, (due, next(self._order), alarm))
                    continue
            with contextlib.suppress(Exception):  # the one watchdog of the process must outlive any alarm
                alarm.fire()


WATCHDOG = Watchdog()
_current = threading.local()


@contextlib.contextmanager
def answer_deadline(seconds: float) -> Iterator[Alarm]:
    """Bound the answer of the request made inside: the alarm arms when the request has left."""
    alarm = Alarm(seconds)
    _current.alarm = alarm
    try:
        yield alarm
    finally:
        alarm.cancelled = True
        alarm.sock = None
        _current.alarm = None


class _ArmsOnResponse:
    """Mixed into urllib3's connections: waiting for the answer starts the alarm of the request."""

    sock: Any

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        alarm = getattr(_current, "alarm", None)
        if alarm is not None and self.sock is not None:
            WATCHDOG.arm(alarm, self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_ArmsOnResponse, HTTPConnection):
    pass


class _HTTPSConnection(_ArmsOnResponse, HTTPSConnection):
    pass


POOL_CLASSES = {
    "http": type("DeadlineHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": _HTTPConnection}),
    "https": type("DeadlineHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": _HTTPSConnection}),
}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with connections that arm the answer deadline (direct and through http(s) proxies)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = POOL_CLASSES
        return manager


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The Content-Length when it is one plain number (a server's header is data, not trusted), else None."""
    value = (headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() and value.isascii() and len(value) <= 18 else None
