"""UploadCompletedSensor: wait until the service has processed an uploaded track."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_riffusion.waiting import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_UPLOAD_TIMEOUT,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook


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
        own retries) before the sensor fails. Counted per run of ``poke`` mode; in reschedule
        mode each reschedule starts afresh.
    :param deferrable: Wait in the triggerer (default from ``[operators] default_deferrable``);
        ``timeout`` then becomes the deferral's timeout, so it still ends as a sensor timeout.

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
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta = DEFAULT_UPLOAD_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        # Each output key is also its own XCom, so DAGs chain with ``task.output["lyrics"]``.
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.job_id = job_id
        self.user_id = user_id
        self.riffusion_conn_id = riffusion_conn_id
        self.fail_on_flagged = fail_on_flagged
        self.max_consecutive_errors = max_consecutive_errors
        self.deferrable = deferrable
        self._consecutive_errors = 0
        self._last_status: str | None = None

    @property
    def hook(self) -> RiffusionHook:
        if not hasattr(self, "_hook"):
            from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

            self._hook = RiffusionHook(riffusion_conn_id=self.riffusion_conn_id)
        return self._hook

    def poke(self, context: Context) -> PokeReturnValue:
        from airflow_provider_riffusion.waiting import BLIP_ERRORS, require_id, upload_is_ready

        job_id = require_id("job_id", self.job_id)
        try:
            status = self.hook.get_upload_status(job_id, self.user_id)
        except BLIP_ERRORS as error:
            self._consecutive_errors += 1
            if self._consecutive_errors > self.max_consecutive_errors:
                raise
            self.log.warning(
                "Upload %s: poll failed (%d in a row, limit %d): %s",
                job_id,
                self._consecutive_errors,
                self.max_consecutive_errors,
                error,
            )
            return PokeReturnValue(is_done=False)
        self._consecutive_errors = 0
        if status["status"] != self._last_status:
            self.log.info("Upload %s: status %r", job_id, status["status"])
            self._last_status = status["status"]
        if upload_is_ready(status, fail_on_flagged=self.fail_on_flagged, log=self.log):
            return PokeReturnValue(is_done=True, xcom_value=status)
        return PokeReturnValue(is_done=False)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        # Poke once on the worker: a track that is already processed needs no triggerer round trip.
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        import time

        from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger
        from airflow_provider_riffusion.waiting import require_id

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
