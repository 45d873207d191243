"""HTTP answers of the emulator: error bodies, JSON responses, status lines, the raw request path, and cutting or
closing a connection."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from airflow_provider_riffusion.testing.faults import ConnectionAborted
from airflow_provider_riffusion.testing.paths import FLOWMUSIC, RIFFUSION, SERVICE_PREFIXES

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

API_PREFIX = SERVICE_PREFIXES[RIFFUSION]
"""Where the Riffusion API's endpoints live on the emulator's server (as on ``api.useapi.net``)."""
FLOWMUSIC_PREFIX = SERVICE_PREFIXES[FLOWMUSIC]
CLOSE_KEY = "riffusion.close"
"""The WSGI environ key that tells the server to answer, then close the connection: the body left unread is
drained up to this many bytes first (so a client still sending can read the answer), then abandoned."""


class ApiError(Exception):
    """An error answer: HTTP status, JSON body and optional headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, {"error": message, "code": 400})


MAX_JSON_BODY = 1024 * 1024
"""The largest JSON body a create call of either service takes."""


def json_object(request: Request) -> dict[str, Any]:
    """A create call's JSON body, which must be an object (a 400 otherwise, as the services answer)."""
    if (request.content_length or 0) > MAX_JSON_BODY:
        raise bad_request("The JSON body is too large")
    try:
        payload = json.loads(request.get_data(cache=False) or b"null")
    except ValueError as error:
        raise bad_request(f"The body is not valid JSON: {error}") from error
    if not isinstance(payload, dict):
        raise bad_request("The body must be a JSON object")
    return payload


def not_found(message: str) -> ApiError:
    return ApiError(404, {"error": message, "code": 404})


def status_line(status: int) -> str:
    """``"596 Account Error"`` style status: werkzeug would say UNKNOWN for codes outside the standard."""
    if status == 596:
        return "596 Account Error"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body), status=status_line(status), mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def abort_connection(environ: WSGIEnvironment) -> None:
    """Cut the TCP connection without an answer (RST on close), then unwind through the server quietly."""
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionAborted("connection closed on purpose by the emulator")


def raw_target_path(request: Request) -> bytes | None:
    """The request target's path as the client sent it, still percent-encoded; ``None`` when the server
    does not say (werkzeug's keeps the request line's target as ``RAW_URI``).

    The WSGI "encoding dance" (UTF-8 read as latin-1) is undone, then the request line's own latin-1 reading.
    """
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not isinstance(raw, str):
        return None
    target = raw.encode("latin-1").decode("utf-8", "replace").encode("latin-1", "replace")
    return urlsplit(target).path


def raw_path(request: Request) -> bytes:
    """:func:`raw_target_path`, or the decoded path without a raw target (another WSGI server)."""
    path = raw_target_path(request)
    return path if path is not None else request.path.encode("utf-8")
