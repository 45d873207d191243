"""A deadline on each whole answer for ``requests``, which only bounds each single read.

``requests``' timeout applies per socket read, so a server that trickles a byte a second would
hold a worker for as long as it likes. Here, once a request has left (``getresponse``), an alarm
is armed on one watchdog thread per process; if the whole answer (headers and body) has not
been read by then, the watchdog shuts the connection's socket down, the read fails at once,
and the transport reports the timeout. Plugged in as urllib3 connection classes through the
session's adapter, so the library does all the rest of HTTP.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
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
        with self._condition:
            heapq.heappush(self._heap, (time.monotonic() + alarm.seconds, next(self._order), alarm))
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
