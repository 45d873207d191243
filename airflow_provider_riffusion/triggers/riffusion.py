"""Triggers: the waits of deferrable tasks, polled in the triggerer with an async client.

Each trigger serializes only JSON primitives, yields exactly one event of the vocabulary
``success`` / ``failed`` / ``error`` / ``timeout``, and never blocks the event loop. The
deadline is absolute (epoch seconds), so a trigger re-created after a triggerer restart keeps
the deadline the task started with. Triggers only read: uploads happen on workers.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_riffusion import exceptions
from airflow_provider_riffusion.waiting import DEFAULT_MAX_CONSECUTIVE_ERRORS, DEFAULT_POLL_INTERVAL

if TYPE_CHECKING:
    from airflow_provider_riffusion.settings import RiffusionSettings

EVENT_STATUSES = frozenset({"success", "failed", "error", "timeout"})


def _one_line(error: BaseException) -> str:
    """An error's text folded onto one line, as every message of the provider is."""
    return " ".join(str(error).split())


class _RiffusionPollTrigger(BaseTrigger):
    """Common state and the poll loop; subclasses say what one check is."""

    def __init__(
        self,
        *,
        user_id: str | None = None,
        riffusion_conn_id: str = "riffusion_default",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deadline: float | None = None,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
    ) -> None:
        super().__init__()
        self.user_id = user_id
        self.riffusion_conn_id = riffusion_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.max_consecutive_errors = int(max_consecutive_errors)

    def _common_kwargs(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "riffusion_conn_id": self.riffusion_conn_id,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "max_consecutive_errors": self.max_consecutive_errors,
        }

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but never past the deadline."""
        if self.deadline is not None:
            seconds = min(seconds, self.deadline - time.time())
        await asyncio.sleep(max(0.0, seconds))

    async def _poll(self, check: Callable[[Any], Awaitable[dict[str, Any] | None]], what: str) -> dict[str, Any]:
        """Run ``check`` until it returns the success event; any ending becomes one event."""
        from airflow_provider_riffusion.async_client import RiffusionAsyncClient, load_settings
        from airflow_provider_riffusion.waiting import BLIP_ERRORS

        errors = 0
        settings: RiffusionSettings | None = None
        try:
            # The task checked once right before deferring, so the first poll waits too: a random part of
            # an interval, so that waits deferred together (or re-created together by a triggerer restart)
            # neither start nor poll in one burst that stalls the triggerer's loop.
            await self._sleep(random.uniform(0.5, 1.0) * self.poll_interval)
            settings = await load_settings(self.riffusion_conn_id)
            async with RiffusionAsyncClient(settings, self.poll_interval) as client:
                while True:
                    try:
                        event = await check(client)
                        errors = 0
                    except BLIP_ERRORS as error:
                        errors += 1
                        if errors > self.max_consecutive_errors:
                            raise
                        self.log.warning(
                            "%s: poll failed (%d in a row, limit %d): %s",
                            what,
                            errors,
                            self.max_consecutive_errors,
                            error,
                        )
                        event = None
                    if event is not None:
                        return event
                    remaining = None if self.deadline is None else self.deadline - time.time()
                    if remaining is not None and remaining <= 0:
                        return {
                            "status": "timeout",
                            "message": f"{what} did not finish before the task's timeout.",
                        }
                    await self._sleep(self.poll_interval)
        except exceptions.RiffusionError as error:
            failed = isinstance(error, (exceptions.RiffusionUploadFailedError, exceptions.RiffusionSongFailedError))
            return {
                "status": "failed" if failed else "error",
                "message": _one_line(settings.scrub(error) if settings else error),
                "error_class": type(error).__name__,
                "http_status": error.http_status,
            }
        except Exception as error:  # one event, whatever happened: the task must not hang deferred
            # The event is stored in the metadata database: the token must not ride along.
            return {
                "status": "error",
                "message": f"{what}: {type(error).__name__}: {_one_line(settings.scrub(error) if settings else error)}",
            }


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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_riffusion.waiting import upload_is_ready

        last: list[str] = []

        async def check(client: Any) -> dict[str, Any] | None:
            status = await client.get_upload_status(self.job_id, self.user_id)
            if last != [status["status"]]:
                self.log.info("Upload %s: status %r", self.job_id, status["status"])
                last[:] = [status["status"]]
            if upload_is_ready(status, fail_on_flagged=self.fail_on_flagged, log=self.log):
                return {
                    "status": "success",
                    "message": f"Upload {self.job_id} is processed.",
                    "result": status,
                }
            return None

        yield TriggerEvent(await self._poll(check, f"Upload {self.job_id}"))


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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_riffusion.responses import song_summary
        from airflow_provider_riffusion.waiting import require_id, songs_are_ready

        last: dict[str, list[str]] = {}

        async def check(client: Any) -> dict[str, Any] | None:
            for job_id in self.job_ids:  # all of them, before any is polled: one empty id ends the wait now
                require_id("job_id", job_id)
            songs: list[dict[str, Any]] = []
            for job_id in self.job_ids:
                job_songs = await client.get_songs(job_id, self.user_id)
                statuses = [str(song.get("status")) for song in job_songs]
                if last.get(job_id) != statuses:
                    self.log.info("Compose job %s: song status %s", job_id, statuses or "not created yet")
                    last[job_id] = statuses
                if not songs_are_ready(job_id, job_songs):
                    return None
                songs.extend(song_summary(song) for song in job_songs)
            return {"status": "success", "message": f"Songs of {self.job_ids} are completed.", "songs": songs}

        yield TriggerEvent(await self._poll(check, f"Compose jobs {self.job_ids}"))


def result_from_event(event: Any, *, expected: str, sensor_timeout: bool = False) -> Any:
    """Validate a trigger's event; return its payload on success, raise the matching error otherwise."""
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
        raise exceptions.RiffusionWaitTimeoutError(message + " Raise the task's timeout, or check the service.")
    error_class = getattr(exceptions, str(event.get("error_class")), None)
    if not (isinstance(error_class, type) and issubclass(error_class, exceptions.RiffusionError)):
        error_class = exceptions.RiffusionError
    raise error_class(message, http_status=event.get("http_status"))
