"""RiffusionHook: the connection, and every API call a worker makes.

Each public method names an endpoint of ``client/endpoints.py`` and hands it to the shared core
(``client/``): building the request, the retry rule, the answer's meaning and the exception
family are the same as in the triggers, which use the same endpoints from the event loop.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_riffusion.exceptions import RiffusionError

if TYPE_CHECKING:
    import requests

    from airflow_provider_riffusion.client.endpoints import Endpoint
    from airflow_provider_riffusion.settings import RiffusionSettings


class RiffusionHook(BaseHook):
    """
    Interact with the useapi.net Riffusion API.

    The connection's password is the API token; its host is an optional base URL (the public
    API when empty, or the bundled emulator, or a proxy); extras ``user_id`` (the default
    account) and ``timeout`` (seconds for each request's whole answer). One ``requests.Session``
    serves every call of the hook, so polls reuse their connection; :meth:`close` releases it.

    :param riffusion_conn_id: The Airflow connection of type ``riffusion``.
    :param request_timeout: Seconds for each request's answer; overrides the connection's ``timeout``.
    :param max_attempts: Attempts per call for retryable failures (default 5).
    :param retry_min_delay: First backoff delay in seconds (default 1).
    :param retry_max_delay: Backoff cap in seconds, also applied to ``Retry-After`` (default 30).
    """

    conn_name_attr = "riffusion_conn_id"
    default_conn_name = "riffusion_default"
    conn_type = "riffusion"
    hook_name = "Riffusion (useapi.net)"

    def __init__(
        self,
        riffusion_conn_id: str = default_conn_name,
        *,
        request_timeout: float | None = None,
        max_attempts: int | None = None,
        retry_min_delay: float | None = None,
        retry_max_delay: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.riffusion_conn_id = riffusion_conn_id
        self._overrides: dict[str, Any] = {
            "request_timeout": request_timeout,
            "max_attempts": max_attempts,
            "min_delay": retry_min_delay,
            "max_delay": retry_max_delay,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(riffusion_conn_id={self.riffusion_conn_id!r})"

    # -- connection form (Airflow 2.11, 3.0, 3.1; 3.2+ reads conn-fields from provider info) --

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form: the default account and the request timeout."""
        from airflow_provider_riffusion.connection_form import legacy_widgets

        return legacy_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel the token and base URL fields; hide the ones the API does not use."""
        from airflow_provider_riffusion.connection_form import legacy_field_behaviour

        return legacy_field_behaviour()

    # -- settings and session --

    @cached_property
    def settings(self) -> RiffusionSettings:
        """The connection, validated once per hook."""
        from airflow.providers.common.compat.sdk import AirflowNotFoundException, mask_secret

        from airflow_provider_riffusion.settings import connection_settings, missing_connection

        try:
            conn = self.get_connection(self.riffusion_conn_id)
        except AirflowNotFoundException:
            raise missing_connection(self.riffusion_conn_id) from None
        if conn.password:
            mask_secret(conn.password)
        return connection_settings(
            self.riffusion_conn_id,
            conn,
            conn.extra_dejson,
            self.log,
            request_timeout=self._overrides["request_timeout"],
            max_attempts=self._overrides["max_attempts"],
            min_delay=self._overrides["min_delay"],
            max_delay=self._overrides["max_delay"],
        )

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session per hook; the token rides in its default headers."""
        from airflow_provider_riffusion.client.sync_transport import new_session

        return new_session(self.settings)

    def get_conn(self) -> requests.Session:
        """The hook's HTTP session (as the official providers' HTTP hooks return theirs)."""
        return self.session

    def close(self) -> None:
        """Release the session's connections; the next call opens a new session."""
        session = self.__dict__.pop("session", None)
        if session is not None:
            session.close()

    # -- calls --

    def call(self, endpoint: Endpoint, user_id: str | None = None, **arguments: Any) -> Any:
        """``endpoint`` with these arguments under its retry rule: the normalized answer, or the family's error."""
        from airflow_provider_riffusion.client.sync_transport import send

        call = endpoint.call(self.settings, user_id, **arguments)
        return self.settings.retry.call(
            lambda attempt: send(self.session, call, attempt), endpoint.should_retry, call.what
        )

    def upload_audio(
        self,
        source: Any,
        file_name: str | None = None,
        content_type: str | None = None,
        user_id: str | None = None,
        *,
        max_bytes: int | None = None,
        source_conn_id: str | None = None,
    ) -> dict[str, Any]:
        """Upload one track, streamed from ``source``; every attempt re-opens it and re-sends it whole.

        ``source`` is a local path or ``file://`` URI, an ``ObjectStoragePath`` or object-storage
        URI (``s3://``, ``gs://``, ``memory://`` ... read through Airflow's object storage with
        the path's ``conn_id``, else ``source_conn_id``), an ``http(s)://`` URL (a new GET per
        attempt), bytes, or a seekable binary file object. A source of known size is sent with a
        Content-Length, any other chunked; neither is ever read whole. Only mp3, m4a and wav
        bytes are sent, whatever the name says.

        :return: ``job_id`` (for the status endpoint), ``audio_upload_id`` (for compose),
            ``is_flagged``, ``file_name``, ``content_type``, ``bytes`` and ``sha256`` of what was sent.
        """
        from airflow_provider_riffusion.hooks import _transfers

        prepared = _transfers.prepare(self, source, file_name, content_type, max_bytes, source_conn_id)
        try:
            return _transfers.upload(self, prepared, user_id)
        finally:
            prepared.close()

    def fingerprint_source(
        self,
        source: Any,
        file_name: str | None = None,
        content_type: str | None = None,
        *,
        max_bytes: int | None = None,
        source_conn_id: str | None = None,
    ) -> dict[str, Any]:
        """What :meth:`upload_audio` would send now, read but not sent: ``file_name``, ``content_type``,
        ``bytes`` and ``sha256``. A retried task compares it with its earlier upload before reattaching."""
        from airflow_provider_riffusion.hooks import _transfers

        prepared = _transfers.prepare(self, source, file_name, content_type, max_bytes, source_conn_id)
        try:
            return prepared.fingerprint()
        finally:
            prepared.close()

    def download_song(
        self,
        song_id: str,
        destination: Any,
        download_format: str = "mp3",
        user_id: str | None = None,
        *,
        title: str | None = None,
        destination_conn_id: str | None = None,
    ) -> dict[str, Any]:
        """Stream a song (``GET music/download``) into the folder ``destination`` (a local path, an
        ``ObjectStoragePath`` or URI such as ``s3://bucket/songs/``), in constant memory, as
        ``<title>-<song id>.<ext>``, never half-written under that name; only audio of the format is
        stored (a 200 with a page or an error body is refused), and a file already there is kept only
        when its recorded sha256 proves it is this song. ``stems`` is the API's JSON about them,
        stored as it came (undocumented).

        :return: ``song_id``, ``path``, ``format``, ``bytes``, ``sha256``, ``content_type``.
        """
        from airflow_provider_riffusion.hooks._transfers import download

        return download(self, song_id, destination, download_format, user_id, title=title, conn_id=destination_conn_id)

    def get_upload_status(self, job_id: str, user_id: str | None = None) -> dict[str, Any]:
        """The upload's processing status: ``job_id``, ``audio_upload_id``, ``status``, ``lyrics``,
        ``is_flagged`` and the raw ``response``, whichever API revision answered."""
        from airflow_provider_riffusion.client.endpoints import UPLOAD_STATUS

        return self.call(UPLOAD_STATUS, user_id, id=job_id)

    def create_compose(
        self,
        prompt_1: str,
        *,
        audio_upload_id: str | None = None,
        lyrics: str | None = None,
        title: str | None = None,
        prompt_2: str | None = None,
        prompt_3: str | None = None,
        model: str | None = None,
        user_id: str | None = None,
        reply_url: str | None = None,
        reply_ref: str | None = None,
        **numbers: Any,
    ) -> dict[str, Any]:
        """Start composing (two songs per request upstream), optionally from an uploaded track.

        ``numbers`` are the integer fields (``prompt_1_strength`` ... ``lyrics_weirdness``,
        ``max_jobs``), checked against their documented ranges before anything is sent.

        :return: ``job_ids`` (one per song job) and the raw ``response``.
        """
        from airflow_provider_riffusion.client.endpoints import COMPOSE
        from airflow_provider_riffusion.compose import build_compose_payload

        payload = build_compose_payload(
            prompt_1,
            prompt_2=prompt_2,
            prompt_3=prompt_3,
            lyrics=lyrics,
            title=title,
            audio_upload_id=audio_upload_id,
            model=model,
            user_id=user_id or self.settings.user_id,
            reply_url=reply_url,
            reply_ref=reply_ref,
            **numbers,
        )
        result = self.call(COMPOSE, json=payload)
        self.log.info("Compose started: job_ids=%s", result["job_ids"])
        return result

    def get_songs(self, job_id: str, user_id: str | None = None) -> list[dict[str, Any]]:
        """The songs of a compose job (possibly empty before they exist)."""
        from airflow_provider_riffusion.client.endpoints import SONGS

        return self.call(SONGS, user_id, id=job_id)

    def generate_lyrics(self, prompt: str, lyrics: str | None = None, user_id: str | None = None) -> dict[str, Any]:
        """Lyrics for a prompt (``POST music/generate-lyrics``), optionally reworking ``lyrics``: ``lyrics`` and
        the raw ``response``."""
        from airflow_provider_riffusion.client.endpoints import GENERATE_LYRICS
        from airflow_provider_riffusion.compose import build_lyrics_payload

        return self.call(GENERATE_LYRICS, json=build_lyrics_payload(prompt, lyrics, user_id or self.settings.user_id))

    def create_prompt(
        self, prompt: str, *, instrumental: bool | None = None, user_id: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Songs from one prompt (``POST music/create-prompt``): ``job_ids`` and the raw ``response``, like
        :meth:`create_compose`. A moderated prompt is ``RiffusionModerationError``."""
        from airflow_provider_riffusion.client.endpoints import CREATE_PROMPT
        from airflow_provider_riffusion.compose import build_prompt_payload

        user_id = user_id or self.settings.user_id
        result = self.call(CREATE_PROMPT, json=build_prompt_payload(prompt, instrumental, user_id, **extra))
        self.log.info("Prompt started: job_ids=%s", result["job_ids"])
        return result

    def free_slots(self, user_id: str | None = None) -> int:
        """Free job slots (``GET scheduler/available``): of ``user_id`` (else the connection's), or of all accounts."""
        from airflow_provider_riffusion.client.endpoints import SCHEDULER_AVAILABLE

        free = self.call(SCHEDULER_AVAILABLE)["free"]
        account = user_id or self.settings.user_id
        return int(free.get(account, 0)) if account else sum(free.values())

    def test_connection(self) -> tuple[bool, str]:
        """One authenticated GET (accounts) for the UI's Test button; never raises."""
        from airflow_provider_riffusion.client.endpoints import ACCOUNTS

        try:
            accounts = self.call(ACCOUNTS)
        except RiffusionError as error:
            if error.http_status == 404:
                return True, (
                    f"Token accepted by {self.settings.base_url}; no Riffusion account is configured "
                    "yet (add one with POST accounts)."
                )
            return False, str(error)
        except Exception as error:
            return False, f"Connection check failed: {type(error).__name__}: {error}"
        return True, f"Connected to {self.settings.base_url}: {len(accounts)} Riffusion account(s) configured."
