"""RiffusionHook: the one place that talks HTTP to the useapi.net Riffusion API from a worker."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_riffusion.exceptions import (
    RiffusionConnectionConfigError,
    RiffusionError,
    RiffusionNetworkError,
    RiffusionRateLimitError,
    RiffusionResponseError,
    RiffusionTransientError,
    RiffusionUnconfirmedError,
)

if TYPE_CHECKING:
    import requests

    from airflow_provider_riffusion.settings import RiffusionSettings

UPLOAD_PATH = "music/upload-audio/"
COMPOSE_PATH = "music/create-compose"
SONGS_PATH = "music/"
ACCOUNTS_PATH = "accounts"

UPLOAD_RETRY_STATUSES = frozenset({429, 503})
"""Answers after which a non-idempotent upload POST is safe to repeat: the server refused it."""


def retry_read(error: BaseException) -> bool:
    """GETs are idempotent: retry network trouble, 5xx (not 596) and 429."""
    return isinstance(error, RiffusionTransientError)


def retry_upload(error: BaseException) -> bool:
    """Repeat an upload only when the server provably did not take it, so it never lands twice."""
    if isinstance(error, RiffusionNetworkError):
        return error.connect_failed or not error.body_sent
    return isinstance(error, RiffusionError) and error.http_status in UPLOAD_RETRY_STATUSES


def retry_compose(error: BaseException) -> bool:
    """Compose creates songs: retry busy slots (429) and connections that never opened."""
    if isinstance(error, RiffusionNetworkError):
        return error.connect_failed
    return isinstance(error, RiffusionRateLimitError)


class RiffusionHook(BaseHook):
    """
    Interact with the useapi.net Riffusion API.

    The connection's password is the API token; its host is an optional base URL (the public
    API when empty, or the bundled emulator, or a proxy); extras ``user_id`` (the default
    account) and ``timeout`` (seconds per request). One ``requests.Session`` serves every call
    of the hook, so polls reuse their connection.

    :param riffusion_conn_id: The Airflow connection of type ``riffusion``.
    :param request_timeout: Seconds per HTTP request; overrides the connection's ``timeout``.
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
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField
        from wtforms.validators import Optional

        from airflow_provider_riffusion.connection_form import EXTRA_FIELDS

        return {
            name: StringField(
                lazy_gettext(field["label"]),
                widget=BS3TextFieldWidget(),
                validators=[Optional()],
                description=field["description"],
            )
            for name, field in EXTRA_FIELDS.items()
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel the token and base URL fields; hide the ones the API does not use."""
        from airflow_provider_riffusion.connection_form import UI_FIELD_BEHAVIOUR

        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    # -- settings and session --

    @cached_property
    def settings(self) -> RiffusionSettings:
        """The connection, validated once per hook."""
        from airflow.providers.common.compat.sdk import mask_secret

        from airflow_provider_riffusion.settings import settings_from_connection

        conn = self.get_connection(self.riffusion_conn_id)
        if conn.password:
            mask_secret(conn.password)
        return settings_from_connection(
            self.riffusion_conn_id,
            conn.password,
            conn.host,
            conn.extra_dejson,
            request_timeout=self._overrides["request_timeout"],
            max_attempts=self._overrides["max_attempts"],
            min_delay=self._overrides["min_delay"],
            max_delay=self._overrides["max_delay"],
        )

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session per hook; the token rides in its default headers."""
        import requests

        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {self.settings.token}", "Accept": "application/json"})
        return session

    def close(self) -> None:
        """Release the session's connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    # -- one request --

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        attempt: int = 1,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send one request; raise the family's exception for any failure; return the JSON body."""
        import requests

        from airflow_provider_riffusion.responses import decode_json, error_from_response
        from airflow_provider_riffusion.retry import parse_retry_after

        try:
            response = self.session.request(
                method,
                self.settings.url(path),
                params=params,
                json=json,
                data=data,
                headers=headers,
                timeout=self.settings.timeout,
            )
        except requests.RequestException as error:
            raise self._network_error(error, what, data, attempt) from None
        if not 200 <= response.status_code < 300:
            failure = error_from_response(response.status_code, response.text, what, attempt)
            failure.retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise self.settings.scrub(failure)
        return decode_json(response.status_code, response.headers, response.text, what)

    def _network_error(self, error: Exception, what: str, data: Any, attempt: int) -> RiffusionError:
        import requests

        refused = _certificate_refusal(error)
        if refused is not None:
            return self.settings.scrub(
                RiffusionConnectionConfigError.certificate_refused(self.settings.base_url, refused)
            )
        if isinstance(error, requests.ConnectTimeout) or _caused_by_new_connection(error):
            kind: Literal["connect", "timeout", "lost"] = "connect"
        else:
            kind = "timeout" if isinstance(error, requests.Timeout) else "lost"
        return self.settings.scrub(
            RiffusionNetworkError.describe(
                kind,
                base_url=self.settings.base_url,
                what=what,
                reason=_root_reason(error),
                timeout=self.settings.timeout,
                attempt=attempt,
                body_sent=getattr(data, "complete", True),
            )
        )

    def _call(self, method: str, path: str, *, what: str, should_retry: Any, **kwargs: Any) -> Any:
        """A request under the retry policy; the final failure names how many attempts were made."""
        for attempt in self.settings.retry.retrying(should_retry, what):
            with attempt:
                return self._request(method, path, what=what, attempt=attempt.retry_state.attempt_number, **kwargs)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    # -- the API --

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
        Content-Length, any other chunked; neither is ever read whole.

        :return: ``job_id`` (for the status endpoint), ``audio_upload_id`` (for compose),
            ``is_flagged``, ``file_name``, ``content_type``, ``bytes`` and ``sha256`` of what was sent.
        """
        from airflow_provider_riffusion.audio import SourceReadError, prepare_upload
        from airflow_provider_riffusion.responses import normalize_upload

        # Reading a remote source is idempotent: its transient failures are retried like GETs.
        for attempt in self.settings.retry.retrying(retry_read, "reading the upload's source"):
            with attempt:
                prepared = prepare_upload(
                    source,
                    file_name,
                    content_type,
                    max_bytes,
                    conn_id=source_conn_id,
                    timeout=self.settings.timeout,
                )
        try:
            params = self.settings.params(user_id, file_name=prepared.file_name)
            what = f"the upload of {prepared.file_name!r}"
            self.log.info(
                "Uploading %s as %r (%s, %s)",
                prepared.description,
                prepared.file_name,
                prepared.content_type,
                f"{prepared.size} bytes" if prepared.size is not None else "size unknown: sent chunked",
            )
            for attempt in self.settings.retry.retrying(retry_upload, what):
                with attempt:
                    number = attempt.retry_state.attempt_number
                    with prepared.open_reader() as reader:
                        try:
                            body = self._request(
                                "POST",
                                UPLOAD_PATH,
                                what=what,
                                attempt=number,
                                params=params,
                                data=reader,
                                headers={"Content-Type": prepared.content_type},
                            )
                        except SourceReadError as error:
                            raise self.settings.scrub(error.riffusion_error(what, number)) from None
            result = normalize_upload(body)
        except RiffusionResponseError as error:
            # A 2xx that cannot be read may still have stored the track: re-running would upload twice.
            raise self.settings.scrub(
                RiffusionUnconfirmedError(
                    f"{error} The track may have been stored: check the account before running the task again.",
                    http_status=error.http_status,
                )
            ) from None
        finally:
            prepared.close()
        result.update(
            file_name=prepared.file_name,
            content_type=prepared.content_type,
            bytes=reader.bytes_read,
            sha256=reader.sha256,
        )
        self.log.info("Uploaded %r: job_id=%s (%d bytes)", prepared.file_name, result["job_id"], reader.bytes_read)
        return result

    def get_upload_status(self, job_id: str, user_id: str | None = None) -> dict[str, Any]:
        """The upload's processing status: ``job_id``, ``audio_upload_id``, ``status``, ``lyrics``,
        ``is_flagged`` and the raw ``response``, whichever API revision answered."""
        from airflow_provider_riffusion.responses import normalize_upload_status
        from airflow_provider_riffusion.waiting import require_id

        job_id = require_id("job_id", job_id)
        body = self._call(
            "GET",
            UPLOAD_PATH,
            what=f"the status of upload {job_id}",
            should_retry=retry_read,
            params=self.settings.params(user_id, id=job_id),
        )
        return normalize_upload_status(job_id, body)

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
        from airflow_provider_riffusion.compose import build_compose_payload
        from airflow_provider_riffusion.responses import normalize_compose

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
        try:
            body = self._call(
                "POST", COMPOSE_PATH, what="the compose request", should_retry=retry_compose, json=payload
            )
            result = normalize_compose(body)
        except RiffusionResponseError as error:
            # A 2xx that cannot be read may still have started songs: re-running would compose twice.
            raise self.settings.scrub(
                RiffusionUnconfirmedError(
                    f"{error} Songs may have been started: check the account before running the task again.",
                    http_status=error.http_status,
                )
            ) from None
        self.log.info("Compose started: job_ids=%s", result["job_ids"])
        return result

    def get_songs(self, job_id: str, user_id: str | None = None) -> list[dict[str, Any]]:
        """The songs of a compose job (possibly empty before they exist)."""
        from airflow_provider_riffusion.responses import normalize_songs
        from airflow_provider_riffusion.waiting import require_id

        job_id = require_id("job_id", job_id)
        body = self._call(
            "GET",
            SONGS_PATH,
            what=f"the songs of job {job_id}",
            should_retry=retry_read,
            params=self.settings.params(user_id, id=job_id),
        )
        return normalize_songs(job_id, body)

    def test_connection(self) -> tuple[bool, str]:
        """One authenticated GET (accounts) for the UI's Test button; never raises."""
        try:
            accounts = self._request("GET", ACCOUNTS_PATH, what="the accounts list")
        except RiffusionError as error:
            if error.http_status == 404:
                return True, (
                    f"Token accepted by {self.settings.base_url}; no Riffusion account is configured "
                    "yet (add one with POST accounts)."
                )
            return False, str(error)
        except Exception as error:
            return False, f"Connection check failed: {type(error).__name__}: {error}"
        count = len(accounts) if isinstance(accounts, dict) else 0
        return True, f"Connected to {self.settings.base_url}: {count} Riffusion account(s) configured."


def _error_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and everything nested in it: causes, contexts, urllib3 ``reason`` and args."""
    seen: set[int] = set()
    stack: list[Any] = [error]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        stack.extend(getattr(current, "args", ()))


def _certificate_refusal(error: BaseException) -> str | None:
    """Why the server's TLS certificate was refused ('self-signed certificate'), or None if it was not."""
    import ssl

    for current in _error_chain(error):
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or "certificate verify failed"
    return None


def _caused_by_new_connection(error: BaseException) -> bool:
    """Whether urllib3 failed while opening the connection (nothing was sent)."""
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    return any(isinstance(e, (NewConnectionError, ConnectTimeoutError)) for e in _error_chain(error))


def _root_reason(error: BaseException) -> str:
    """The innermost OS-level reason ('Connection refused'), not urllib3's nested reprs."""
    import http.client

    timed_out = False
    described: str | None = None
    for current in _error_chain(error):
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        if described is None and isinstance(current, http.client.HTTPException) and str(current):
            # http.client's own words, e.g. RemoteDisconnected: 'Remote end closed connection without response'
            described = " ".join(str(current).split())[:120]
        timed_out = timed_out or isinstance(current, TimeoutError) or "timed out" in str(current).lower()
    return "timed out" if timed_out else described or type(error).__name__
