"""Triggers: the waits of deferrable tasks, run in the triggerer through ``RiffusionAsyncHook``.

Each trigger serializes only JSON primitives (its classpath and kwargs are unchanged since
release 0.2.0, so a trigger stored by it is re-created and finishes under this one), yields exactly
one event of the vocabulary ``success`` / ``failed`` / ``error`` / ``timeout``, and never blocks the
event loop. The check is the same :class:`~airflow_provider_riffusion.waits.Wait` the sensors and the
operators' sync waits run, through the async hook. The deadline is absolute (epoch seconds), so a
trigger re-created after a triggerer restart keeps the deadline the task started with. Triggers only
read: uploads and compose requests happen on workers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from airflow.providers.common.compat.sdk import AirflowSensorTimeout
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_riffusion import exceptions
from airflow_provider_riffusion.hooks.riffusion import RiffusionAsyncHook
from airflow_provider_riffusion.waits import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
    Poller,
    SlotWait,
    SongsWait,
    UploadWait,
    Wait,
    floored_interval,
    wait_async,
)

E = TypeVar("E", bound=BaseException)
EVENT_STATUSES = frozenset({"success", "failed", "error", "timeout"})


def _one_line(error: BaseException) -> str:
    """An error's text folded onto one line, as every message of the provider is."""
    return " ".join(str(error).split())


def _error_event(error: exceptions.RiffusionError, status: str = "error") -> dict[str, Any]:
    return {
        "status": status,
        "message": _one_line(error),
        "error_class": type(error).__name__,
        "http_status": error.http_status,
    }


class _RiffusionPollTrigger(BaseTrigger):
    """Common state and the wait; subclasses say what is waited on (``waits()``) and the event's key."""

    event_key = "result"

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
        self.poll_interval = floored_interval(float(poll_interval), self.log, "poll_interval")
        self.deadline = None if deadline is None else float(deadline)
        self.max_consecutive_errors = int(max_consecutive_errors)

    def own_kwargs(self) -> dict[str, Any]:
        """What this kind of trigger adds to the common kwargs."""
        return {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        common = {
            "user_id": self.user_id,
            "riffusion_conn_id": self.riffusion_conn_id,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "max_consecutive_errors": self.max_consecutive_errors,
        }
        return f"{type(self).__module__}.{type(self).__qualname__}", {**self.own_kwargs(), **common}

    def waits(self) -> Wait[Any]:
        """What is waited on (built in ``run``: a bad id ends the wait with an error event, never a hang)."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            awaited = self.waits()
        except exceptions.RiffusionInputError as error:
            yield TriggerEvent(_error_event(error))
            return
        poller: Poller[Any] = Poller(
            awaited.what,
            log=self.log,
            poll_interval=self.poll_interval,
            deadline=self.deadline,
            max_consecutive_errors=self.max_consecutive_errors,
        )
        yield TriggerEvent(await self._event(poller, awaited))

    async def _event(self, poller: Poller[Any], awaited: Wait[Any]) -> dict[str, Any]:
        """The wait's one event, whatever happened: the task must never hang deferred."""
        hook = RiffusionAsyncHook(self.riffusion_conn_id)
        try:
            # The task checked once right before deferring, so the first poll waits too: a random part of an
            # interval, so that waits deferred together (or re-created together by a triggerer restart)
            # neither start nor poll in one burst that stalls the triggerer's loop.
            await asyncio.sleep(min(random.uniform(0.5, 1.0) * self.poll_interval, poller.pause()))
            async with hook:
                value = await wait_async(poller, lambda: awaited.check_async(hook, poller))
        except exceptions.RiffusionWaitTimeoutError as error:
            return {"status": "timeout", "message": _one_line(error)}
        except exceptions.RiffusionError as error:
            failed = isinstance(error, (exceptions.RiffusionUploadFailedError, exceptions.RiffusionSongFailedError))
            return _error_event(self._scrubbed(hook, error), "failed" if failed else "error")
        except Exception as error:
            # The event is stored in the metadata database: the token must not ride along.
            return {
                "status": "error",
                "message": f"{poller.what}: {type(error).__name__}: {_one_line(self._scrubbed(hook, error))}",
            }
        return {"status": "success", "message": f"{poller.what} is done.", self.event_key: value}

    @staticmethod
    def _scrubbed(hook: RiffusionAsyncHook, error: E) -> E:
        settings = hook._settings
        return settings.scrub(error) if settings is not None else error

    def abandons(self) -> str:
        """What this wait watches, for the log line of :meth:`on_kill`."""
        raise NotImplementedError

    async def on_kill(self) -> None:
        """Airflow 3.3+: the task was cleared or marked failed (or success) while deferred.

        The triggerer has already cancelled the wait, so polling stopped at once. The job goes on
        upstream (``on_kill`` also fires when a trigger moves between triggerers, so it stops nothing):
        the log line names it, and a rerun of a durable task reattaches to it instead of paying for another.
        """
        self.log.warning(
            "Stopped waiting for %s: the task was cleared or marked while deferred. The job goes on upstream; "
            "a rerun of the task reattaches to it (durable, Airflow 3.3+).",
            self.abandons(),
        )


class UploadCompletedTrigger(_RiffusionPollTrigger):
    """Poll an upload's status until it is processed (the sensor's rule), in the triggerer."""

    def __init__(self, *, job_id: str, fail_on_flagged: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.fail_on_flagged = bool(fail_on_flagged)

    def own_kwargs(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "fail_on_flagged": self.fail_on_flagged}

    def waits(self) -> UploadWait:
        return UploadWait(self.job_id, self.user_id, fail_on_flagged=self.fail_on_flagged)

    def abandons(self) -> str:
        return f"upload {self.job_id}"


class SongsCompletedTrigger(_RiffusionPollTrigger):
    """Poll the songs of compose jobs until every one is completed, in the triggerer."""

    event_key = "songs"

    def __init__(self, *, job_ids: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_ids = [str(job_id) for job_id in job_ids]

    def own_kwargs(self) -> dict[str, Any]:
        return {"job_ids": list(self.job_ids)}

    def waits(self) -> SongsWait:
        return SongsWait(self.job_ids, self.user_id)

    def abandons(self) -> str:
        return f"compose jobs {self.job_ids}"


class SlotAvailableTrigger(_RiffusionPollTrigger):
    """Poll the free job slots until the account has one: the task's ``user_id``, else the connection's
    default account (the hook's rule, on both doors), else any account."""

    event_key = "free"

    def waits(self) -> SlotWait:
        return SlotWait(self.user_id)

    def abandons(self) -> str:
        return "a free job slot (nothing was started)"


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
            raise AirflowSensorTimeout(message)
        raise timed_out(message) if timed_out is not None else exceptions.RiffusionFinalWaitTimeoutError(message)
    error_class = getattr(exceptions, str(event.get("error_class")), None)
    if not (isinstance(error_class, type) and issubclass(error_class, exceptions.RiffusionError)):
        error_class = exceptions.RiffusionError
    raise error_class(message, http_status=event.get("http_status"))
