"""Fault injection: what a test asks the emulator to do wrong, and the queue that hands faults out.

Kept free of werkzeug so ``Fault`` can be imported (and built from JSON) without starting a server.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from airflow_provider_riffusion.testing.paths import SERVICES

FAULT_KINDS = (
    "status",
    "html",
    "malformed",
    "missing_field",
    "hang",
    "drop",
    "drop_after_body",
    "trickle",
    "nested",
    "charset",
    "huge",
    "cut",
    "slow_body",
    "unsized",
    "headers",
)
"""Every ``Fault.kind`` the emulator understands:

- ``status``: answer ``status`` with ``body`` and ``headers`` (default 500 with a JSON error);
- ``html``: a proxy's HTML error page (default 502);
- ``malformed``: 200 with JSON cut short; ``missing_field``: 200 ``{}``;
- ``hang``: no answer for ``seconds``, then the connection closes;
- ``drop``: read part of the request body, then cut the connection;
- ``drop_after_body``: handle the request as usual (an upload is stored), then cut the connection
  instead of answering: "stored, but the answer was lost";
- ``trickle``: the usual answer, its status line, headers and body sent one byte every ``seconds``;
- ``nested``: 200 with JSON nested ``size`` levels deep (default 100,000);
- ``charset``: the usual answer, with ``charset`` (default ``utf8mb4``) in its Content-Type;
- ``huge``: 200 with a JSON body of ``size`` bytes (default 50 MB), streamed;
- ``cut``: the usual answer, its connection cut after ``size`` bytes of its body (default 1,000);
- ``slow_body``: the usual answer, its status line and headers at once, then its body ``size`` bytes
  (default 1) every ``seconds``: a trickle (or a stall) past the headers, or a slow link;
- ``unsized``: as ``slow_body``, but without a usable Content-Length: the body ends when the emulator
  closes the connection (its server always writes the header; here its value is no number, which
  clients read as none);
- ``headers``: the usual answer with ``headers`` set on it, replacing its own (a Content-Type that
  lies, or that echoes the token).
"""

FAULT_METHODS = ("GET", "POST", "DELETE")
"""The methods of the API's endpoints (``DELETE``: ``scheduler/{job_id}``)."""

_DEFAULT_STATUS = {"status": 500, "html": 502, "malformed": 200, "missing_field": 200, "nested": 200, "huge": 200}
_NO_ANSWER = ("hang", "drop", "drop_after_body")
_USUAL_ANSWER = ("trickle", "charset", "cut", "slow_body", "unsized", "headers")


class ConnectionAborted(ConnectionError):
    """Raised by the app after it shut a connection down on purpose (or the client went away).

    A ``ConnectionError`` so that the server treats it as a dropped connection: no response, no traceback.
    """


@dataclass(frozen=True)
class Fault:
    """The next ``times`` requests matching ``method`` and ``path`` misbehave as ``kind`` says.

    ``path`` is relative to the service's base (``"music/upload-audio"``, ``"music"``, ``"accounts"``; with the
    id decoded for an endpoint with one in its path: ``"scheduler/<job id>"`` for ``DELETE``, on Flow Music
    ``"jobs/<jobid>"``); a Flow Music public clip file is matched by its whole path, decoded and without
    the leading slash: ``"_public/flowmusic/<clip id>.wav"`` (or ``.m4a``); slashes at either end are
    ignored. ``service`` (``"riffusion"``, ``"flowmusic"``) limits the fault to that service's requests
    (``None``: either). ``status``/``body``/``headers`` shape ``"status"`` and ``"html"`` answers;
    ``seconds`` is how long a ``"hang"`` holds the request before closing the connection, and the
    pause between the bytes of a ``"trickle"`` (between the pieces of a ``"slow_body"`` or ``"unsized"``
    one); ``size`` is the depth of ``"nested"`` JSON, the length of a ``"huge"`` body, and the pieces
    of a slow body; ``charset`` is what a ``"charset"`` answer declares.
    """

    method: str
    path: str
    kind: str = "status"
    status: int | None = None
    body: Any = None
    headers: Mapping[str, str] | None = None
    times: int = 1
    seconds: float = 30.0
    size: int | None = None
    charset: str = "utf8mb4"
    service: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or self.method.upper() not in FAULT_METHODS:
            raise ValueError(f"Fault.method must be 'GET', 'POST' or 'DELETE', not {self.method!r}")
        if not isinstance(self.path, str):
            raise ValueError(f"Fault.path must be a string, not {self.path!r}")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Fault.kind must be one of {', '.join(FAULT_KINDS)}; got {self.kind!r}")
        if self.status is not None and (
            isinstance(self.status, bool) or not isinstance(self.status, int) or not 100 <= self.status <= 999
        ):
            raise ValueError(f"Fault.status must be an HTTP status code (100-999), not {self.status!r}")
        if isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1:
            raise ValueError(f"Fault.times must be a positive int, not {self.times!r}")
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)) or self.seconds < 0:
            raise ValueError(f"Fault.seconds must be a non-negative number, not {self.seconds!r}")
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1):
            raise ValueError(f"Fault.size must be a positive int, not {self.size!r}")
        if not isinstance(self.charset, str) or not self.charset:
            raise ValueError(f"Fault.charset must be a non-empty string, not {self.charset!r}")
        if self.service is not None and self.service not in SERVICES:
            raise ValueError(f"Fault.service must be one of {', '.join(SERVICES)} or None, not {self.service!r}")
        if self.headers is not None and not all(
            isinstance(key, str) and isinstance(value, str) for key, value in dict(self.headers).items()
        ):
            raise ValueError("Fault.headers must map header names to string values")
        # Normalise so matching is a plain comparison (frozen: go through object.__setattr__).
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "path", self.path.strip("/"))

    @property
    def answers(self) -> bool:
        """Whether the client gets an answer at all (hang and the drops send none)."""
        return self.kind not in _NO_ANSWER

    @property
    def usual_answer(self) -> bool:
        """Whether the request is handled as usual, with only the answer's delivery changed."""
        return self.kind in _USUAL_ANSWER or self.kind == "drop_after_body"

    @property
    def response_status(self) -> int:
        """The status this fault answers with (0 when it sends no answer or the usual one)."""
        if self.kind == "status":
            return self.status if self.status is not None else _DEFAULT_STATUS["status"]
        if self.kind == "html":
            return self.status if self.status is not None else _DEFAULT_STATUS["html"]
        return _DEFAULT_STATUS.get(self.kind, 0)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Build a fault from JSON (the ``POST /_emulator/faults`` body); unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise ValueError("a fault must be a JSON object")
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown Fault fields: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as error:  # a required field is missing
            raise ValueError(str(error)) from error

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, the inverse of :meth:`from_dict`."""
        data = asdict(self)
        data["headers"] = dict(self.headers) if self.headers is not None else None
        return data


class FaultBook:
    """Thread-safe queue of injected faults; the oldest matching fault is used first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[Fault, list[int]]] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._entries.append((fault, [fault.times]))

    def take(self, method: str, path: str, service: str | None = None) -> Fault | None:
        """Consume one use of the first fault matching this request (of ``service``), if any."""
        method, path = method.upper(), path.strip("/")
        with self._lock:
            for index, (fault, remaining) in enumerate(self._entries):
                if fault.method == method and fault.path == path and fault.service in (None, service):
                    remaining[0] -= 1
                    if remaining[0] <= 0:
                        del self._entries[index]
                    return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        """Faults not yet used up, with how many uses are left."""
        with self._lock:
            return [{**fault.to_dict(), "remaining": remaining[0]} for fault, remaining in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
