"""The WSGI application: routing, authorization, fault injection and the control endpoints.

Imported only when a server starts (it needs werkzeug). One server answers both services: Riffusion under
``/v1/riffusion`` (endpoints in ``routes.py``), Flow Music under ``/v1/flowmusic`` and its public clip files
under ``/_public/flowmusic`` (``flowmusic_routes.py``); misbehaviour on request in ``fault_answers.py``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from werkzeug.wrappers import Request, Response

from airflow_provider_riffusion.testing.fault_answers import fault_answer
from airflow_provider_riffusion.testing.faults import Fault
from airflow_provider_riffusion.testing.flowmusic_routes import FlowMusicRoutes
from airflow_provider_riffusion.testing.http import ApiError, json_response, not_found
from airflow_provider_riffusion.testing.paths import FLOWMUSIC, PUBLIC_PREFIX, SERVICE_PREFIXES
from airflow_provider_riffusion.testing.routes import ApiRoutes
from airflow_provider_riffusion.testing.state import EmulatorState

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

CONTROL_PREFIX = "/_emulator"


class Target(NamedTuple):
    """Which service a request is for, and its path relative to that service's base (what faults match).

    A public clip file's relative path is its whole path without the leading slash
    (``_public/flowmusic/<clip>.wav``), so it can never be mistaken for an API path.
    """

    service: str
    relative: str
    public: bool = False


class EmulatorApp:
    """The WSGI callable. All state lives in ``EmulatorState``; this class only decides answers."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.routes = ApiRoutes(state)
        self.flowmusic = FlowMusicRoutes(state)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == CONTROL_PREFIX or request.path.startswith(CONTROL_PREFIX + "/"):
            response = self.control(request)
        else:
            response = self.api(request)
        return response(environ, start_response)

    # The API --------------------------------------------------------------------------------------
    def api(self, request: Request) -> Response:
        connection_id = request.environ.get("riffusion.connection_id")
        if isinstance(connection_id, int):
            self.state.note_connection(connection_id)
        query = {key: request.args[key] for key in request.args}
        status = 0
        target = self.target(request.path)
        fault = self.state.faults.take(request.method, target.relative, target.service) if target else None
        if fault is not None and not fault.answers:
            # Logged before the fault stalls or cuts the connection: the client gets no answer (status 0).
            self.state.note_request(request.method, request.path, query, 0)
        try:
            if fault is not None:
                response = fault_answer(
                    fault, request, self.state, lambda: self.answer(request, target), target.service if target else None
                )
            else:
                response = self.answer(request, target)
            status = response.status_code
            return response
        finally:
            # Everything that answers is logged here, including requests whose client went away mid-body (status 0).
            if fault is None or fault.answers:
                self.state.note_request(request.method, request.path, query, status)

    def answer(self, request: Request, target: Target | None) -> Response:
        """The endpoint's answer, errors included."""
        try:
            return self.dispatch(request, target)
        except ApiError as error:
            return json_response(error.status, error.body, error.headers)

    @staticmethod
    def target(path: str) -> Target | None:
        """``/v1/riffusion/music/`` -> (riffusion, ``music``); ``None`` outside every service."""
        for service, prefix in SERVICE_PREFIXES.items():
            if path == prefix or path.startswith(prefix + "/"):
                return Target(service, path[len(prefix) :].strip("/"))
        if path.startswith(PUBLIC_PREFIX + "/"):
            return Target(FLOWMUSIC, path.strip("/"), public=True)
        return None

    def dispatch(self, request: Request, target: Target | None) -> Response:
        if target is None:
            raise not_found(f"No such endpoint: {request.path}")
        if target.public:  # a CDN's file: no token, and no account behind it
            return self.flowmusic.public_file(request, target.relative)
        self.authorize(request)
        if self.state.settings.account_error:
            raise ApiError(596, self.state.account_error_body(target.service, request.args.get("email")))
        if target.service == FLOWMUSIC:
            return self.flowmusic.dispatch(request, target.relative)
        relative = target.relative
        handler = self.routes.table.get((request.method, relative))
        if handler is not None:
            return handler(request)
        if request.method == "GET" and relative.startswith("accounts/"):
            return self.routes.account(request, relative[len("accounts/") :])
        if request.method == "DELETE" and relative.startswith("scheduler/"):
            return self.routes.cancel_job(request)
        if any(path == relative for _, path in self.routes.table):
            raise ApiError(405, {"error": f"Method {request.method} not allowed on {relative}", "code": 405})
        raise not_found(f"No such endpoint: {relative}")

    def authorize(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        expected = self.state.token.encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            raise ApiError(401, {"error": "Unauthorized", "code": 401})

    # Control endpoints (tests in other processes) ------------------------------------------------
    def control(self, request: Request) -> Response:
        if request.remote_addr not in ("127.0.0.1", "::1"):
            return json_response(403, {"error": "Control endpoints answer loopback clients only", "code": 403})
        name = request.path[len(CONTROL_PREFIX) :].strip("/")
        state = self.state
        try:
            if request.method == "GET" and name == "uploads":
                return json_response(200, [record.to_dict() for record in state.upload_records()])
            if request.method == "GET" and name == "requests":
                with state.lock:
                    return json_response(200, list(state.requests))
            if request.method == "GET" and name == "downloads":
                with state.lock:
                    return json_response(200, list(state.downloads))
            if request.method == "GET" and name == "stats":
                with state.lock:
                    return json_response(200, {"connections": len(state.connections), "requests": len(state.requests)})
            if request.method == "GET" and name == "faults":
                return json_response(200, state.faults.pending())
            if request.method == "POST" and name == "faults":
                payload = json.loads(request.get_data(cache=False) or b"null")
                faults = [Fault.from_dict(item) for item in (payload if isinstance(payload, list) else [payload])]
                for fault in faults:
                    state.faults.add(fault)
                return json_response(200, {"injected": [fault.to_dict() for fault in faults]})
            if request.method == "POST" and name == "reset":
                state.reset()
                return json_response(200, {"reset": True})
            if request.method == "GET" and name == "settings":
                return json_response(200, state.settings_dict())
            if request.method == "POST" and name == "settings":
                payload = json.loads(request.get_data(cache=False) or b"null")
                if not isinstance(payload, dict):
                    raise ValueError("settings must be a JSON object")
                state.update_settings(payload)
                return json_response(200, state.settings_dict())
        except ValueError as error:  # includes json.JSONDecodeError
            return json_response(400, {"error": str(error), "code": 400})
        return json_response(404, {"error": f"No such control endpoint: {request.method} {name}", "code": 404})
