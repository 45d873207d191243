"""What the provider's operators share: the hook and its session, and the wait (sync or deferred).

Imported at every DAG parse, so only Airflow's base classes and the provider's light modules
are imported at module level; the hook, HTTP clients and triggers load when a task runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_riffusion.exceptions import (
    RiffusionFinalWaitTimeoutError,
    RiffusionNotFoundError,
    RiffusionWaitTimeoutError,
)
from airflow_provider_riffusion.hooks import UsesRiffusionHook
from airflow_provider_riffusion.services import Progress
from airflow_provider_riffusion.waits import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
    Outcome,
    Poller,
    Wait,
    floored_interval,
    is_blip,
    wait,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.triggers.base import BaseTrigger


T = TypeVar("T")


def seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def fingerprint(value: Any) -> str:
    """A sha256 of JSON-able input, to tell a retry's request from an earlier try's."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def try_number(context: Context) -> int | None:
    return getattr(context.get("ti"), "try_number", None)


def stored_job_progress(log: Any, read: Callable[[], Progress]) -> Progress:
    """Where an earlier try's job stands. A blip reading it reattaches anyway (the wait rides blips out);
    a job the API does not know is treated as failed, so the task submits afresh."""
    try:
        return read()
    except RiffusionNotFoundError as error:
        log.warning("The job of an earlier try is unknown to the API (%s).", error)
        return Progress.FAILED
    except Exception as error:
        if not is_blip(error):
            raise
        log.warning("Could not read the job of an earlier try (%s): reattaching, the wait rides it out.", error)
        return Progress.PENDING


class RiffusionBaseOperator(UsesRiffusionHook, BaseOperator):
    """The hook (one HTTP session per task, closed when ``execute`` ends), and the wait settings."""

    def __init__(
        self,
        *,
        riffusion_conn_id: str = "riffusion_default",
        user_id: str | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        **kwargs: Any,
    ) -> None:
        # Each output key is also its own XCom, so DAGs chain with ``task.output["job_id"]``.
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.riffusion_conn_id = riffusion_conn_id
        self.user_id = user_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.timeout = seconds(timeout)
        if seconds(poll_interval) < 0 or self.timeout <= 0:
            raise ValueError(
                f"{self.task_id}: poll_interval must not be negative and timeout must be positive seconds."
            )
        self.poll_interval = floored_interval(seconds(poll_interval), self.log, "poll_interval")
        self.max_consecutive_errors = max_consecutive_errors

    def execute(self, context: Context) -> Any:
        try:
            return self.run(context)
        finally:
            self.hook.close()

    def run(self, context: Context) -> Any:
        """The task's work; ``execute`` closes the hook's session after it, however it ends."""
        raise NotImplementedError

    def poller(self, what: str) -> Poller[Any]:
        """A wait that ends at ``timeout`` from now (epoch seconds: a trigger re-created later keeps it)."""
        return Poller(
            what,
            log=self.log,
            poll_interval=self.poll_interval,
            deadline=time.time() + self.timeout,
            max_consecutive_errors=self.max_consecutive_errors,
        )

    def wait_or_defer(
        self,
        context: Context,
        awaited: Wait[T],
        trigger: Callable[[float], BaseTrigger],
        resume_with: dict[str, Any],
        method_name: str = "execute_complete",
        what: str | None = None,
    ) -> T:
        """Wait on the worker, or check once and defer to ``trigger(deadline)``, resuming in ``execute_complete``.

        The check before deferring counts a blip as "not ready yet", never as a failed task: a
        retried task would upload or compose a second time.
        """
        poller = self.poller(what or awaited.what)

        def check() -> T | None:
            return awaited.check(self.hook, poller)

        try:
            if not self.deferrable:
                return wait(poller, check)
            result = poller.observe(Outcome.of(check))
        except RiffusionWaitTimeoutError as error:
            raise self.timed_out(context, str(error)) from None
        if result is not None:
            return result
        assert poller.deadline is not None
        self.defer(trigger=trigger(poller.deadline), method_name=method_name, kwargs=resume_with)
        raise AssertionError("unreachable: defer() raises TaskDeferred")  # pragma: no cover

    def reattaches(self, context: Context) -> bool:
        """Whether a retry of this task finds its job again (durable, with Airflow 3.3's task state store)."""
        return bool(getattr(self, "durable", False)) and context.get("task_state_store") is not None

    def timed_out(self, context: Context, message: str) -> Exception:
        """A wait's timeout: worth an Airflow retry only when the retry reattaches instead of submitting again."""
        if self.reattaches(context):
            return RiffusionWaitTimeoutError(f"{message} A retry of the task waits for the same job again.")
        return RiffusionFinalWaitTimeoutError(f"{message} A retry would submit the job again, so none is made.")

    def trigger_kwargs(self) -> dict[str, Any]:
        """What every trigger of the provider takes from the operator."""
        return {
            "user_id": self.user_id,
            "riffusion_conn_id": self.riffusion_conn_id,
            "poll_interval": self.poll_interval,
            "max_consecutive_errors": self.max_consecutive_errors,
        }
