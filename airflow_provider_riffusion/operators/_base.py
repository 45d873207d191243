"""What the provider's operators share: the hook and its session, and the wait (sync or deferred).

Imported at every DAG parse, so only Airflow's base classes and the provider's light modules
are imported at module level; the hook, HTTP clients and triggers load when a task runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_riffusion.polling import DEFAULT_MAX_CONSECUTIVE_ERRORS, DEFAULT_POLL_INTERVAL

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
    from airflow_provider_riffusion.polling import Poller

T = TypeVar("T")


def seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class RiffusionBaseOperator(BaseOperator):
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
        from airflow_provider_riffusion.polling import floored_interval

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

    @property
    def hook(self) -> RiffusionHook:
        """A hook per operator instance (and so one HTTP session for the task's calls)."""
        if not hasattr(self, "_hook"):
            from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

            self._hook = RiffusionHook(riffusion_conn_id=self.riffusion_conn_id)
        return self._hook

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
        import time

        from airflow_provider_riffusion.polling import Poller

        return Poller(
            what,
            log=self.log,
            poll_interval=self.poll_interval,
            deadline=time.time() + self.timeout,
            max_consecutive_errors=self.max_consecutive_errors,
        )

    def wait_or_defer(
        self,
        poller: Poller[T],
        check: Callable[[], T | None],
        trigger: Callable[[float], BaseTrigger],
        resume_with: dict[str, Any],
    ) -> T:
        """Wait on the worker, or check once and defer to ``trigger(deadline)``, resuming in ``execute_complete``.

        The check before deferring counts a blip as "not ready yet", never as a failed task: a
        retried task would upload or compose a second time.
        """
        from airflow_provider_riffusion.polling import Outcome, wait

        if not self.deferrable:
            return wait(poller, check)
        result = poller.observe(Outcome.of(check))
        if result is not None:
            return result
        assert poller.deadline is not None
        self.defer(trigger=trigger(poller.deadline), method_name="execute_complete", kwargs=resume_with)
        raise AssertionError("unreachable: defer() raises TaskDeferred")  # pragma: no cover

    def trigger_kwargs(self) -> dict[str, Any]:
        """What every trigger of the provider takes from the operator."""
        return {
            "user_id": self.user_id,
            "riffusion_conn_id": self.riffusion_conn_id,
            "poll_interval": self.poll_interval,
            "max_consecutive_errors": self.max_consecutive_errors,
        }
