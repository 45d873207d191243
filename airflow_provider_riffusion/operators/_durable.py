"""Operators that submit one job (an upload, song jobs) and may wait for it, crash-safe on Airflow 3.3+.

``ResumableJobMixin`` keeps what ``submit_job`` returned in the task state store right after the
request, before any wait; a retried, cleared or crashed try reads it back and reattaches (still
processing: wait again; done: the same output; failed or a changed input: submit afresh). On older
Airflow common-compat's stand-in submits on every try. Subclasses say what submitting, a stored job's
progress and the wait are; this class holds what the mixin leaves to every operator alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import ResumableJobMixin

from airflow_provider_riffusion.operators._base import RiffusionBaseOperator
from airflow_provider_riffusion.statuses import Progress

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

SUBMITTED = "submitted"
"""A stored job of a task that does not wait: what was submitted is the output."""
INPUT_CHANGED = "input-changed"
"""A stored job made of other input than this try's: never reattached."""


class DurableOperator(ResumableJobMixin, RiffusionBaseOperator):
    """The mixin's run and its verdicts, shared; ``poll_until_complete`` stores the output in ``_result``."""

    def run(self, context: Context) -> dict[str, Any]:
        self._result: dict[str, Any] | None = None
        returned = self.execute_resumable(context)
        # The mixin returns poll_until_complete()'s None when it reconnects to a running job: the output
        # that poll stored is the task's either way.
        result = returned if returned is not None else self._result
        assert result is not None, "the mixin ran neither poll_until_complete nor get_job_result"
        return result

    def is_job_active(self, status: str) -> bool:
        return status == Progress.PENDING.value

    def is_job_succeeded(self, status: str) -> bool:
        return status in (SUBMITTED, Progress.READY.value, Progress.UNKNOWN_READY.value)

    def get_job_result(self, external_id: Any, context: Context) -> dict[str, Any]:
        """The same output the first try gave (a job found done is read once more)."""
        if self._result is None:
            self.poll_until_complete(external_id, context)
        assert self._result is not None
        return self._result

    def not_reattaching(self, job: str, external_id: Any, changed: str) -> str:
        """Say why an earlier try's job is left alone, and that it is submitted again."""
        self.log.warning(
            "Not reattaching to %s of try %s: the %s changed since. Submitting again.",
            job,
            external_id.get("try_number"),
            changed,
        )
        return INPUT_CHANGED
