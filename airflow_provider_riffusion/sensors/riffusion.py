"""UploadCompletedSensor: wait until the service has processed an uploaded track."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_riffusion.polling import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_UPLOAD_TIMEOUT,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
    from airflow_provider_riffusion.polling import Poller

ERRORS_KEY = "riffusion_consecutive_errors"
"""Where a rescheduled sensor keeps its count of failed polls in a row (the task state store)."""


class UploadCompletedSensor(BaseSensorOperator):
    """
    Wait until an upload is processed (``status`` other than pending), in poke, reschedule or deferrable mode.

    ``pending`` (or empty, ``processing``, ``queued``) keeps waiting; ``complete``/``completed`` is
    ready; ``failed``/``error``/``cancelled`` fails the task at once, without retries; any other
    word counts as ready, with a warning naming it.

    :param job_id: The upload's ``job_id`` output (templated).
    :param user_id: The Riffusion account (templated); defaults to the connection's ``user_id``.
    :param fail_on_flagged: Fail when the upload is flagged (likely a copyright match).
    :param max_consecutive_errors: Transient poll failures tolerated in a row (after the hook's
        own retries) before the sensor fails (default 3). In reschedule mode the count is kept
        across reschedules in the task state store (Airflow 3.3+); older Airflow has nowhere to
        keep it, so there a failed poke fails the task, and the parameter is refused.
    :param deferrable: Wait in the triggerer (default from ``[operators] default_deferrable``);
        ``timeout`` then becomes the deferral's timeout, so it still ends as a sensor timeout.
    :param poke_interval: Seconds between polls; at least ``[riffusion] min_poll_interval`` (1 s).

    Returns ``job_id``, ``audio_upload_id``, ``status``, ``lyrics``, ``is_flagged`` and the raw
    ``response``.
    """

    template_fields: Sequence[str] = ("job_id", "user_id")
    ui_color = "#e8d1ff"

    def __init__(
        self,
        *,
        job_id: str,
        user_id: str | None = None,
        riffusion_conn_id: str = "riffusion_default",
        fail_on_flagged: bool = False,
        max_consecutive_errors: int | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta = DEFAULT_UPLOAD_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_riffusion.polling import floored_interval

        # Each output key is also its own XCom, so DAGs chain with ``task.output["lyrics"]``.
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.poke_interval = floored_interval(float(self.poke_interval), self.log, "poke_interval")
        self.job_id = job_id
        self.user_id = user_id
        self.riffusion_conn_id = riffusion_conn_id
        self.fail_on_flagged = fail_on_flagged
        self.max_consecutive_errors = _checked_error_limit(self.task_id, self.mode, deferrable, max_consecutive_errors)
        self.deferrable = deferrable

    @property
    def hook(self) -> RiffusionHook:
        """A hook per sensor instance (and so one HTTP session for every poke of one ``execute``)."""
        if not hasattr(self, "_hook"):
            from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

            self._hook = RiffusionHook(riffusion_conn_id=self.riffusion_conn_id)
        return self._hook

    def _poller(self, context: Context) -> Poller[Any]:
        """The wait's rules, created at the first poke; a rescheduled sensor reads its blip count back."""
        if not hasattr(self, "_poll_state"):
            from airflow_provider_riffusion.polling import Poller

            self._poll_state: Poller[Any] = Poller(
                "Upload",
                log=self.log,
                poll_interval=float(self.poke_interval),
                max_consecutive_errors=self.max_consecutive_errors,
                errors=_carried_errors(self, context),
            )
        return self._poll_state

    def poke(self, context: Context) -> PokeReturnValue:
        from airflow_provider_riffusion.client.endpoints import require_id
        from airflow_provider_riffusion.polling import Outcome, upload_result

        job_id = require_id("job_id", self.job_id)
        poller = self._poller(context)
        poller.what = f"Upload {job_id}"
        errors_before = poller.errors
        try:
            status = poller.observe(
                Outcome.of(
                    lambda: upload_result(
                        self.hook.get_upload_status(job_id, self.user_id), poller, fail_on_flagged=self.fail_on_flagged
                    )
                )
            )
        finally:
            store = _state_store(self, context)
            if store is not None and poller.errors != errors_before:
                store.set(ERRORS_KEY, {"try_number": _try_number(context), "errors": poller.errors})
        return PokeReturnValue(is_done=status is not None, xcom_value=status)

    def execute(self, context: Context) -> Any:
        try:
            if not self.deferrable:
                return super().execute(context)
            # Poke once on the worker: a track that is already processed needs no triggerer round trip.
            first = self.poke(context)
            if first.is_done:
                return first.xcom_value
            self._defer()
        finally:
            self.hook.close()

    def _defer(self) -> None:
        import time

        from airflow_provider_riffusion.client.endpoints import require_id
        from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger

        self.defer(
            trigger=UploadCompletedTrigger(
                job_id=require_id("job_id", self.job_id),
                user_id=self.user_id,
                riffusion_conn_id=self.riffusion_conn_id,
                poll_interval=float(self.poke_interval),
                # The deferral timeout below ends the wait as a sensor timeout; the trigger's own
                # deadline is the same instant, from the same setting, so the two cannot disagree.
                deadline=time.time() + float(self.timeout),
                fail_on_flagged=self.fail_on_flagged,
                max_consecutive_errors=self.max_consecutive_errors,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: its one event is validated before use."""
        from airflow_provider_riffusion.triggers.riffusion import result_from_event

        return result_from_event(event, expected="result", sensor_timeout=True)


def _state_store(sensor: UploadCompletedSensor, context: Context) -> Any:
    """The task state store when the count must outlive a poke (reschedule mode, Airflow 3.3+), else None."""
    return context.get("task_state_store") if sensor.mode == "reschedule" else None


def _try_number(context: Context) -> int:
    return int(getattr(context.get("ti"), "try_number", 0) or 0)


def _carried_errors(sensor: UploadCompletedSensor, context: Context) -> int:
    """The failed polls in a row of this try's earlier pokes; the store outlives tries, the count does not."""
    store = _state_store(sensor, context)
    kept = store.get(ERRORS_KEY) if store is not None else None
    if isinstance(kept, dict) and kept.get("try_number") == _try_number(context):
        return int(kept.get("errors") or 0)
    return 0


def _checked_error_limit(task_id: str, mode: str, deferrable: bool, given: int | None) -> int:
    """``max_consecutive_errors``, refused where it cannot be honoured (reschedule mode before Airflow 3.3)."""
    from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_3_PLUS

    if mode != "reschedule" or deferrable or AIRFLOW_V_3_3_PLUS:
        return DEFAULT_MAX_CONSECUTIVE_ERRORS if given is None else int(given)
    if given:
        raise ValueError(
            f"{task_id}: max_consecutive_errors={given} cannot be kept across reschedules before Airflow 3.3 "
            "(no task state store): leave it unset (a failed poke then fails the task), or use mode='poke'."
        )
    return 0
