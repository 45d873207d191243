"""``RiffusionEmulator``: the useapi.net Riffusion API, and its successor Flow Music API v1, as one real HTTP
server on 127.0.0.1, for tests.

werkzeug is imported only in ``start()``, so importing this module (and the testing package) stays cheap.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from airflow_provider_riffusion.testing.faults import Fault
from airflow_provider_riffusion.testing.flowmusic_state import DEFAULT_EMAILS
from airflow_provider_riffusion.testing.paths import RIFFUSION, SERVICE_PREFIXES, SERVICES
from airflow_provider_riffusion.testing.state import EmulatorState, Settings, UploadRecord

if TYPE_CHECKING:
    from airflow_provider_riffusion.testing.server import ServerThread


class _Setting:
    """A runtime setting of the emulator: read from, and validated into, its state."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, emulator: RiffusionEmulator | None, owner: type | None = None) -> Any:
        if emulator is None:
            return self
        return getattr(emulator._state.settings, self.name)

    def __set__(self, emulator: RiffusionEmulator, value: Any) -> None:
        emulator._state.update_settings({self.name: value})


class RiffusionEmulator:
    """A fake useapi.net Riffusion and Flow Music API server; use as a context manager, or ``start()``/``stop()``.

    Both services are always served, Riffusion under ``/v1/riffusion`` and Flow Music under ``/v1/flowmusic``
    (``flowmusic_routes.py`` tells its rules); ``service`` picks which one ``base_url`` names. ``user_ids``
    are Riffusion's accounts, ``emails`` Flow Music's.

    ``revision`` selects the upload and status response shapes ("2025-02-17" or "2025-02-25");
    ``compose_shape`` selects the create-compose answer ("jobs" or "job_id"). Uploads answer "pending"
    for ``pending_polls`` status GETs and until ``pending_seconds`` have passed; songs answer
    "queued"/"generating_audio" for ``song_polls`` GETs, then "completed". With ``ssl_context`` (a
    server-side ``ssl.SSLContext`` holding a certificate for 127.0.0.1) it serves HTTPS, for tests of
    certificate checks.
    """

    def __init__(
        self,
        revision: str = "2025-02-25",
        token: str = "emulator-token",
        user_ids: Sequence[str] = ("user-1",),
        pending_polls: int = 1,
        pending_seconds: float = 0.0,
        song_polls: int = 1,
        compose_shape: str = "jobs",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        service: str = RIFFUSION,
        emails: Sequence[str] = DEFAULT_EMAILS,
    ) -> None:
        if isinstance(user_ids, str):
            raise ValueError("user_ids must be a sequence of account ids, not one string")
        if isinstance(emails, str):
            raise ValueError("emails must be a sequence of account emails, not one string")
        if service not in SERVICES:
            raise ValueError(f"service must be one of {', '.join(SERVICES)}; got {service!r}")
        self._service = service
        settings = Settings()
        self._state = EmulatorState(
            revision=revision,
            token=token,
            user_ids=tuple(user_ids),
            compose_shape=compose_shape,
            settings=settings,
            emails=tuple(emails),
        )
        self._state.update_settings(
            {"pending_polls": pending_polls, "pending_seconds": pending_seconds, "song_polls": song_polls}
        )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int between 0 and 65535, not {port!r}")
        self._requested_port = port
        self._ssl_context = ssl_context
        self._server: ServerThread | None = None

    # Lifecycle ------------------------------------------------------------------------------------
    def start(self) -> RiffusionEmulator:
        """Bind 127.0.0.1 and serve in the background; returns self."""
        if self._server is not None:
            raise RuntimeError("the Riffusion emulator is already running")
        try:
            from airflow_provider_riffusion.testing.app import EmulatorApp
            from airflow_provider_riffusion.testing.server import ServerThread
        except ModuleNotFoundError as error:
            if error.name != "werkzeug":
                raise
            raise RuntimeError(
                "The Riffusion emulator serves HTTP with werkzeug, which is not installed: "
                "pip install 'airflow-provider-riffusion[testing]'"
            ) from None

        self._state.stopping.clear()
        server = ServerThread(EmulatorApp(self._state), self._requested_port, self._ssl_context)
        scheme = "http" if self._ssl_context is None else "https"
        self._state.listening(f"{scheme}://127.0.0.1:{server.port}")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Shut down at once: releases hung requests and closes keep-alive connections. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self._state.stopping.set()
        server.stop()

    def __enter__(self) -> RiffusionEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:  # never shows the token
        where = self.base_url if self._server is not None else "stopped"
        return f"<RiffusionEmulator revision={self.revision} service={self.service} {where}>"

    # Where it listens -----------------------------------------------------------------------------
    def _running(self) -> ServerThread:
        if self._server is None:
            raise RuntimeError("the Riffusion emulator is not running: call start() or use it as a context manager")
        return self._server

    @property
    def port(self) -> int:
        return self._running().port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1/<service>`` (``https`` with TLS), without a trailing slash."""
        self._running()
        return self._state.origin + SERVICE_PREFIXES[self._service]

    # Fixed configuration --------------------------------------------------------------------------
    @property
    def revision(self) -> str:
        return self._state.revision

    @property
    def token(self) -> str:
        return self._state.token

    @property
    def service(self) -> str:
        """The service ``base_url`` names (``riffusion`` or ``flowmusic``); the server answers both."""
        return self._service

    @property
    def user_ids(self) -> tuple[str, ...]:
        return self._state.user_ids

    @property
    def accounts(self) -> tuple[str, ...]:
        """Flow Music's account emails."""
        return self._state.emails

    @property
    def compose_shape(self) -> str:
        return self._state.compose_shape

    # What it saw ----------------------------------------------------------------------------------
    @property
    def uploads(self) -> list[UploadRecord]:
        """Completed uploads of both services, oldest first (a snapshot); ``service`` tells them apart."""
        return self._state.upload_records()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every API request answered: ``{"method", "path", "query", "status"}`` (status 0: no answer)."""
        with self._state.lock:
            return [dict(entry) for entry in self._state.requests]

    @property
    def downloads(self) -> list[dict[str, Any]]:
        """Every download served: ``{"song_id", "format", "bytes", "service", "authorization"}``, oldest first.

        ``authorization``: whether the request carried an Authorization header (Flow Music's public wav and
        m4a need none; the API's downloads cannot be had without one)."""
        with self._state.lock:
            return [dict(entry) for entry in self._state.downloads]

    @property
    def connections(self) -> int:
        """Distinct TCP connections that carried at least one API request."""
        with self._state.lock:
            return len(self._state.connections)

    @property
    def open_connections(self) -> int:
        """TCP connections open right now (a client that closed its session has none left)."""
        return self._running().tracker.count()

    # Runtime settings (also POST /_emulator/settings) ---------------------------------------------
    upload_final_status = _Setting()
    """What an upload's status says once processed (default ``complete``)."""
    flag_uploads = _Setting()
    account_error = _Setting()
    """Every API call answers 596 (the account needs re-registering)."""
    pending_polls = _Setting()
    pending_seconds = _Setting()
    song_polls = _Setting()
    song_final_status = _Setting()
    """What a song's status says once generated (default ``completed``)."""
    download_bytes = _Setting()
    """About how many bytes a downloaded mp3 or wav has (default 64 KiB); streamed, never held."""
    free_slots = _Setting()
    """Job slots of each account besides its running jobs (default 3): each compose or prompt takes one until
    GET music reports one of its songs finished, or DELETE scheduler/{job_id}; at 0 or below free, compose and
    prompt answer 429. On Flow Music it is each account's ``maxJobs``: a job holds a slot until it ends or
    DELETE jobs/{jobid}."""
    flowmusic_retry_after = _Setting()
    """Seconds in the ``Retry-After`` of Flow Music's 429 (default None: no header)."""
    flowmusic_jobs_shape = _Setting()
    """The shape of Flow Music's ``GET jobs``: ``accounts`` (default) or ``list``."""
    flowmusic_credits_per_job = _Setting()
    """Credits each Flow Music ``POST music`` costs (default 20; every account starts with 1000)."""

    # Test controls --------------------------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        """Make the next ``fault.times`` matching requests misbehave."""
        if not isinstance(fault, Fault):
            raise TypeError(f"inject() takes a Fault, not {type(fault).__name__}")
        self._state.faults.add(fault)

    def reset(self) -> None:
        """Forget uploads, songs, running jobs, requests, seen connections and pending faults, and Flow Music's
        assets, jobs and spent credits; settings are kept."""
        self._state.reset()
