"""Operators that submit one job (an upload, song jobs) and may wait for it, crash-safe on Airflow 3.3+.

``ResumableJobMixin`` keeps what ``submit_job`` returned in the task state store right after the
request, before any wait; a retried, cleared or crashed try reads it back and reattaches (still
processing: wait again; done: the same output; failed or a changed input: submit afresh). On older
Airflow common-compat's stand-in submits on every try. Subclasses say what submitting, a stored job's
progress and the wait are; this class holds what the mixin leaves to every operator alike.

What is stored carries a format version (``STATE_VERSION``). A stored value this release cannot read
fails the task (``RiffusionStateError``), never a guess: a misread job could be submitted, and paid
for, a second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import ResumableJobMixin

from airflow_provider_riffusion.exceptions import RiffusionStateError
from airflow_provider_riffusion.operators._base import RiffusionBaseOperator
from airflow_provider_riffusion.services import SERVICES, Progress
from airflow_provider_riffusion.state_store import stored_problem

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

SUBMITTED = "submitted"
"""A stored job of a task that does not wait: what was submitted is the output."""
INPUT_CHANGED = "input-changed"
"""A stored job made of other input than this try's: never reattached."""
STATE_VERSION = 1
"""The format of a stored job. Release 0.2.0 stored the same fields without a version, so a value
without one is read as version 1."""


class DurableOperator(ResumableJobMixin, RiffusionBaseOperator):
    """The mixin's run and its verdicts, shared; ``poll_until_complete`` stores the output in ``_result``."""

    state_shape: ClassVar[Mapping[str, Any]] = {}
    """The fields of a stored job (format :data:`STATE_VERSION`) that reading it back relies on."""

    def run(self, context: Context) -> dict[str, Any]:
        self._result: dict[str, Any] | None = None
        self._check_stored(context)
        returned = self.execute_resumable(context)
        # The mixin returns poll_until_complete()'s None when it reconnects to a running job: the output
        # that poll stored is the task's either way.
        result = returned if returned is not None else self._result
        assert result is not None, "the mixin ran neither poll_until_complete nor get_job_result"
        return result

    def _check_stored(self, context: Context) -> None:
        """Refuse an unreadable stored job before the mixin looks: it takes a falsy value ("", 0, {}, [])
        for "nothing stored" and would submit again over it."""
        store = context.get("task_state_store") if self.durable else None
        if store is not None:
            kept = store.get(self.external_id_key)
            if kept is not None:
                self.stored_job(kept, context)

    def stored_job(self, external_id: Any, context: Context) -> dict[str, Any]:
        """The stored job, once this release can read it; otherwise the fatal ``RiffusionStateError``."""
        problem = stored_problem(external_id, {STATE_VERSION: self.state_shape})
        if problem is not None:
            raise RiffusionStateError.unreadable(
                self.external_id_key,
                self.task_id,
                context.get("ti"),
                problem,
                "set durable=False (every try then submits anew)",
            )
        return external_id

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

    def service_stamp(self) -> dict[str, str]:
        """What a stored job says of its service: nothing for Riffusion (as 0.2.0 stored it), else its name, so a
        job is never reattached through a connection since moved to another service."""
        name = self.hook.settings.service.NAME
        return {} if name == SERVICES[0] else {"service": name}

    def service_changed(self, external_id: Mapping[str, Any]) -> bool:
        return external_id.get("service", SERVICES[0]) != self.hook.settings.service.NAME

    def not_reattaching(self, job: str, external_id: Any, changed: str) -> str:
        """Say why an earlier try's job is left alone, and that it is submitted again."""
        self.log.warning(
            "Not reattaching to %s of try %s: the %s changed since. Submitting again.",
            job,
            external_id.get("try_number"),
            changed,
        )
        return INPUT_CHANGED
