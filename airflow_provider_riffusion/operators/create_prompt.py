"""CreatePromptOperator: songs from one prompt (``POST music/create-prompt``), waited for like a compose."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_riffusion.operators._songs import SongsJobOperator
from airflow_provider_riffusion.services.riffusion import MAX_JOBS_RANGE, checked_int


class CreatePromptOperator(SongsJobOperator):
    """
    Make songs from a single prompt, with or without vocals.

    :param prompt: What the song is (templated, required).
    :param instrumental: True for no vocals; None leaves it to the API.
    :param user_id: The account (templated; an email on Flow Music); defaults to the connection's ``user_id``.
    :param max_jobs: The API's ``maxJobs`` (1-10), checked when the DAG is parsed.
    :param reply_url: The API's callback URL (``replyUrl``, at most 1024 characters).
    :param reply_ref: An opaque reference sent back to ``reply_url`` (``replyRef``).

    Waiting, deferring, ``durable``, ``wait_for_slot``, ``download_to`` and the output (``job_ids``,
    ``response``, and ``songs`` once waited for) are those of ``CreateComposeOperator``. A moderated
    prompt (an HTTP 422, or an answer with ``is_flagged``) fails with ``RiffusionModerationError``.
    """

    template_fields: Sequence[str] = ("prompt", "user_id", "download_to")
    ui_color = "#d9f0d1"
    external_id_key = "riffusion_prompt"
    """The task state store key of the prompt's jobs (renaming it would orphan the jobs of running tasks)."""
    kind = "prompt"

    def __init__(
        self,
        *,
        prompt: str,
        instrumental: bool | None = None,
        max_jobs: int | None = None,
        reply_url: str | None = None,
        reply_ref: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt = prompt
        self.instrumental = instrumental
        self.max_jobs = None if max_jobs is None else checked_int("max_jobs", max_jobs, MAX_JOBS_RANGE)
        self.reply_url = reply_url
        self.reply_ref = reply_ref

    def request_fields(self) -> dict[str, Any]:
        names = ("prompt", "instrumental", "user_id", "max_jobs", "reply_url", "reply_ref")
        return {name: getattr(self, name) for name in names}

    def submit(self, fields: dict[str, Any]) -> dict[str, Any]:
        return self.hook.create_prompt(fields.pop("prompt"), **fields)
