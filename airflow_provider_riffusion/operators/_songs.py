"""What the operators that start songs share (compose, prompt): a free slot, the durable submission, the
wait for the songs, and their delivery into storage.

``ResumableJobMixin`` persists the jobs right after the request, before any wait, so a retried,
cleared or crashed try reattaches instead of paying again; a changed request is never reattached.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator, BaseOperatorLink

from airflow_provider_riffusion.delivery import check_format
from airflow_provider_riffusion.operators._base import fingerprint, stored_job_progress, try_number
from airflow_provider_riffusion.operators._durable import STATE_VERSION, SUBMITTED, DurableOperator
from airflow_provider_riffusion.services import Progress, songs_progress, worst
from airflow_provider_riffusion.state_store import IDS, TEXT
from airflow_provider_riffusion.waits import DEFAULT_SONGS_TIMEOUT, SlotWait, SongsWait

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, TaskInstanceKey

SONG_URL_XCOM_KEY = "riffusion_song_url"


class RiffusionSongsLink(BaseOperatorLink):
    """A button on the task that opens the first song."""

    name = "Riffusion song"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.providers.common.compat.sdk import XCom

        url = XCom.get_value(ti_key=ti_key, key=SONG_URL_XCOM_KEY)
        return str(url) if url else ""


class SongsJobOperator(DurableOperator):
    """Start song jobs (``submit``), optionally after a free slot, wait for the songs, store them."""

    operator_extra_links = (RiffusionSongsLink(),)
    kind = "compose"
    """What the jobs are called in log lines ("compose jobs [...]")."""
    state_shape: ClassVar[Mapping[str, Any]] = {"jobs": {"job_ids": IDS}, "request": TEXT}

    def __init__(
        self,
        *,
        wait_for_slot: bool = False,
        download_to: Any = None,
        download_format: str = "mp3",
        destination_conn_id: str | None = None,
        timeout: float | timedelta = DEFAULT_SONGS_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, **kwargs)
        self.wait_for_slot = wait_for_slot
        self.download_to = download_to
        self.download_format = check_format(download_format)
        self.destination_conn_id = destination_conn_id
        if download_to is not None and not self.wait_for_completion:
            raise ValueError(f"{self.task_id}: download_to needs wait_for_completion=True (songs download once done).")

    def request_fields(self) -> dict[str, Any]:
        """Everything the request is made of, as rendered for this try."""
        raise NotImplementedError

    def submit(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Send the request: ``job_ids`` and the raw ``response``."""
        raise NotImplementedError

    # -- the task --

    def run(self, context: Context) -> dict[str, Any]:
        # The "Riffusion song" link reads this key whenever Airflow renders links (also while
        # deferred): an empty value until a song exists, rather than an XCom-not-found error.
        context["ti"].xcom_push(key=SONG_URL_XCOM_KEY, value="")
        return super().run(context)

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Start the jobs (after a free slot, when asked); what is returned is stored before the wait begins."""
        if self.wait_for_slot:
            self.wait_for_free_slot(context)
        result = self.submit(self.request_fields())
        return {
            "version": STATE_VERSION,
            "jobs": result,
            "request": fingerprint(self.request_fields()),
            "try_number": try_number(context),
            **self.service_stamp(),
        }

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """An earlier try's jobs, if made of the same request: their progress; otherwise "input-changed"."""
        job_ids = self.stored_job(external_id, context)["jobs"]["job_ids"]
        if self.service_changed(external_id):
            return self.not_reattaching(f"{self.kind} jobs {job_ids}", external_id, "connection's service")
        if external_id.get("request") != fingerprint(self.request_fields()):
            return self.not_reattaching(f"{self.kind} jobs {job_ids}", external_id, "request")
        if not self.wait_for_completion:
            return SUBMITTED
        service = self.hook.settings.service
        progress = stored_job_progress(
            self.log, lambda: worst([songs_progress(service, self._song_words(job_id)) for job_id in job_ids])
        )
        if progress is Progress.FAILED:
            self.log.warning("%s jobs %s of an earlier try failed: starting them again.", self.kind, job_ids)
        return progress.value

    def _song_words(self, job_id: str) -> list[Any]:
        return [song.get("status") for song in self.hook.get_songs(job_id, self.user_id)]

    def poll_until_complete(self, external_id: Any, context: Context) -> None:
        """The output of the task: the jobs, and once every song is done (``wait_for_completion``) the songs."""
        result = external_id["jobs"]
        if not self.wait_for_completion:
            self._result = result
            return
        context["ti"].xcom_push(key="job_ids", value=result["job_ids"])
        self._result = self.with_songs(context, result, self.wait_for_songs(context, result))

    # -- the waits --

    def wait_for_free_slot(self, context: Context) -> None:
        """Until an account has a free job slot: on the worker, or (deferrable) in the triggerer."""
        from airflow_provider_riffusion.triggers.riffusion import SlotAvailableTrigger

        self.wait_or_defer(
            context,
            SlotWait(self.user_id),
            lambda deadline: SlotAvailableTrigger(deadline=deadline, **self.trigger_kwargs()),
            {},
            method_name="execute_after_slot",
            what=f"A free job slot for the {self.kind}",
        )

    def execute_after_slot(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """A slot came free while deferred: start the task over (a stored job is still reattached first)."""
        from airflow_provider_riffusion.triggers.riffusion import result_from_event

        result_from_event(event, expected="free", timed_out=lambda message: self.timed_out(context, message))
        self.wait_for_slot = False  # checked just now; a 429 on the request itself is retried anyway
        return self.execute(context)

    def wait_for_songs(self, context: Context, result: dict[str, Any]) -> list[dict[str, Any]]:
        from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger

        job_ids = result["job_ids"]
        return self.wait_or_defer(
            context,
            SongsWait(job_ids, self.user_id),
            lambda deadline: SongsCompletedTrigger(job_ids=job_ids, deadline=deadline, **self.trigger_kwargs()),
            {"compose": result},
            what=f"{self.kind.capitalize()} jobs {job_ids}",
        )

    def with_songs(self, context: Context, result: dict[str, Any], songs: list[dict[str, Any]]) -> dict[str, Any]:
        """The output with the songs (and, with ``download_to``, the files they were stored as)."""
        first_url = next((song.get("share_url") or song.get("download_url") for song in songs), None)
        if first_url:
            context["ti"].xcom_push(key=SONG_URL_XCOM_KEY, value=first_url)
        for song in songs:
            self.log.info("Song %s %r: %s", song.get("id"), song.get("title"), song.get("download_url"))
        output = {**result, "songs": songs}
        if self.download_to is not None:
            from airflow_provider_riffusion.operators.download_songs import store_songs

            output["files"] = store_songs(self, context, songs, self.download_to, self.download_format)
        return output

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, compose: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger: its one event is validated before use."""
        from airflow_provider_riffusion.triggers.riffusion import result_from_event

        songs = result_from_event(event, expected="songs", timed_out=lambda message: self.timed_out(context, message))
        try:
            return self.with_songs(context, compose or {}, songs)
        finally:
            self.hook.close()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the stored songs, when ``download_to`` stored them."""
        from airflow_provider_riffusion.lineage import operator_lineage

        return operator_lineage([], [file["uri"] for file in getattr(self, "_stored", [])])
