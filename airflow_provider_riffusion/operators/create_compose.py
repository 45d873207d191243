"""CreateComposeOperator: compose songs from prompts and an uploaded track, and optionally wait for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_riffusion.operators._songs import SONG_URL_XCOM_KEY, RiffusionSongsLink, SongsJobOperator
from airflow_provider_riffusion.services.riffusion import COMPOSE_INT_RANGES, check_spans, checked_int

__all__ = ["SONG_URL_XCOM_KEY", "CreateComposeOperator", "RiffusionSongsLink"]


class CreateComposeOperator(SongsJobOperator):
    """
    Compose music from prompts, optionally from an uploaded track (``audio_upload_id``).

    Integer fields are checked against the API's ranges when the DAG is parsed: strengths of
    prompts 20-100; ``prompt_N_start``/``prompt_N_end``, ``lyrics_strength`` and
    ``lyrics_weirdness`` 0-100, with each prompt's start <= end; ``max_jobs`` 1-10.

    :param prompt_1: Genres, sounds, vibe (templated, required).
    :param audio_upload_id: The upload's ``audio_upload_id`` output (templated).
    :param lyrics: Lyrics to sing (templated); none means instrumental.
    :param title: The song's title (templated; Riffusion).
    :param instrumental: Flow Music: songs without vocals.
    :param ghostwriter: Flow Music: ``standard`` or ``pro`` lyrics writing.
    :param service_fields: Flow Music's other fields under the API's names (templated), e.g.
        ``{"refAudio2": other_upload_id, "refImage1": image_id}``.

    Which parameters each service has is in the README ("Parameters by service"): one the
    connection's service lacks fails before any request, naming it and the service; ``model`` takes
    each service's own values (Riffusion ``FUZZ-0.8``, Flow Music ``lyria-3-pro`` or ``lyria-3.5``).
    :param wait_for_completion: Wait until every song is ``completed`` and add ``songs``.
    :param timeout: Seconds to wait for the songs (default 30 minutes).
    :param durable: On Airflow 3.3+, persist the compose jobs (task state store) right after the
        request, so a retried, cleared or crashed task reattaches to them instead of composing (and
        paying) again, as long as the request is the same (``ResumableJobMixin``; default True). A
        stored value this release cannot read fails the task (``RiffusionStateError``) rather than
        compose again. No effect before Airflow 3.3.
    :param wait_for_slot: Before composing, wait until an account has a free job slot
        (``GET scheduler/available``; deferrable: in the triggerer) instead of meeting 429s.
    :param download_to: With ``wait_for_completion``, store the songs in this folder or object
        store (templated), as ``DownloadSongsOperator`` does, and add ``files`` to the output.
    :param download_format: ``mp3`` (default), ``wav`` or ``stems``.

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
        "download_to",
        "service_fields",
    )
    ui_color = "#d1e7ff"
    external_id_key = "riffusion_compose"
    """The task state store key of the compose jobs (renaming it would orphan the jobs of running tasks)."""

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
        instrumental: bool | None = None,
        ghostwriter: str | None = None,
        service_fields: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.instrumental = instrumental
        self.ghostwriter = ghostwriter
        self.service_fields = service_fields
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
        # Not templated, so a value out of range (or a start after its end) is a parse-time error, not a failed run.
        self.numbers = {
            name: checked_int(name, value, COMPOSE_INT_RANGES[name])
            for name, value in given.items()
            if value is not None
        }
        check_spans(self.numbers)

    def request_fields(self) -> dict[str, Any]:
        """Everything the compose request is made of, as rendered for this try."""
        texts = ("prompt_1", "prompt_2", "prompt_3", "lyrics", "title", "audio_upload_id", "model", "user_id")
        fields = {name: getattr(self, name) for name in (*texts, "reply_url", "reply_ref")}
        # Only when set: a compose stored by 0.2.0 (without them) keeps its request fingerprint, and reattaches.
        services_own = ("instrumental", "ghostwriter", "service_fields")
        fields.update({name: getattr(self, name) for name in services_own if getattr(self, name) is not None})
        return {**fields, **self.numbers}

    def submit(self, fields: dict[str, Any]) -> dict[str, Any]:
        return self.hook.create_compose(fields.pop("prompt_1"), **fields)
