"""The HTTP server: werkzeug's threaded server with a request handler that keeps connections alive.

Why a custom handler: werkzeug's development server answers every request with ``Connection: close``
(it cannot drain request bodies between requests), but the provider's "one session, reused across
polls" promise can only be tested against a server that keeps connections open. This handler lets
werkzeug parse the request and de-chunk bodies as usual, then drains exactly the unread rest of the
body (through the same bounded stream the app read from) before the next request on the connection.
It also tracks open sockets so ``stop()`` can close idle keep-alive connections at once.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import ssl
import threading
from collections.abc import Iterable
from typing import Any

from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import get_input_stream

from airflow_provider_riffusion.testing.fault_answers import CUT_KEY, STREAM_KEY, TRICKLE_KEY
from airflow_provider_riffusion.testing.http import CLOSE_KEY

log = logging.getLogger("airflow_provider_riffusion.testing")

_DRAIN_CHUNK = 1024 * 1024


class ConnectionTracker:
    """Open client sockets, so that stopping the server can close them instead of waiting on them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._ids = itertools.count(1)

    def opened(self, sock: socket.socket) -> int:
        with self._lock:
            self._open.add(sock)
            return next(self._ids)

    def closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    def count(self) -> int:
        with self._lock:
            return len(self._open)

    def close_all(self) -> None:
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class KeepAliveHandler(WSGIRequestHandler):
    """One instance per TCP connection; serves its requests one after another (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"
    tracker: ConnectionTracker  # set on the per-server subclass made by ``handler_for``
    connection_id = 0

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle plus the client's delayed ACK
        # would add ~40 ms to every answer on a kept-alive connection.
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection_id = self.tracker.opened(self.request)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.tracker.closed(self.request)

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        environ["riffusion.connection_id"] = self.connection_id
        # Bound the body once (Content-Length, or werkzeug's de-chunker), hand that stream to the app,
        # and drain the same stream afterwards: the next request line starts right after this body.
        body = get_input_stream(environ, safe_fallback=True)
        environ["wsgi.input"] = body
        environ["wsgi.input_terminated"] = True

        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return None  # the app never uses the legacy write() callable

        try:
            chunks = self.server.app(environ, start_response)
            # A body the app sized itself is streamed as it comes (a huge fault); any other is measured.
            declared = bool(environ.get(STREAM_KEY))
            payload: Iterable[bytes] = chunks
            if not declared:
                try:
                    payload = [b"".join(chunks)]
                finally:
                    close = getattr(chunks, "close", None)
                    if close is not None:
                        close()
            linger = environ.get(CLOSE_KEY)
            if isinstance(linger, int):
                # The app refused the body (too large) without reading it: drain a bounded amount so that a
                # client still sending can read the answer, then close rather than read on.
                _drain(body, linger)
                self.close_connection = True
            else:
                _drain(body)
        except (ConnectionError, ClientDisconnected, TimeoutError):
            # A fault cut the connection on purpose (ConnectionAborted), or the client went away:
            # no answer, no traceback.
            self.close_connection = True
            return
        except Exception:
            log.exception("Riffusion emulator: unexpected error answering %s %s", self.command, environ["PATH_INFO"])
            captured["status"] = "500 Internal Server Error"
            captured["headers"] = [("Content-Type", "application/json")]
            payload = [b'{"error": "emulator internal error", "code": 500}']
            declared = False
            self.close_connection = True
        try:
            self._send(captured, payload, declared, environ.get(TRICKLE_KEY), environ.get(CUT_KEY))
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True  # the client stopped reading (it refused a huge body): fine

    def _send(
        self,
        captured: dict[str, Any],
        payload: Iterable[bytes],
        declared: bool,
        trickle: tuple[float, Any] | None,
        cut: int | None = None,
    ) -> None:
        """Write the answer: at once, streamed (a sized body), one byte at a time (a trickle fault), or only
        its first ``cut`` bytes of body before the connection is shut (a cut fault)."""
        code, _, reason = captured["status"].partition(" ")
        bodiless = code in ("204", "304")  # no body, and (RFC 9110) no Content-Length on a 204
        body = b"" if self.command == "HEAD" or bodiless else b"".join(payload) if not declared or trickle else None
        lines = [f"{self.protocol_version} {code} {reason}"]
        lines += [f"{name}: {value}" for name, value in captured["headers"] if name.lower() != "content-length"]
        length = dict((name.lower(), value) for name, value in captured["headers"]).get("content-length")
        if not bodiless:
            lines.append(f"Content-Length: {len(body) if body is not None else length}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if trickle is not None:
            seconds, stopping = trickle
            for index in range(len(head + (body or b""))):
                self.wfile.write((head + (body or b""))[index : index + 1])
                self.wfile.flush()
                if stopping.wait(seconds):
                    break
            return
        self.wfile.write(head)
        left = cut
        for chunk in [body] if body is not None else payload:
            if left is not None:
                chunk, left = chunk[:left], left - min(left, len(chunk))
            self.wfile.write(chunk)
            if left == 0:
                self.wfile.flush()
                with contextlib.suppress(OSError):
                    self.request.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log: it is noise in test output (and URLs are not the emulator's to print)."""

    def log_error(self, format: str, *args: Any) -> None:
        log.warning("Riffusion emulator: " + format, *args)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("Riffusion emulator: " + format, *args)


def _drain(body: Any, limit: int | None = None) -> None:
    """Read and discard what the app left of the request body (at most ``limit`` bytes of it)."""
    left = limit
    while left is None or left > 0:
        chunk = body.read(_DRAIN_CHUNK if left is None else min(_DRAIN_CHUNK, left))
        if not chunk:
            return
        if left is not None:
            left -= len(chunk)


def handler_for(tracker: ConnectionTracker) -> type[KeepAliveHandler]:
    """A handler class bound to one server's tracker (socketserver instantiates handlers itself)."""
    return type("RiffusionRequestHandler", (KeepAliveHandler,), {"tracker": tracker})


class ServerThread:
    """A threaded werkzeug server on 127.0.0.1 running in a daemon thread."""

    def __init__(self, app: Any, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self.tracker = ConnectionTracker()
        try:
            self.server: BaseWSGIServer = make_server(
                "127.0.0.1",
                port,
                app,
                threaded=True,
                request_handler=handler_for(self.tracker),
                ssl_context=ssl_context,
            )
        except SystemExit as error:  # werkzeug exits the process when it cannot bind
            raise OSError(f"The Riffusion emulator cannot listen on 127.0.0.1:{port}") from error
        self.port: int = self.server.port
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.01},  # how soon stop() is noticed; idle cost is negligible
            name=f"riffusion-emulator-{self.port}",
            daemon=True,
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop accepting, close every open connection, and return promptly (request threads are daemons)."""
        self.server.shutdown()
        self.tracker.close_all()
        self.server.server_close()
        self.thread.join(timeout=5)
