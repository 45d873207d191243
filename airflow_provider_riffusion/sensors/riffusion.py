"""Sensors: wait until the service has processed an upload, or finished the songs of a compose.

A DAG that uploads (or composes) without waiting and waits in one of these sensors is safe on every
Airflow version: a retry of the wait reads the same job again, it never submits one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_riffusion.sensors._base import ERRORS_KEY, RiffusionBaseSensor
from airflow_provider_riffusion.waits import DEFAULT_SONGS_TIMEOUT, DEFAULT_UPLOAD_TIMEOUT, SongsWait, UploadWait

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

__all__ = ["ERRORS_KEY", "SongsCompletedSensor", "UploadCompletedSensor"]


class UploadCompletedSensor(RiffusionBaseSensor):
    """
    Wait until an upload is processed (``status`` other than pending), in poke, reschedule or deferrable mode.

    ``pending`` (or empty, ``processing``, ``queued``) keeps waiting; ``complete``/``completed`` is
    ready; ``failed``/``error``/``cancelled`` fails the task at once, without retries; any other
    word counts as ready, with a warning naming it.

    :param job_id: The upload's ``job_id`` output (templated).
    :param user_id: The account (templated; an email on Flow Music); defaults to the connection's ``user_id``.
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
        fail_on_flagged: bool = False,
        timeout: float | timedelta = DEFAULT_UPLOAD_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        # Each output key is also its own XCom, so DAGs chain with ``task.output["lyrics"]``.
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(timeout=timeout, **kwargs)
        self.job_id = job_id
        self.fail_on_flagged = fail_on_flagged

    def waits(self) -> UploadWait:
        return UploadWait(self.job_id, self.user_id, fail_on_flagged=self.fail_on_flagged)

    def trigger(self, deadline: float) -> BaseTrigger:
        from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger

        return UploadCompletedTrigger(
            job_id=self.waits().job_id,
            deadline=deadline,
            fail_on_flagged=self.fail_on_flagged,
            **self.trigger_kwargs(),
        )


class SongsCompletedSensor(RiffusionBaseSensor):
    """
    Wait until every song of compose jobs is ``completed``, in poke, reschedule or deferrable mode.

    The wait of ``CreateComposeOperator(wait_for_completion=True)`` as a task of its own: compose
    with ``wait_for_completion=False`` and wait here, and a retry of the wait never composes again
    (on Airflow before 3.3, where the operator cannot reattach, this is how to keep a retry free).

    :param job_ids: The compose's ``job_ids`` output (templated).
    :param user_id: The account (templated; an email on Flow Music); defaults to the connection's ``user_id``.

    Returns ``job_ids`` and ``songs`` (each with ``id``, ``title``, ``status``, ``download_url`` and
    the API's other fields). Other parameters as for ``UploadCompletedSensor``.
    """

    template_fields: Sequence[str] = ("job_ids", "user_id")
    ui_color = "#d1e7ff"
    event_key = "songs"

    def __init__(self, *, job_ids: Any, timeout: float | timedelta = DEFAULT_SONGS_TIMEOUT, **kwargs: Any) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(timeout=timeout, **kwargs)
        self.job_ids = job_ids

    def waits(self) -> SongsWait:
        return SongsWait(self.job_ids, self.user_id)

    def check(self, poller: Any) -> dict[str, Any] | None:
        awaited = self.waits()
        songs = awaited.check(self.hook, poller)
        return None if songs is None else {"job_ids": awaited.job_ids, "songs": songs}

    def trigger(self, deadline: float) -> BaseTrigger:
        from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger

        return SongsCompletedTrigger(job_ids=self.waits().job_ids, deadline=deadline, **self.trigger_kwargs())

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"job_ids": self.waits().job_ids, "songs": super().execute_complete(context, event)}
