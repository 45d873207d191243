"""UploadAudioOperator: upload a track from disk, a URL or object storage, and optionally wait for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_riffusion.operators._base import stored_job_progress, try_number
from airflow_provider_riffusion.operators._durable import STATE_VERSION, SUBMITTED, DurableOperator
from airflow_provider_riffusion.services import Progress
from airflow_provider_riffusion.state_store import COUNT, ID, OPTIONAL_TEXT, TEXT
from airflow_provider_riffusion.waits import DEFAULT_UPLOAD_TIMEOUT, UploadWait

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class UploadAudioOperator(DurableOperator):
    """
    Upload an audio track (mp3, m4a or wav) to the Riffusion API.

    :param source: The track (templated), streamed to the API and never read whole: a local path
        or ``file://`` URI; an ``ObjectStoragePath`` or object-storage URI read through Airflow's
        object storage (``s3://``, ``gs://``, ``memory://`` ...; the scheme's provider must be
        installed, and the connection is the path's ``conn_id``:
        ``ObjectStoragePath("s3://bucket/key", conn_id="aws_default")`` or
        ``s3://aws_default@bucket/key``); or an ``http(s)://`` URL, fetched with a new GET for
        every attempt (the provider's messages name it without user info or query). A source of
        known size is sent with a Content-Length, any other chunked. Its leading bytes must be
        mp3, m4a or wav, and the extension, the remote's Content-Type and ``content_type`` must
        agree with them.
    :param source_conn_id: The Airflow connection for a string object-storage URI (templated),
        e.g. ``aws_default`` for ``s3://bucket/key``.
    :param file_name: The name the API records (templated); defaults to the source's stem, and a
        trailing audio extension is removed.
    :param content_type: ``audio/mpeg``, ``audio/mp4`` or ``audio/wav``; inferred from the
        extension (or the file's leading bytes) when not given.
    :param user_id: The account (templated; an email on Flow Music); defaults to the connection's ``user_id``.
    :param max_bytes: Refuse sources larger than this many bytes (the API recommends < 50 MB).
    :param wait_for_completion: Also wait until the service has processed the upload, and add
        the sensor's keys (``status``, ``lyrics``, ``response``) to the output.
    :param fail_on_flagged: When waiting, fail if the upload is flagged (likely a copyright match).
    :param deferrable: Wait in the triggerer instead of a worker slot (default from
        ``[operators] default_deferrable``). The upload itself always runs on the worker.
    :param poll_interval: Seconds between status checks while waiting (at least
        ``[riffusion] min_poll_interval``, 1 s).
    :param timeout: Seconds to wait for processing before failing (default 15 minutes).
    :param durable: On Airflow 3.3+, persist the upload (task state store) right after it is made,
        so a retried, cleared or crashed task reattaches to it instead of uploading again, as long
        as the source is the same track (size and sha256) under the same name and account
        (``ResumableJobMixin``; default True). A stored value this release cannot read fails the task
        (``RiffusionStateError``) rather than upload again. No effect before Airflow 3.3.

    Returns (XCom ``return_value``) ``job_id`` (for the status endpoint), ``audio_upload_id``
    (for compose), ``is_flagged``, ``file_name``, ``content_type``, ``bytes``, ``sha256``.
    """

    template_fields: Sequence[str] = ("source", "source_conn_id", "file_name", "content_type", "user_id")
    ui_color = "#f3d1ff"
    external_id_key = "riffusion_upload"
    """The task state store key of the upload (renaming it would orphan the uploads of running tasks)."""
    state_shape: ClassVar[Mapping[str, Any]] = {
        "upload": {"job_id": ID, "audio_upload_id": ID, "file_name": TEXT, "bytes": COUNT, "sha256": TEXT},
        "user_id": OPTIONAL_TEXT,
    }

    def __init__(
        self,
        *,
        source: Any,
        file_name: str | None = None,
        content_type: str | None = None,
        max_bytes: int | None = None,
        source_conn_id: str | None = None,
        fail_on_flagged: bool = False,
        timeout: float | timedelta = DEFAULT_UPLOAD_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, **kwargs)
        self.source = source
        self.file_name = file_name
        self.content_type = content_type
        self.max_bytes = max_bytes
        self.source_conn_id = source_conn_id
        self.fail_on_flagged = fail_on_flagged

    # -- the task, crash-safe: ResumableJobMixin persists the upload before any wait --

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Upload the track; what is returned is stored (task state store) before the wait begins."""
        upload = self.hook.upload_audio(
            self.source,
            file_name=self.file_name,
            content_type=self.content_type,
            user_id=self.user_id,
            max_bytes=self.max_bytes,
            source_conn_id=self.source_conn_id,
        )
        stored = {
            "version": STATE_VERSION,
            "upload": upload,
            "user_id": self.user_id,
            "try_number": try_number(context),
        }
        return {**stored, **self.service_stamp()}

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """An earlier try's upload, if it is of the same track: its progress; otherwise why not to reattach."""
        upload = self.stored_job(external_id, context)["upload"]
        changed = self._changed_since(external_id)
        if changed:
            return self.not_reattaching(f"upload {upload['job_id']}", external_id, " and ".join(changed))
        if not self.wait_for_completion:
            return SUBMITTED
        service = self.hook.settings.service
        progress = stored_job_progress(
            self.log,
            lambda: service.upload_progress(self.hook.get_upload_status(upload["job_id"], self.user_id)["status"]),
        )
        if progress is Progress.FAILED:
            self.log.warning("Upload %s of an earlier try failed or is unknown: uploading again.", upload["job_id"])
        return progress.value

    def poll_until_complete(self, external_id: Any, context: Context) -> None:
        """The output of the task: the upload, and once processed (``wait_for_completion``) its status."""
        upload = external_id["upload"]
        if not self.wait_for_completion:
            self._result = upload
            return
        # The upload cannot be repeated safely: make its ids visible before waiting on it.
        context["ti"].xcom_push(key="job_id", value=upload["job_id"])
        context["ti"].xcom_push(key="audio_upload_id", value=upload["audio_upload_id"])
        self._result = {**upload, **self.wait_for_upload(context, upload)}

    def _changed_since(self, external_id: dict[str, Any]) -> list[str]:
        """What differs between the stored upload and what this try would upload."""
        upload = external_id["upload"]
        now = self.hook.fingerprint_source(
            self.source,
            self.file_name,
            self.content_type,
            max_bytes=self.max_bytes,
            source_conn_id=self.source_conn_id,
        )
        changed = [
            name.replace("bytes", "size") for name in ("sha256", "bytes", "file_name") if now[name] != upload[name]
        ]
        if self.service_changed(external_id):
            changed.append("connection's service")
        if self.user_id != external_id.get("user_id"):
            changed.append("user_id")
        return changed

    def wait_for_upload(self, context: Context, upload: dict[str, Any]) -> dict[str, Any]:
        from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger

        job_id = upload["job_id"]
        return self.wait_or_defer(
            context,
            UploadWait(job_id, self.user_id, fail_on_flagged=self.fail_on_flagged, flagged=upload.get("is_flagged")),
            lambda deadline: UploadCompletedTrigger(
                job_id=job_id, deadline=deadline, fail_on_flagged=self.fail_on_flagged, **self.trigger_kwargs()
            ),
            {"upload": upload},
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the uploaded source is the task's input."""
        from airflow_provider_riffusion.lineage import operator_lineage
        from airflow_provider_riffusion.sources import source_uri

        uri = source_uri(self.source)
        return operator_lineage([uri] if uri else [], [])

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, upload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger: its one event is validated before use."""
        from airflow_provider_riffusion.triggers.riffusion import result_from_event

        status = result_from_event(event, expected="result", timed_out=lambda message: self.timed_out(context, message))
        return {**(upload or {}), **status}
