"""Triggers: the waits of deferrable tasks, polled in the triggerer with the async transport.

Each trigger serializes only JSON primitives, yields exactly one event of the vocabulary
``success`` / ``failed`` / ``error`` / ``timeout``, and never blocks the event loop: the
connection and its extras are read through common-compat's async helpers, and the CA bundle
and proxy settings are loaded off the loop. The deadline is absolute (epoch seconds), so a
trigger re-created after a triggerer restart keeps the deadline the task started with.
Triggers only read: uploads and compose requests happen on workers. The wait itself is the
provider's one poller (``polling.py``), the same the sensor and the operators' sync waits use.
"""

from __future__ import annotations

import asyncio
import importlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_riffusion import exceptions
from airflow_provider_riffusion.wait_defaults import DEFAULT_MAX_CONSECUTIVE_ERRORS, DEFAULT_POLL_INTERVAL

if TYPE_CHECKING:
    from airflow_provider_riffusion.client.endpoints import Endpoint
    from airflow_provider_riffusion.polling import Poller
    from airflow_provider_riffusion.settings import RiffusionSettings

EVENT_STATUSES = frozenset({"success", "failed", "error", "timeout"})

Request = Callable[..., Awaitable[Any]]
"""``await request(endpoint, **arguments)``: one API read under the endpoint's retry rule."""


def _one_line(error: BaseException) -> str:
    """An error's text folded onto one line, as every message of the provider is."""
    return " ".join(str(error).split())


async def load_settings(riffusion_conn_id: str, log: Any) -> RiffusionSettings:
    """Read the connection and its extras without blocking the event loop (nor deadlocking on the
    secrets masker's round trip to the supervisor, which ``conn.extra_dejson`` would make on it)."""
    from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
    from airflow.providers.common.compat.sdk import AirflowNotFoundException

    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
    from airflow_provider_riffusion.settings import connection_settings, missing_connection

    try:
        conn = await get_async_connection(riffusion_conn_id, hook=RiffusionHook)
    except AirflowNotFoundException:
        raise missing_connection(riffusion_conn_id) from None
    extra = await get_async_extra_dejson(conn)
    return connection_settings(riffusion_conn_id, conn, extra, log)


class _RiffusionPollTrigger(BaseTrigger):
    """Common state and the wait; subclasses say what one check is."""

    def __init__(
        self,
        *,
        user_id: str | None = None,
        riffusion_conn_id: str = "riffusion_default",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deadline: float | None = None,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
    ) -> None:
        from airflow_provider_riffusion.wait_defaults import floored_interval

        super().__init__()
        self.user_id = user_id
        self.riffusion_conn_id = riffusion_conn_id
        self.poll_interval = floored_interval(float(poll_interval), self.log, "poll_interval")
        self.deadline = None if deadline is None else float(deadline)
        self.max_consecutive_errors = int(max_consecutive_errors)
        self._settings: RiffusionSettings | None = None

    def _common_kwargs(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "riffusion_conn_id": self.riffusion_conn_id,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "max_consecutive_errors": self.max_consecutive_errors,
        }

    def _poller(self, what: str) -> Poller[Any]:
        from airflow_provider_riffusion.polling import Poller

        return Poller(
            what,
            log=self.log,
            poll_interval=self.poll_interval,
            deadline=self.deadline,
            max_consecutive_errors=self.max_consecutive_errors,
        )

    async def _wait(self, poller: Poller[Any], check: Callable[[Request], Awaitable[Any]]) -> Any:
        """Run the poller with ``check`` against the API; returns the check's value once ready."""
        from airflow_provider_riffusion.polling import wait_async

        # aiohttp takes ~150 ms to import: the first wait of a triggerer imports it off the loop.
        transports = await asyncio.to_thread(
            importlib.import_module, "airflow_provider_riffusion.client.async_transport"
        )

        # The task checked once right before deferring, so the first poll waits too: a random part of
        # an interval, so that waits deferred together (or re-created together by a triggerer restart)
        # neither start nor poll in one burst that stalls the triggerer's loop.
        await asyncio.sleep(min(random.uniform(0.5, 1.0) * self.poll_interval, poller.pause()))
        self._settings = settings = await load_settings(self.riffusion_conn_id, self.log)
        transport = transports.AsyncTransport(settings, keepalive=max(60.0, 2 * self.poll_interval))
        await transport.open()

        async def request(endpoint: Endpoint, **arguments: Any) -> Any:
            call = endpoint.call(settings, self.user_id, **arguments)
            return await settings.retry.call_async(
                lambda attempt: transport.send(call, attempt), endpoint.should_retry, call.what
            )

        try:
            return await wait_async(poller, lambda: check(request))
        finally:
            await transport.close()

    async def _event(self, poller: Poller[Any], check: Callable[[Request], Awaitable[Any]], key: str) -> dict:
        """The wait's one event, whatever happened: the task must never hang deferred."""
        try:
            value = await self._wait(poller, check)
        except exceptions.RiffusionWaitTimeoutError as error:
            return {"status": "timeout", "message": _one_line(error)}
        except exceptions.RiffusionError as error:
            failed = isinstance(error, (exceptions.RiffusionUploadFailedError, exceptions.RiffusionSongFailedError))
            return {
                "status": "failed" if failed else "error",
                "message": _one_line(self._scrubbed(error)),
                "error_class": type(error).__name__,
                "http_status": error.http_status,
            }
        except Exception as error:
            # The event is stored in the metadata database: the token must not ride along.
            return {
                "status": "error",
                "message": f"{poller.what}: {type(error).__name__}: {_one_line(self._scrubbed(error))}",
            }
        return {"status": "success", "message": f"{poller.what} is done.", key: value}

    def _scrubbed(self, error: BaseException) -> BaseException:
        return self._settings.scrub(error) if self._settings is not None else error

    def abandons(self) -> str:
        """What this wait watches, for the log line of :meth:`on_kill`."""
        raise NotImplementedError

    async def on_kill(self) -> None:
        """Airflow 3.3+: the task was cleared or marked failed (or success) while deferred.

        The triggerer has already cancelled the wait, so polling stopped at once. The Riffusion API has
        no call that cancels a job, so the job goes on upstream: the log line names it, and a rerun of a
        durable task reattaches to it instead of paying for another.
        """
        self.log.warning(
            "Stopped waiting for %s: the task was cleared or marked while deferred. The Riffusion API has no "
            "cancel call, so the job goes on upstream; a rerun of the task reattaches to it (durable, Airflow 3.3+).",
            self.abandons(),
        )


class UploadCompletedTrigger(_RiffusionPollTrigger):
    """Poll an upload's status until it is processed (the sensor's rule), in the triggerer."""

    def __init__(self, *, job_id: str, fail_on_flagged: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.fail_on_flagged = bool(fail_on_flagged)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"job_id": self.job_id, "fail_on_flagged": self.fail_on_flagged, **self._common_kwargs()},
        )

    def abandons(self) -> str:
        return f"upload {self.job_id}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_riffusion.client.endpoints import UPLOAD_STATUS
        from airflow_provider_riffusion.polling import upload_result

        poller = self._poller(f"Upload {self.job_id}")

        async def check(request: Request) -> dict[str, Any] | None:
            status = await request(UPLOAD_STATUS, id=self.job_id)
            return upload_result(status, poller, fail_on_flagged=self.fail_on_flagged)

        yield TriggerEvent(await self._event(poller, check, "result"))


class SongsCompletedTrigger(_RiffusionPollTrigger):
    """Poll the songs of compose jobs until every one is completed, in the triggerer."""

    def __init__(self, *, job_ids: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_ids = [str(job_id) for job_id in job_ids]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"job_ids": list(self.job_ids), **self._common_kwargs()},
        )

    def abandons(self) -> str:
        return f"compose jobs {self.job_ids}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_riffusion.client.endpoints import SONGS, require_id
        from airflow_provider_riffusion.polling import SongsCheck

        poller = self._poller(f"Compose jobs {self.job_ids}")
        songs = SongsCheck(self.job_ids, poller)

        async def check(request: Request) -> list[dict[str, Any]] | None:
            for job_id in songs.jobs():
                if not songs.accept(job_id, await request(SONGS, id=job_id)):
                    return None
            return songs.songs()

        try:  # all of them, before any is polled: one empty id ends the wait now
            for job_id in self.job_ids:
                require_id("job_id", job_id)
        except exceptions.RiffusionInputError as error:
            yield TriggerEvent(
                {
                    "status": "error",
                    "message": _one_line(error),
                    "error_class": type(error).__name__,
                    "http_status": None,
                }
            )
            return
        yield TriggerEvent(await self._event(poller, check, "songs"))


class SlotAvailableTrigger(_RiffusionPollTrigger):
    """Poll ``GET scheduler/available`` until an account (``user_id``'s, when given) has a free job slot."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", self._common_kwargs())

    def abandons(self) -> str:
        return "a free job slot (nothing was started)"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_riffusion.client.endpoints import SCHEDULER_AVAILABLE

        poller = self._poller("A free job slot")
        account = self.user_id

        async def check(request: Request) -> int | None:
            free = (await request(SCHEDULER_AVAILABLE))["free"]
            slots = int(free.get(account, 0)) if account else sum(free.values())
            poller.note("Free job slots", slots)
            return slots or None

        yield TriggerEvent(await self._event(poller, check, "free"))


def result_from_event(event: Any, *, expected: str, sensor_timeout: bool = False, timed_out: Any = None) -> Any:
    """Validate a trigger's event; return its payload on success, raise the matching error otherwise.

    ``timed_out(message)`` makes the error of a timeout event (an operator's, which knows whether a
    retry would reattach); by default it is the fatal ``RiffusionFinalWaitTimeoutError``.
    """
    if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
        raise exceptions.RiffusionError(
            f"The trigger sent an event this provider does not understand: {event!r:.200}. "
            "Clear the task to run it again."
        )
    status, message = event["status"], str(event.get("message") or "no message")
    if status == "success":
        if expected not in event:
            raise exceptions.RiffusionError(f"The trigger's success event lacks '{expected}': {event!r:.200}.")
        return event[expected]
    if status == "timeout":
        if sensor_timeout:
            from airflow.providers.common.compat.sdk import AirflowSensorTimeout

            raise AirflowSensorTimeout(message)
        raise timed_out(message) if timed_out is not None else exceptions.RiffusionFinalWaitTimeoutError(message)
    error_class = getattr(exceptions, str(event.get("error_class")), None)
    if not (isinstance(error_class, type) and issubclass(error_class, exceptions.RiffusionError)):
        error_class = exceptions.RiffusionError
    raise error_class(message, http_status=event.get("http_status"))
