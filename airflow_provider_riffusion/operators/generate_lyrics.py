"""GenerateLyricsOperator: lyrics for a prompt (``POST music/generate-lyrics``), for a compose to sing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_riffusion.hooks import UsesRiffusionHook

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class GenerateLyricsOperator(UsesRiffusionHook, BaseOperator):
    """
    Write lyrics for a prompt, or rework given ones.

    :param prompt: What the lyrics are about (templated, required).
    :param lyrics: Riffusion: lyrics to rework (templated), e.g. an upload's transcribed ``lyrics``.
    :param structure: Flow Music: the song's structure, e.g. ``"verse, chorus, verse, chorus"`` (templated).
    :param user_id: The account (templated; an email on Flow Music); defaults to the connection's ``user_id``.
    :param riffusion_conn_id: The Airflow connection of type ``riffusion``.

    Returns ``lyrics`` and the raw ``response``; ``generate.output["lyrics"]`` feeds a compose.
    """

    template_fields: Sequence[str] = ("prompt", "lyrics", "structure", "user_id")
    ui_color = "#fff1d1"

    def __init__(
        self,
        *,
        prompt: str,
        lyrics: str | None = None,
        structure: str | None = None,
        user_id: str | None = None,
        riffusion_conn_id: str = "riffusion_default",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.prompt = prompt
        self.lyrics = lyrics
        self.structure = structure
        self.user_id = user_id
        self.riffusion_conn_id = riffusion_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            result = self.hook.generate_lyrics(
                self.prompt, lyrics=self.lyrics or None, user_id=self.user_id, structure=self.structure or None
            )
        finally:
            self.hook.close()
        self.log.info("Lyrics (%d lines): %s", len(result["lyrics"].splitlines()), result["lyrics"][:200])
        return result
