"""CreateComposeOperator: compose songs from prompts and an uploaded track, and optionally wait for them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, BaseOperatorLink

from airflow_provider_riffusion.compose import COMPOSE_INT_RANGES, checked_int
from airflow_provider_riffusion.operators._base import RiffusionBaseOperator
from airflow_provider_riffusion.polling import DEFAULT_SONGS_TIMEOUT

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, TaskInstanceKey

SONG_URL_XCOM_KEY = "riffusion_song_url"


class RiffusionSongsLink(BaseOperatorLink):
    """A button on the compose task that opens the first composed song."""

    name = "Riffusion song"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.providers.common.compat.sdk import XCom

        url = XCom.get_value(ti_key=ti_key, key=SONG_URL_XCOM_KEY)
        return str(url) if url else ""


class CreateComposeOperator(RiffusionBaseOperator):
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

    def run(self, context: Context) -> dict[str, Any]:
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
        return self._with_songs(context, result, self.wait_for_songs(result))

    def wait_for_songs(self, result: dict[str, Any]) -> list[dict[str, Any]]:
        from airflow_provider_riffusion.polling import SongsCheck
        from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger

        job_ids = result["job_ids"]
        poller = self.poller(f"Compose jobs {job_ids}")
        songs = SongsCheck(job_ids, poller)

        def check() -> list[dict[str, Any]] | None:
            done = all(songs.accept(job_id, self.hook.get_songs(job_id, self.user_id)) for job_id in songs.jobs())
            return songs.songs() if done else None

        return self.wait_or_defer(
            poller,
            check,
            lambda deadline: SongsCompletedTrigger(job_ids=job_ids, deadline=deadline, **self.trigger_kwargs()),
            {"compose": result},
        )

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
