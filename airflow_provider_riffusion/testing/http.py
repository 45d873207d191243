"""HTTP answers of the emulator: error bodies, JSON responses, status lines, and cutting a connection."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from airflow_provider_riffusion.testing.faults import ConnectionAborted

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

API_PREFIX = "/v1/riffusion"
"""Where the API's endpoints live on the emulator's server (as on ``api.useapi.net``)."""


class ApiError(Exception):
    """An error answer: HTTP status, JSON body and optional headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, {"error": message, "code": 400})


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
