"""How the emulator misbehaves when a test asked it to: the answer (or the silence) of each fault kind.

Faults that answer instead of the endpoint build their response here. Faults that change only
how the usual answer is delivered (``trickle``, ``charset``, ``drop_after_body``, ``slow_body``,
``unsized``, ``headers``) let the endpoint run first (an upload is stored), then change its answer or
cut the connection.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterable, Iterator

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from airflow_provider_riffusion.testing.faults import Fault
from airflow_provider_riffusion.testing.http import abort_connection, json_response, status_line
from airflow_provider_riffusion.testing.state import EmulatorState

DROP_AFTER = 64 * 1024
"""How much of a body a ``drop`` fault reads before cutting the connection."""
TRICKLE_KEY = "riffusion.trickle"
"""The WSGI environ key that tells the server to send the answer one byte at a time."""
CUT_KEY = "riffusion.cut"
"""The WSGI environ key that tells the server to cut the connection after this many bytes of the body."""
STREAM_KEY = "riffusion.stream"
"""The WSGI environ key that tells the server to stream a body of the Content-Length the app set."""
DEFAULT_NESTING = 100_000
DEFAULT_HUGE_BYTES = 50 * 1024 * 1024


def fault_answer(
    fault: Fault,
    request: Request,
    state: EmulatorState,
    usual: Callable[[], Response],
    service: str | None = None,
) -> Response:
    """Answer (or not) as ``fault`` says; ``usual`` is the endpoint's own answer; ``service`` the request's."""
    if fault.usual_answer:
        response = usual()
        if fault.kind == "drop_after_body":
            abort_connection(request.environ)
        if fault.kind == "charset" and response.mimetype:  # a 204 has no body, so no Content-Type to change
            response.headers["Content-Type"] = f"{response.mimetype}; charset={fault.charset}"
        if fault.kind == "trickle":
            request.environ[TRICKLE_KEY] = (fault.seconds, state.stopping)
        if fault.kind == "cut":
            request.environ[CUT_KEY] = fault.size or 1000
        if fault.kind == "headers":
            for name, value in (fault.headers or {}).items():
                response.headers[name] = value
        if fault.kind in ("slow_body", "unsized"):
            _pace(response, request, state, fault)
        return response
    if fault.kind == "status":
        status = fault.response_status
        body = fault.body
        if body is None:
            if status == 596:
                body = state.account_error_body(service, request.args.get("email"))
            else:
                body = {"error": f"Injected fault: {status_line(status).partition(' ')[2]}", "code": status}
        return json_response(status, body, dict(fault.headers or {}))
    if fault.kind == "html":
        title = status_line(fault.response_status)
        page = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center><hr>" + (
            "<center>nginx</center></body></html>"
        )
        response = Response(page, status=title, mimetype="text/html")
        for name, value in (fault.headers or {}).items():
            response.headers[name] = value
        return response
    if fault.kind == "malformed":
        return Response('{"status": "complete", "lyrics": "cut sho', status=200, mimetype="application/json")
    if fault.kind == "missing_field":
        return json_response(200, {})
    if fault.kind == "nested":
        depth = fault.size or DEFAULT_NESTING
        return Response("[" * depth + "]" * depth, status=200, mimetype="application/json")
    if fault.kind == "huge":
        size = fault.size or DEFAULT_HUGE_BYTES
        response = Response(_huge_json(size), status=200, mimetype="application/json")
        response.headers["Content-Length"] = str(size)
        request.environ[STREAM_KEY] = True
        return response
    if fault.kind == "hang":
        state.stopping.wait(fault.seconds)
    elif fault.kind == "drop" and (request.content_length or request.headers.get("Transfer-Encoding")):
        with contextlib.suppress(ClientDisconnected, OSError):
            request.stream.read(DROP_AFTER)
    abort_connection(request.environ)
    raise AssertionError("unreachable")  # abort_connection always raises


def _pace(response: Response, request: Request, state: EmulatorState, fault: Fault) -> None:
    """Stream the answer's body ``fault.size`` bytes at a time, ``fault.seconds`` apart; ``unsized`` without a
    Content-Length, ended by closing the connection (gracefully: what was sent is read first)."""
    length = response.calculate_content_length()
    if length is None and "Content-Length" in response.headers:
        length = int(response.headers["Content-Length"])
    body = response.iter_encoded()
    sock = request.environ.get("werkzeug.socket")

    def paced() -> Iterator[bytes]:
        for index, piece in enumerate(_pieces(body, fault.size or 1)):
            if index and state.stopping.wait(fault.seconds):
                return
            yield piece
        if fault.kind == "unsized" and isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)

    response.response = paced()
    if fault.kind == "unsized":
        response.headers.pop("Content-Length", None)
    elif length is not None:
        response.headers["Content-Length"] = str(length)
    request.environ[STREAM_KEY] = True


def _pieces(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The bytes of ``chunks`` again, in pieces of ``size`` (the last may be shorter)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        start = 0
        while len(pending) - start >= size:
            yield pending[start : start + size]
            start += size
        pending = pending[start:]
    if pending:
        yield pending


def _huge_json(size: int) -> Iterator[bytes]:
    """``{"status": "complete", "pad": "xxx..."}`` of exactly ``size`` bytes, made as it is sent."""
    head, tail = b'{"status": "complete", "pad": "', b'"}'
    yield head
    left = size - len(head) - len(tail)
    block = b"x" * (1024 * 1024)
    while left > 0:
        yield block[: min(left, len(block))]
        left -= len(block)
    yield tail
