"""What the provider's sensors share: the hook, the poller and its error count, poke-once-then-defer.

A sensor only reads: its retries, reschedules and deferrals never submit anything, which is what
keeps a DAG that waits in a sensor task of its own safe on every Airflow version.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_riffusion.exceptions import RiffusionStateError
from airflow_provider_riffusion.hooks import UsesRiffusionHook
from airflow_provider_riffusion.state_store import COUNT, TEXTS, stored_problem
from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_riffusion.waits import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
    Outcome,
    Poller,
    Wait,
    floored_interval,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.triggers.base import BaseTrigger


ERRORS_KEY = "riffusion_consecutive_errors"
"""Where a rescheduled sensor keeps what its next poke goes on from (the task state store, Airflow 3.3+): its
count of failed polls in a row, and the status it last logged of each job, so a status is logged once while
it stays, not at every poke."""
POLL_STATE_VERSION = 2
"""The format of that value. Version 1 (release 0.2.0, no version field) holds ``try_number`` and
``errors``; version 2 adds ``statuses``."""


class RiffusionBaseSensor(UsesRiffusionHook, BaseSensorOperator):
    """Poke, reschedule or deferrable; subclasses say what is waited on, what the trigger is, and the event key."""

    event_key = "result"

    def __init__(
        self,
        *,
        user_id: str | None = None,
        riffusion_conn_id: str = "riffusion_default",
        max_consecutive_errors: int | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.poke_interval = floored_interval(float(self.poke_interval), self.log, "poke_interval")
        self.user_id = user_id
        self.riffusion_conn_id = riffusion_conn_id
        self.max_consecutive_errors = _checked_error_limit(self.task_id, self.mode, deferrable, max_consecutive_errors)
        self.deferrable = deferrable

    def waits(self) -> Wait[Any]:
        """What is waited on, as rendered for this try."""
        raise NotImplementedError

    def check(self, poller: Poller[Any]) -> Any:
        """One check: the result once done, None while it is not."""
        return self.waits().check(self.hook, poller)

    def trigger(self, deadline: float) -> BaseTrigger:
        """The trigger a deferrable wait hands over to."""
        raise NotImplementedError

    def _poller(self, context: Context) -> Poller[Any]:
        """The wait's rules, created at the first poke; a rescheduled sensor reads its blip count and the
        statuses it logged back."""
        if not hasattr(self, "_poll_state"):
            errors, statuses = _carried(self, context)
            self._poll_state: Poller[Any] = Poller(
                self.waits().what,
                log=self.log,
                poll_interval=float(self.poke_interval),
                max_consecutive_errors=self.max_consecutive_errors,
                errors=errors,
                statuses=statuses,
            )
        return self._poll_state

    def poke(self, context: Context) -> PokeReturnValue:
        poller = self._poller(context)
        before = (poller.errors, poller.statuses)
        try:
            result = poller.observe(Outcome.of(lambda: self.check(poller)))
        finally:
            store = _state_store(self, context)
            if store is not None and (poller.errors, poller.statuses) != before:
                kept = {"try_number": _try_number(context), "errors": poller.errors, "statuses": poller.statuses}
                store.set(ERRORS_KEY, {"version": POLL_STATE_VERSION, **kept})
        return PokeReturnValue(is_done=result is not None, xcom_value=result)

    def execute(self, context: Context) -> Any:
        try:
            if not self.deferrable:
                return super().execute(context)
            # Poke once on the worker: a job that is already done needs no triggerer round trip.
            first = self.poke(context)
            if first.is_done:
                return first.xcom_value
            self.defer(
                # The deferral timeout ends the wait as a sensor timeout; the trigger's own deadline is
                # the same instant, from the same setting, so the two cannot disagree.
                trigger=self.trigger(time.time() + float(self.timeout)),
                method_name="execute_complete",
                timeout=timedelta(seconds=float(self.timeout)),
            )
        finally:
            self.hook.close()

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: its one event is validated before use."""
        from airflow_provider_riffusion.triggers.riffusion import result_from_event

        return result_from_event(event, expected=self.event_key, sensor_timeout=True)

    def trigger_kwargs(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "riffusion_conn_id": self.riffusion_conn_id,
            "poll_interval": float(self.poke_interval),
            "max_consecutive_errors": self.max_consecutive_errors,
        }


def _state_store(sensor: RiffusionBaseSensor, context: Context) -> Any:
    """The task state store when the count must outlive a poke (reschedule mode, Airflow 3.3+), else None."""
    return context.get("task_state_store") if sensor.mode == "reschedule" else None


def _try_number(context: Context) -> int:
    return int(getattr(context.get("ti"), "try_number", 0) or 0)


def _carried(sensor: RiffusionBaseSensor, context: Context) -> tuple[int, dict[str, str]]:
    """The failed polls in a row and the statuses logged by this try's earlier pokes; the store outlives
    tries, what it keeps does not. A value this release cannot read fails the task, naming the key."""
    store = _state_store(sensor, context)
    kept = store.get(ERRORS_KEY) if store is not None else None
    if kept is None:
        return 0, {}
    counts = {"try_number": COUNT, "errors": COUNT}
    problem = stored_problem(kept, {1: counts, POLL_STATE_VERSION: {**counts, "statuses": TEXTS}})
    if problem is not None:
        instead = "use mode='poke' (which keeps nothing there)"
        raise RiffusionStateError.unreadable(ERRORS_KEY, sensor.task_id, context.get("ti"), problem, instead)
    if kept["try_number"] != _try_number(context):
        return 0, {}
    return kept["errors"], dict(kept.get("statuses", {}))


def _checked_error_limit(task_id: str, mode: str, deferrable: bool, given: int | None) -> int:
    """``max_consecutive_errors``, refused where it cannot be honoured (reschedule mode before Airflow 3.3)."""
    if mode != "reschedule" or deferrable or AIRFLOW_V_3_3_PLUS:
        return DEFAULT_MAX_CONSECUTIVE_ERRORS if given is None else int(given)
    if given:
        raise ValueError(
            f"{task_id}: max_consecutive_errors={given} cannot be kept across reschedules before Airflow 3.3 "
            "(no task state store): leave it unset (a failed poke then fails the task), or use mode='poke'."
        )
    return 0
