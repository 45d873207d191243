"""Operators: upload a track, and compose music from it.

Imported at every DAG parse, so only Airflow's base classes are imported at module level;
the hook, HTTP clients and triggers load when a task runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import BaseOperator, BaseOperatorLink, conf

from airflow_provider_riffusion.compose import COMPOSE_INT_RANGES, checked_int
from airflow_provider_riffusion.waiting import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_SONGS_TIMEOUT,
    DEFAULT_UPLOAD_TIMEOUT,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, TaskInstanceKey

    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

SONG_URL_XCOM_KEY = "riffusion_song_url"

T = TypeVar("T")


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class RiffusionSongsLink(BaseOperatorLink):
    """A button on the compose task that opens the first composed song."""

    name = "Riffusion song"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.providers.common.compat.sdk import XCom

        url = XCom.get_value(ti_key=ti_key, key=SONG_URL_XCOM_KEY)
        return str(url) if url else ""


class _RiffusionOperator(BaseOperator):
    """What the provider's operators share: the hook, and the wait settings."""

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
        self.poll_interval = _seconds(poll_interval)
        self.timeout = _seconds(timeout)
        self.max_consecutive_errors = max_consecutive_errors
        if self.poll_interval <= 0 or self.timeout <= 0:
            raise ValueError(f"{self.task_id}: poll_interval and timeout must be positive seconds.")

    @property
    def hook(self) -> RiffusionHook:
        """A hook per operator instance (and so one HTTP session for the task's calls)."""
        if not hasattr(self, "_hook"):
            from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

            self._hook = RiffusionHook(riffusion_conn_id=self.riffusion_conn_id)
        return self._hook

    def _deadline(self) -> float:
        """The wait's deadline as epoch seconds: a trigger re-created after a restart keeps it."""
        import time

        return time.time() + self.timeout

    def _check_once(self, check: Callable[[], T | None], what: str) -> T | None:
        """The check before deferring or waiting: a blip there means "not ready yet", never a failed
        task, because a retried task would upload or compose a second time."""
        from airflow_provider_riffusion.waiting import BLIP_ERRORS

        try:
            return check()
        except BLIP_ERRORS as error:
            self.log.warning("%s: first check failed, waiting anyway: %s", what, error)
            return None

    def _wait_kwargs(self) -> dict[str, Any]:
        return {
            "poll_interval": self.poll_interval,
            "timeout": self.timeout,
            "log": self.log,
            "max_consecutive_errors": self.max_consecutive_errors,
        }


class UploadAudioOperator(_RiffusionOperator):
    """
    Upload an audio track (mp3, m4a or wav) to the Riffusion API.

    :param source: The track (templated), streamed to the API and never read whole: a local path
        or ``file://`` URI; an ``ObjectStoragePath`` or object-storage URI read through Airflow's
        object storage (``s3://``, ``gs://``, ``memory://`` ...; the scheme's provider must be
        installed, and the connection is the path's ``conn_id``:
        ``ObjectStoragePath("s3://bucket/key", conn_id="aws_default")`` or
        ``s3://aws_default@bucket/key``); or an ``http(s)://`` URL, fetched with a new GET for
        every attempt (the provider's messages name it without user info or query). A source of
        known size is sent with a Content-Length, any other chunked. The type comes from the
        extension, else the remote's Content-Type or the leading bytes, and must agree with them.
    :param source_conn_id: The Airflow connection for a string object-storage URI (templated),
        e.g. ``aws_default`` for ``s3://bucket/key``.
    :param file_name: The name the API records (templated); defaults to the source's stem, and a
        trailing audio extension is removed.
    :param content_type: ``audio/mpeg``, ``audio/mp4`` or ``audio/wav``; inferred from the
        extension (or the file's leading bytes) when not given.
    :param user_id: The Riffusion account (templated); defaults to the connection's ``user_id``.
    :param max_bytes: Refuse sources larger than this many bytes (the API recommends < 50 MB).
    :param wait_for_completion: Also wait until the service has processed the upload, and add
        the sensor's keys (``status``, ``lyrics``, ``response``) to the output.
    :param fail_on_flagged: When waiting, fail if the upload is flagged (likely a copyright match).
    :param deferrable: Wait in the triggerer instead of a worker slot (default from
        ``[operators] default_deferrable``). The upload itself always runs on the worker.
    :param poll_interval: Seconds between status checks while waiting.
    :param timeout: Seconds to wait for processing before failing (default 15 minutes).

    Returns (XCom ``return_value``) ``job_id`` (for the status endpoint), ``audio_upload_id``
    (for compose), ``is_flagged``, ``file_name``, ``content_type``, ``bytes``, ``sha256``.
    """

    template_fields: Sequence[str] = ("source", "source_conn_id", "file_name", "content_type", "user_id")
    ui_color = "#f3d1ff"

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

    def execute(self, context: Context) -> dict[str, Any]:
        upload = self.hook.upload_audio(
            self.source,
            file_name=self.file_name,
            content_type=self.content_type,
            user_id=self.user_id,
            max_bytes=self.max_bytes,
            source_conn_id=self.source_conn_id,
        )
        if not self.wait_for_completion:
            return upload
        # The upload cannot be repeated safely: make its ids visible before waiting on it.
        context["ti"].xcom_push(key="job_id", value=upload["job_id"])
        context["ti"].xcom_push(key="audio_upload_id", value=upload["audio_upload_id"])
        from airflow_provider_riffusion.waiting import upload_is_ready, wait_until

        def check() -> dict[str, Any] | None:
            current = self.hook.get_upload_status(upload["job_id"], self.user_id)
            ready = upload_is_ready(current, fail_on_flagged=self.fail_on_flagged, log=self.log)
            return current if ready else None

        what = f"Upload {upload['job_id']}"
        if not self.deferrable:
            return {**upload, **wait_until(check, what=what, **self._wait_kwargs())}
        status = self._check_once(check, what)
        if status is not None:
            return {**upload, **status}
        from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger

        self.defer(
            trigger=UploadCompletedTrigger(
                job_id=upload["job_id"],
                user_id=self.user_id,
                riffusion_conn_id=self.riffusion_conn_id,
                poll_interval=self.poll_interval,
                deadline=self._deadline(),
                fail_on_flagged=self.fail_on_flagged,
                max_consecutive_errors=self.max_consecutive_errors,
            ),
            method_name="execute_complete",
            kwargs={"upload": upload},
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, upload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger: its one event is validated before use."""
        from airflow_provider_riffusion.triggers.riffusion import result_from_event

        status = result_from_event(event, expected="result")
        return {**(upload or {}), **status}


class CreateComposeOperator(_RiffusionOperator):
    """
    Compose music from prompts, optionally from an uploaded track (``audio_upload_id``).

    Integer fields are checked against the API's ranges when the DAG is parsed: strengths of
    prompts 20-100; ``prompt_N_start``/``prompt_N_end``, ``lyrics_strength`` and
    ``lyrics_weirdness`` 0-100; ``max_jobs`` 1-10.

    :param prompt_1: Genres, sounds, vibe (templated, required).
    :param audio_upload_id: The upload's ``audio_upload_id`` output (templated).
    :param lyrics: Lyrics to sing (templated); none means instrumental.
    :param title: The song's title (templated).
    :param wait_for_completion: Wait until every song is ``completed`` and add ``songs``.
    :param timeout: Seconds to wait for the songs (default 30 minutes).

    Returns ``job_ids`` and the raw ``response``; with ``wait_for_completion`` also ``songs``
    (each with ``id``, ``title``, ``status``, ``download_url`` and the API's other fields).
    """

    template_fields: Sequence[str] = (
        "prompt_1",
        "prompt_2",
        "prompt_3",
        "lyrics",
        "title",
        "audio_upload_id",
        "user_id",
        "model",
    )
    operator_extra_links = (RiffusionSongsLink(),)
    ui_color = "#d1e7ff"

    def __init__(
        self,
        *,
        prompt_1: str,
        audio_upload_id: str | None = None,
        lyrics: str | None = None,
        title: str | None = None,
        prompt_1_strength: int | None = None,
        prompt_1_start: int | None = None,
        prompt_1_end: int | None = None,
        prompt_2: str | None = None,
        prompt_2_strength: int | None = None,
        prompt_2_start: int | None = None,
        prompt_2_end: int | None = None,
        prompt_3: str | None = None,
        prompt_3_strength: int | None = None,
        prompt_3_start: int | None = None,
        prompt_3_end: int | None = None,
        lyrics_strength: int | None = None,
        lyrics_weirdness: int | None = None,
        model: str | None = None,
        max_jobs: int | None = None,
        reply_url: str | None = None,
        reply_ref: str | None = None,
        timeout: float | timedelta = DEFAULT_SONGS_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, **kwargs)
        self.prompt_1 = prompt_1
        self.prompt_2 = prompt_2
        self.prompt_3 = prompt_3
        self.audio_upload_id = audio_upload_id
        self.lyrics = lyrics
        self.title = title
        self.model = model
        self.reply_url = reply_url
        self.reply_ref = reply_ref
        given = {
            "prompt_1_strength": prompt_1_strength,
            "prompt_1_start": prompt_1_start,
            "prompt_1_end": prompt_1_end,
            "prompt_2_strength": prompt_2_strength,
            "prompt_2_start": prompt_2_start,
            "prompt_2_end": prompt_2_end,
            "prompt_3_strength": prompt_3_strength,
            "prompt_3_start": prompt_3_start,
            "prompt_3_end": prompt_3_end,
            "lyrics_strength": lyrics_strength,
            "lyrics_weirdness": lyrics_weirdness,
            "max_jobs": max_jobs,
        }
        # Not templated, so a value out of range is a parse-time error, not a failed run.
        self.numbers = {
            name: checked_int(name, value, COMPOSE_INT_RANGES[name])
            for name, value in given.items()
            if value is not None
        }

    def execute(self, context: Context) -> dict[str, Any]:
        # The "Riffusion song" link reads this key whenever Airflow renders links (also while
        # deferred): an empty value until a song exists, rather than an XCom-not-found error.
        context["ti"].xcom_push(key=SONG_URL_XCOM_KEY, value="")
        result = self.hook.create_compose(
            self.prompt_1,
            audio_upload_id=self.audio_upload_id,
            lyrics=self.lyrics,
            title=self.title,
            prompt_2=self.prompt_2,
            prompt_3=self.prompt_3,
            model=self.model,
            user_id=self.user_id,
            reply_url=self.reply_url,
            reply_ref=self.reply_ref,
            **self.numbers,
        )
        if not self.wait_for_completion:
            return result
        context["ti"].xcom_push(key="job_ids", value=result["job_ids"])
        from airflow_provider_riffusion.waiting import wait_until

        what = f"Compose jobs {result['job_ids']}"

        def check() -> list[dict[str, Any]] | None:
            return self._songs_if_ready(result["job_ids"])

        if not self.deferrable:
            return self._with_songs(context, result, wait_until(check, what=what, **self._wait_kwargs()))
        songs = self._check_once(check, what)
        if songs is not None:
            return self._with_songs(context, result, songs)
        from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger

        self.defer(
            trigger=SongsCompletedTrigger(
                job_ids=result["job_ids"],
                user_id=self.user_id,
                riffusion_conn_id=self.riffusion_conn_id,
                poll_interval=self.poll_interval,
                deadline=self._deadline(),
                max_consecutive_errors=self.max_consecutive_errors,
            ),
            method_name="execute_complete",
            kwargs={"compose": result},
        )

    def _songs_if_ready(self, job_ids: list[str]) -> list[dict[str, Any]] | None:
        from airflow_provider_riffusion.responses import song_summary
        from airflow_provider_riffusion.waiting import songs_are_ready

        songs: list[dict[str, Any]] = []
        for job_id in job_ids:
            job_songs = self.hook.get_songs(job_id, self.user_id)
            if not songs_are_ready(job_id, job_songs):
                return None
            songs.extend(song_summary(song) for song in job_songs)
        return songs

    def _with_songs(self, context: Context, result: dict[str, Any], songs: list[dict[str, Any]]) -> dict[str, Any]:
        first_url = next((song.get("share_url") or song.get("download_url") for song in songs), None)
        if first_url:
            context["ti"].xcom_push(key=SONG_URL_XCOM_KEY, value=first_url)
        for song in songs:
            self.log.info("Song %s %r: %s", song.get("id"), song.get("title"), song.get("download_url"))
        return {**result, "songs": songs}

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, compose: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger: its one event is validated before use."""
        from airflow_provider_riffusion.triggers.riffusion import result_from_event

        songs = result_from_event(event, expected="songs")
        return self._with_songs(context, compose or {}, songs)
