"""The only door to the API: ``RiffusionHook`` on workers, ``RiffusionAsyncHook`` in the triggerer.

Both share one core (:class:`RiffusionBaseHook`): it reads the connection into settings (the async
hook without blocking the event loop), holds the connection's service (``services/``), applies the
connection's default account once (:meth:`~RiffusionBaseHook.account`), builds each request from the
service's endpoint, and runs it under the endpoint's retry rule; what an answer, or its absence, means
is ``answers.py``'s, the same for both. Only the I/O differs: one ``requests`` session per hook on a
worker; in the triggerer, every wait of one connection shares one bounded ``aiohttp`` pool.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import http.client
import importlib
import os
import ssl
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urljoin, urlsplit

import certifi
import requests
from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook, conf, mask_secret
from requests.utils import get_environ_proxies, select_proxy
from urllib3.exceptions import ConnectTimeoutError, DecodeError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError

from airflow_provider_riffusion import retry
from airflow_provider_riffusion.connection_form import legacy_field_behaviour, legacy_widgets
from airflow_provider_riffusion.exceptions import (
    RiffusionError,
    RiffusionInputError,
    RiffusionNetworkError,
    RiffusionNotFoundError,
    RiffusionResponseError,
    error_chain,
)
from airflow_provider_riffusion.hooks import transfers
from airflow_provider_riffusion.hooks.answers import (
    MAX_ANSWER_BYTES,
    ApiCall,
    FailureKind,
    interpret,
    network_error,
    where,
)
from airflow_provider_riffusion.hooks.deadline import Alarm, DeadlineAdapter, answer_deadline, declared_length
from airflow_provider_riffusion.services import Endpoint, no_answer, ready_upload, require_id, sentence
from airflow_provider_riffusion.settings import RiffusionSettings, connection_settings, is_loopback, missing_connection
from airflow_provider_riffusion.sources.model import SourceReadError

if TYPE_CHECKING:
    import aiohttp

READ_CHUNK = 64 * 1024
DEFAULT_POOL_SIZE = 16
"""Connections one triggerer opens at most to one API host and token (``[riffusion] triggerer_pool_size``)."""
T = TypeVar("T")


class RiffusionBaseHook(BaseHook):
    """What both doors share: the connection's settings and service, the default account, each request.

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
        self._settings: RiffusionSettings | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(riffusion_conn_id={self.riffusion_conn_id!r})"

    @property
    def settings(self) -> RiffusionSettings:
        """The connection, validated once per hook."""
        if self._settings is None:
            try:
                conn = self.get_connection(self.riffusion_conn_id)
            except AirflowNotFoundException:
                raise missing_connection(self.riffusion_conn_id) from None
            self._settings = self._read(conn, conn.extra_dejson)
        return self._settings

    def _read(self, conn: Any, extra: dict[str, Any]) -> RiffusionSettings:
        if conn.password:
            mask_secret(conn.password)
        return connection_settings(self.riffusion_conn_id, conn, extra, self.log, **self._overrides)

    def account(self, user_id: str | None) -> str | None:
        """The account a call is for: the one the task names, else the connection's default (the one place this
        rule lives). Where the API names accounts by email (Flow Music), anything else is refused here: a
        Riffusion user_id left in a connection moved to Flow Music would otherwise be sent as ``email``."""
        account = user_id or self.settings.user_id
        service = self.settings.service
        if account and service.ACCOUNT_PARAM == "email" and "@" not in str(account):
            where = "the task's user_id" if user_id else f"connection '{self.riffusion_conn_id}' extra user_id"
            raise RiffusionInputError(
                f"{where} is {account!r}, not an email: on {service.SHORT_TITLE} an account is its email (a Riffusion "
                "user_id does not carry over). Put the account's email there, or leave it empty."
            )
        return account

    def request(
        self,
        operation: str | Endpoint,
        user_id: str | None = None,
        *,
        json: Any = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        **arguments: Any,
    ) -> tuple[ApiCall, Endpoint]:
        """The request of one of the service's operations (by name, or its ``Endpoint``): ``arguments`` fill its
        path and query, ``json`` or a streamed ``body`` its body. Ids are checked here, so no path ever sends
        ``?id=``, and the account is put where the endpoint wants it."""
        settings = self.settings
        if isinstance(operation, Endpoint):
            endpoint: Endpoint | None = operation
        else:
            endpoint = settings.service.ENDPOINTS.get(operation)
        if endpoint is None:
            service = settings.service
            raise RiffusionInputError(
                f"{sentence(service.TITLE)} (the connection's service) has no operation {operation!r}: use one of "
                f"{', '.join(sorted(service.ENDPOINTS))}."
            )
        for param, name in endpoint.ids.items():
            arguments[param] = require_id(name, arguments.get(param))
        what = endpoint.describe(**arguments)
        path, query = endpoint.route(arguments)
        key = settings.service.ACCOUNT_PARAM
        if endpoint.account == "query" and (account := self.account(user_id)):
            query[key] = account
        if endpoint.account == "body" and (account := self.account(user_id or (json or {}).get(key))):
            if not isinstance(account, str):
                raise RiffusionInputError(f"{key} must be a string, got {type(account).__name__}.")
            json = {**(json or {}), key: account}
        url = settings.url(path)
        call = ApiCall(endpoint, settings, url, query, what, json, body, dict(headers or {}), arguments)
        return call, endpoint

    def public_call(self, url: str, what: str) -> tuple[ApiCall, Endpoint]:
        """A GET of a public URL the API handed out (a clip's ``wav_url``): never with the token, and only over
        https, or plain http to this host when the connection's own host is (the emulator): the URL is data from
        the network, and must not turn a worker into a client of its own local services."""
        if not public_url_allowed(url, self.local_files_allowed):
            raise RiffusionResponseError(
                f"{sentence(self.settings.service.TITLE)} gave {what} a URL that is neither https nor on this host "
                f"({shown_url(self.settings.redact(url))}): it is not fetched. Download mp3 instead, or check the "
                "connection's host."
            )
        endpoint = Endpoint("GET", url, what, no_answer, retry.retry_read, account=None)
        return ApiCall(endpoint, self.settings, url, {}, what, public=True), endpoint

    @property
    def local_files_allowed(self) -> bool:
        """Public files may come from this host only when the API itself does (the emulator, in tests)."""
        return is_loopback(urlsplit(self.settings.base_url).hostname or "")

    def free_of(self, answer: Mapping[str, Any], accounts: Mapping[str, Any] | None, user_id: str | None) -> int:
        """Free job slots of the account (the task's, else the connection's), or of all accounts without one."""
        free = self.settings.service.free_slots(answer, accounts)
        account = self.account(user_id)
        return int(free.get(account, 0)) if account else sum(free.values())

    def body(self, operation: str, **fields: Any) -> dict[str, Any]:
        """A create call's JSON body, checked by the service before anything is sent."""
        return self.settings.service.body(operation, fields)

    def stopped(self, job_id: str, now: bool) -> bool:
        """Log what stopping a job did, the same on both doors."""
        if now:
            self.log.info("Stopped tracking job %s: its slot is free.", job_id)
        else:
            self.log.info("Job %s no longer runs (finished, stopped before, or unknown): nothing to stop.", job_id)
        return now


class RiffusionHook(RiffusionBaseHook):
    """
    Interact with the useapi.net Riffusion API from a worker.

    The connection's password is the API token; its host is an optional base URL (the public
    API when empty, or the bundled emulator, or a proxy); extras ``user_id`` (the default
    account) and ``timeout`` (seconds for each request's whole answer). One ``requests.Session``
    serves every call of the hook, so polls reuse their connection; :meth:`close` releases it.
    Parameters as for :class:`RiffusionBaseHook`.
    """

    # -- connection form (Airflow 2.11, 3.0, 3.1; 3.2+ reads conn-fields from provider info) --

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form: the default account and the request timeout."""
        return legacy_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel the token and base URL fields; hide the ones the API does not use."""
        return legacy_field_behaviour()

    # -- the session --

    _session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        """One keep-alive session per hook; the token rides in its default headers; answers are bounded."""
        if self._session is None:
            session = requests.Session()
            session.headers.update(self.settings.headers())
            adapter = DeadlineAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._session = session
        return self._session

    def get_conn(self) -> requests.Session:
        """The hook's HTTP session (as the official providers' HTTP hooks return theirs)."""
        return self.session

    def close(self) -> None:
        """Release the sessions' connections; the next call opens a new session."""
        for name in ("_session", "_public_session"):
            session = getattr(self, name)
            setattr(self, name, None)
            if session is not None:
                session.close()

    # -- calls --

    def call(self, operation: str | Endpoint, user_id: str | None = None, **arguments: Any) -> Any:
        """One of the service's operations under its retry rule: the normalized answer, or the family's error."""
        call, endpoint = self.request(operation, user_id, **arguments)
        return self.settings.retry.call(lambda attempt: self.send(call, attempt), endpoint.should_retry, call.what)

    def send(self, call: ApiCall, attempt: int = 1) -> Any:
        """One attempt of ``call``: the normalized answer, or the family's error for whatever went wrong.

        The whole answer is due within the connection's ``timeout`` (``deadline.py``), and at most
        ``MAX_ANSWER_BYTES`` of it is read.
        """
        settings = call.settings
        try:
            with answer_deadline(settings.timeout) as alarm, self._response(call) as response:
                body = settings.redact_bytes(_read_capped(response))
        except SourceReadError as error:
            raise settings.scrub(error.riffusion_error(call.what, attempt)) from None
        except requests.RequestException as error:
            raise network_error(call, "timeout" if alarm.fired else _kind(error), error, attempt) from None
        status, headers = response.status_code, response.headers
        # An error raised below keeps this frame alive (tenacity holds it in a cycle until the next garbage
        # collection); without the response in it, closing the session closes its socket at once.
        del response
        return interpret(call, status, headers, body, attempt)

    _public_session: requests.Session | None = None

    @property
    def public_session(self) -> requests.Session:
        """A session without the token, for the public URLs the API hands out; redirects stay https (or loopback)."""
        if self._public_session is None:
            session = requests.Session()
            session.headers["Accept-Encoding"] = "identity"  # no compressed body to inflate past its bounds
            adapter = DeadlineAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.hooks["response"].append(functools.partial(_refuse_insecure_redirect, self.local_files_allowed))
            self._public_session = session
        return self._public_session

    def _response(self, call: ApiCall) -> requests.Response:
        """The request sent and the answer's headers in; its body is read by the caller, as it arrives."""
        return (self.public_session if call.public else self.session).request(
            call.method,
            call.url,
            params=call.params,
            json=call.json,
            data=call.body,
            headers=call.headers,
            timeout=call.settings.timeout,
            stream=True,
        )

    def stream(self, call: ApiCall, consume: Callable[[Any, Iterator[bytes]], T], attempt: int = 1) -> T:
        """A file's answer (a download), handed to ``consume`` chunk by chunk; an error answer raises as any other.

        The headers are due within ``timeout``; the body within ``timeout`` plus its size at the connection's
        ``download_min_rate`` (``deadline.py`` paces the alarm): the declared Content-Length bounds the whole,
        and without one every byte must keep up, so a server trickling a few bytes a second ends as a timeout
        while a large song on a slow link above the rate completes. The time ``consume`` spends storing counts
        too: it is one pipeline.
        """
        settings = call.settings
        try:
            with answer_deadline(settings.timeout) as alarm, self._response(call) as response:
                if 200 <= response.status_code < 300:
                    alarm.pace(settings.download_min_rate, declared_length(response.headers))
                    return consume(response.headers, _body(response, alarm))
                body = settings.redact_bytes(_read_capped(response))
        except _RefusedRedirect as error:  # the server's choice, not network trouble: a retry meets it again
            raise settings.scrub(
                RiffusionResponseError(
                    f"{sentence(settings.service.TITLE)} answered {call.what} with a redirect to {error.target}, "
                    "which is neither https nor on this host: it is not followed, and nothing was stored. Download "
                    "mp3 instead, or check the connection's host."
                )
            ) from None
        except requests.RequestException as error:
            if alarm.rate and (alarm.fired or isinstance(error, requests.Timeout)):
                raise settings.scrub(_too_slow(call, alarm, attempt, stalled=not alarm.fired)) from None
            raise network_error(call, "timeout" if alarm.fired else _kind(error), error, attempt) from None
        status, headers = response.status_code, response.headers
        del response
        return interpret(call, status, headers, body, attempt)

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
        Content-Length, any other chunked; neither is ever read whole. Only mp3, m4a and wav
        bytes are sent, whatever the name says.

        :return: ``job_id`` (for the status endpoint), ``audio_upload_id`` (for compose),
            ``is_flagged``, ``file_name``, ``content_type``, ``bytes`` and ``sha256`` of what was sent.
        """
        prepared = transfers.prepare(self, source, file_name, content_type, max_bytes, source_conn_id)
        try:
            return transfers.upload(self, prepared, user_id)
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
        prepared = transfers.prepare(self, source, file_name, content_type, max_bytes, source_conn_id)
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
        url: str | None = None,
    ) -> dict[str, Any]:
        """Stream a song (``GET music/download``) into the folder ``destination`` (a local path, an
        ``ObjectStoragePath`` or URI such as ``s3://bucket/songs/``), in constant memory, as
        ``<title>-<song id>.<ext>``, never half-written under that name; only audio of the format is
        stored (a 200 with a page or an error body is refused), and a file already there is kept only
        when its recorded sha256 proves it is this song. ``stems`` is the API's JSON about them,
        stored as it came (undocumented). Where the service serves a format only from a public URL (Flow Music's
        wav: the song's ``wav_url``), ``url`` is that URL, fetched without the token.

        :return: ``song_id``, ``path``, ``format``, ``bytes``, ``sha256``, ``content_type``.
        """
        return transfers.download(
            self, song_id, destination, download_format, user_id, title=title, conn_id=destination_conn_id, url=url
        )

    def get_upload_status(self, job_id: str, user_id: str | None = None) -> dict[str, Any]:
        """The upload's processing status: ``job_id``, ``audio_upload_id``, ``status``, ``lyrics``,
        ``is_flagged`` and the raw ``response``, whichever API revision answered. On a service whose uploads are
        ready when they answer (Flow Music, which has no status to read), ``complete`` without a request."""
        if not self.settings.service.UPLOADS_PROCESS:
            return ready_upload(require_id("job_id", job_id))
        return self.call("upload_status", user_id, id=job_id)

    def create_compose(self, prompt_1: str, *, user_id: str | None = None, **fields: Any) -> dict[str, Any]:
        """Start composing (two songs per request upstream), optionally from an uploaded track
        (``audio_upload_id``).

        ``fields`` are the service's compose parameters (``lyrics``, ``title``, ``prompt_2`` ...; the integer
        fields ``prompt_1_strength`` ... ``max_jobs`` are checked against their documented ranges) before
        anything is sent.

        :return: ``job_ids`` (one per song job) and the raw ``response``.
        """
        result = self.call("compose", user_id, json=self.body("compose", prompt_1=prompt_1, **fields))
        self.log.info("Compose started: job_ids=%s", result["job_ids"])
        return result

    def get_songs(self, job_id: str, user_id: str | None = None) -> list[dict[str, Any]]:
        """The songs of a compose job (possibly empty before they exist)."""
        return self.call("songs", user_id, id=job_id)

    def generate_lyrics(
        self, prompt: str, lyrics: str | None = None, user_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Lyrics for a prompt (Riffusion: ``POST music/generate-lyrics``, optionally reworking ``lyrics``; Flow Music:
        ``POST music/lyrics``, with an optional ``structure``): ``lyrics`` and the raw ``response``."""
        return self.call("lyrics", user_id, json=self.body("lyrics", prompt=prompt, lyrics=lyrics, **fields))

    def create_prompt(
        self, prompt: str, *, instrumental: bool | None = None, user_id: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Songs from one prompt (``POST music/create-prompt``): ``job_ids`` and the raw ``response``, like
        :meth:`create_compose`. A moderated prompt is ``RiffusionModerationError``."""
        payload = self.body("prompt", prompt=prompt, instrumental=instrumental, **extra)
        result = self.call("prompt", user_id, json=payload)
        self.log.info("Prompt started: job_ids=%s", result["job_ids"])
        return result

    def free_slots(self, user_id: str | None = None) -> int:
        """Free job slots (Riffusion: ``GET scheduler/available``; Flow Music: each account's ``maxJobs`` less its
        running jobs): of ``user_id`` (else the connection's), or of all accounts."""
        answer = self.call("slots")
        accounts = self.call("accounts") if self.settings.service.SLOTS_NEED_ACCOUNTS else None
        return self.free_of(answer, accounts, user_id)

    def stop_job(self, job_id: str) -> bool:
        """Stop tracking a running job (``DELETE scheduler/{job_id}``), which frees its account's slot; the job
        may still finish upstream. True once stopped; False when the job no longer runs (HTTP 404: finished,
        stopped before, or unknown), so a retry whose first attempt's answer was lost is no error."""
        try:
            self.call("stop_job", job_id=job_id)
        except RiffusionNotFoundError:
            return self.stopped(job_id, False)
        return self.stopped(job_id, True)

    def test_connection(self) -> tuple[bool, str]:
        """One authenticated GET (accounts) for the UI's Test button; never raises."""
        try:
            name = self.settings.service.SHORT_TITLE
            accounts = self.call("accounts")
        except RiffusionError as error:
            if error.http_status == 404:
                return True, (
                    f"Token accepted by {self.settings.base_url}; no {name} account is configured "
                    "yet (add one with POST accounts)."
                )
            return False, str(error)
        except Exception as error:
            return False, f"Connection check failed: {type(error).__name__}: {error}"
        if not accounts:
            return True, (
                f"Token accepted by {self.settings.base_url}; no {name} account is configured yet (add one with "
                "POST accounts)."
            )
        return True, f"Connected to {self.settings.base_url}: {len(accounts)} {name} account(s) configured."


class RiffusionAsyncHook(RiffusionBaseHook):
    """The API's reads for triggers, on the event loop: the same calls, answers and errors as :class:`RiffusionHook`.

    The connection is read through common-compat's async helpers (never blocking the loop, nor
    deadlocking on the secrets masker's round trip to the supervisor, which ``conn.extra_dejson`` would
    make on it). Use it as ``async with RiffusionAsyncHook(conn_id) as hook``: every hook of one connection
    in one triggerer shares one bounded connection pool (:class:`_Pool`), held while a hook is open.
    """

    _pool: _Pool | None = None

    async def __aenter__(self) -> RiffusionAsyncHook:
        await self.get_settings()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def get_settings(self) -> RiffusionSettings:
        """The connection, read off the event loop once per hook."""
        if self._settings is None:
            from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

            try:
                conn = await get_async_connection(self.riffusion_conn_id, hook=RiffusionHook)
            except AirflowNotFoundException:
                raise missing_connection(self.riffusion_conn_id) from None
            self._settings = self._read(conn, await get_async_extra_dejson(conn))
        return self._settings

    @property
    def settings(self) -> RiffusionSettings:
        if self._settings is None:
            raise RuntimeError("await get_settings() (or enter `async with`) before calling the API")
        return self._settings

    async def close(self) -> None:
        """Let go of the shared pool; the last hook of a connection to leave it closes it."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.release()

    async def call(self, operation: str | Endpoint, user_id: str | None = None, **arguments: Any) -> Any:
        """One of the service's operations under its retry rule: the normalized answer, or the family's error."""
        await self.get_settings()
        call, endpoint = self.request(operation, user_id, **arguments)
        if self._pool is None:
            pool = await _Pool.acquire(self.settings)
            if self._pool is None:
                self._pool = pool
            else:  # another call of this hook acquired it meanwhile
                await pool.release()
        pool = self._pool
        return await self.settings.retry.call_async(
            lambda attempt: pool.send(call, attempt), endpoint.should_retry, call.what
        )

    async def get_upload_status(self, job_id: str, user_id: str | None = None) -> dict[str, Any]:
        """As :meth:`RiffusionHook.get_upload_status`."""
        if not (await self.get_settings()).service.UPLOADS_PROCESS:
            return ready_upload(require_id("job_id", job_id))
        return await self.call("upload_status", user_id, id=job_id)

    async def get_songs(self, job_id: str, user_id: str | None = None) -> list[dict[str, Any]]:
        """As :meth:`RiffusionHook.get_songs`."""
        return await self.call("songs", user_id, id=job_id)

    async def free_slots(self, user_id: str | None = None) -> int:
        """As :meth:`RiffusionHook.free_slots`: the default account is applied by the same rule."""
        answer = await self.call("slots")
        accounts = await self.call("accounts") if self.settings.service.SLOTS_NEED_ACCOUNTS else None
        return self.free_of(answer, accounts, user_id)

    async def stop_job(self, job_id: str) -> bool:
        """As :meth:`RiffusionHook.stop_job`."""
        try:
            await self.call("stop_job", job_id=job_id)
        except RiffusionNotFoundError:
            return self.stopped(job_id, False)
        return self.stopped(job_id, True)


class _Pool:
    """One ``aiohttp`` session (a bounded keep-alive pool) per API host and token per event loop.

    aiohttp rather than httpx: one triggerer holds thousands of waits, and a poll through aiohttp costs
    well under half the CPU of one through httpx (``benchmarks/trigger_scale.py``). It trusts what the
    workers' ``requests`` trusts (``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``, else certifi's bundle) and
    goes through the proxy ``requests`` would pick (``HTTPS_PROXY`` / ``NO_PROXY`` ...), so a wait reaches
    the API the way the upload did. Importing aiohttp (~150 ms), loading the CA bundle and reading the
    proxy settings block, so they run off the loop, once.
    """

    _open: ClassVar[dict[tuple[int, str, str], _Pool]] = {}

    def __init__(
        self,
        key: tuple[int, str, str],
        loop: asyncio.AbstractEventLoop,
        session: aiohttp.ClientSession,
        proxy: str | None,
        size: int,
    ) -> None:
        self.key = key
        self.loop = loop
        self.session = session
        self.turns = asyncio.Semaphore(size)
        """One turn per connection: a poll waits here for a free connection, and its ``timeout`` (the API's
        time to answer) starts only once it has one, so a busy pool never reads as a slow API."""
        self.proxy = proxy
        self.users = 0

    @classmethod
    async def acquire(cls, settings: RiffusionSettings) -> _Pool:
        loop = asyncio.get_running_loop()
        key = (id(loop), settings.base_url, hashlib.sha256(settings.token.encode()).hexdigest())
        pool = cls._open.get(key)
        if pool is None or pool.loop is not loop:
            # Pools of loops that ended without closing their hooks are unusable (and an ended loop's id can
            # come back): forget them, rather than hand one out.
            for stale in [old for old, kept in cls._open.items() if kept.loop is not loop and kept.loop.is_closed()]:
                del cls._open[stale]
            pool = cls._open.get(key)
        if pool is None:
            aiohttp = await asyncio.to_thread(importlib.import_module, "aiohttp")
            proxy = await asyncio.to_thread(_environment_proxy, settings.base_url)
            context = await asyncio.to_thread(shared_ssl_context)
            pool = cls._open.get(key)  # another wait of this loop may have opened it meanwhile
            if pool is None:
                size = max(1, conf.getint("riffusion", "triggerer_pool_size", fallback=DEFAULT_POOL_SIZE))
                connector = aiohttp.TCPConnector(ssl=context, limit=size, keepalive_timeout=120)
                session = aiohttp.ClientSession(headers=settings.headers(), connector=connector)
                # aiohttp resends an idempotent request once when a kept-alive connection drops, inside one
                # attempt; the retry policy already retries reads, so the worker's door and this one count
                # (and log) the same attempts. No public switch exists; the lock file pins aiohttp.
                session._retry_connection = False
                pool = cls._open[key] = _Pool(key, loop, session, proxy, size)
        pool.users += 1
        return pool

    async def release(self) -> None:
        self.users -= 1
        if self.users <= 0 and self._open.get(self.key) is self:
            del self._open[self.key]
            await self.session.close()

    async def send(self, call: ApiCall, attempt: int = 1) -> Any:
        """One attempt of ``call``: the normalized answer, or the family's error for whatever went wrong."""
        import aiohttp
        import yarl

        try:
            async with (
                self.turns,
                self.session.request(
                    call.method,
                    # As sent: yarl would otherwise decode a percent-encoded id in the path (Flow Music's jobs/{jobid}).
                    yarl.URL(call.url, encoded=True),
                    params=call.params,
                    json=call.json,
                    headers=call.headers,
                    proxy=self.proxy,
                    timeout=aiohttp.ClientTimeout(total=call.settings.timeout),
                ) as response,
            ):
                body = call.settings.redact_bytes(await _read_capped_async(response.content))
                status, headers = response.status, response.headers
        except aiohttp.ServerDisconnectedError:  # in http.client's words, as the worker's door reports it
            dropped = http.client.RemoteDisconnected("Remote end closed connection without response")
            raise network_error(call, "lost", dropped, attempt) from None
        except (TimeoutError, aiohttp.ClientError) as error:
            raise network_error(call, _async_kind(error), error, attempt) from None
        return interpret(call, status, headers, body, attempt)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One SSL context per process: loading a CA bundle per client blocked the triggerer ~20 ms each."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    return ssl.create_default_context(cafile=bundle)


def public_url_allowed(url: str, local: bool = False) -> bool:
    """https to anywhere, or (``local``: the API itself is on this host) plain http to this host; never
    credentials in the URL."""
    parts = urlsplit(url)
    if parts.username or parts.password or not parts.hostname:
        return False
    return parts.scheme == "https" or (local and parts.scheme == "http" and is_loopback(parts.hostname))


def shown_url(url: str) -> str:
    """A URL for a message: its scheme and host only (a signed URL's query is a credential)."""
    parts = urlsplit(url)
    if not parts.scheme and not parts.hostname:
        return repr(url[:40])
    return f"{parts.scheme or 'no scheme'}://{parts.hostname or ''}/..."


class _RefusedRedirect(requests.exceptions.InvalidURL):
    """A public file's redirect to a URL it may not follow; ``target`` as a message may show it."""

    def __init__(self, target: str) -> None:
        super().__init__(f"a redirect to {target} was not followed (not https)")
        self.target = target


def _refuse_insecure_redirect(local: bool, response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A public file's redirect must stay https (or loopback, ``local``): checked before requests follows it."""
    if response.is_redirect:
        target = urljoin(response.url, response.headers.get("Location", ""))
        if not public_url_allowed(target, local):
            response.close()
            raise _RefusedRedirect(shown_url(target))


def _environment_proxy(url: str) -> str | None:
    """The proxy ``requests`` would use for ``url`` (it reads the environment and NO_PROXY), or None."""
    return select_proxy(url, get_environ_proxies(url))


async def _read_capped_async(stream: Any) -> bytes:
    """The body, but never more than one byte past the cap (that byte tells it was too large)."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_ANSWER_BYTES and (chunk := await stream.read(MAX_ANSWER_BYTES + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _read_capped(response: requests.Response) -> bytes:
    """The body, but never more than one byte past the cap (that byte tells it was too large)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(READ_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            break
    return b"".join(chunks)


def _body(response: requests.Response, alarm: Alarm) -> Iterator[bytes]:
    """The body as it arrives, each read counted on the alarm (an unsized body earns its time as it comes).

    ``read1`` returns whatever one read got, not a full chunk, so the count keeps up with the socket;
    urllib3's errors become requests' own, as ``iter_content`` would raise them. A body that ends
    because the alarm shut the socket is a timeout, never a complete file.
    """
    raw = response.raw
    read1 = getattr(raw, "read1", None)  # urllib3 2; urllib3 1.26 reads whole chunks
    try:
        while chunk := read1(READ_CHUNK * 16, decode_content=True) if read1 else raw.read(READ_CHUNK, True):
            alarm.received += len(chunk)
            yield chunk
    except ProtocolError as error:
        raise requests.exceptions.ChunkedEncodingError(error) from error
    except DecodeError as error:
        raise requests.exceptions.ContentDecodingError(error) from error
    except ReadTimeoutError as error:  # silent for ``timeout``: a stall (iter_content would call it lost)
        raise requests.exceptions.ReadTimeout(error) from error
    except Urllib3SSLError as error:
        raise requests.exceptions.SSLError(error) from error
    if alarm.fired:
        raise requests.exceptions.Timeout("the answer's deadline shut the connection")


def _too_slow(call: ApiCall, alarm: Alarm, attempt: int, *, stalled: bool) -> RiffusionNetworkError:
    """A body that did not keep up with ``download_min_rate``, or went silent for ``timeout``: network trouble,
    retried as reads are."""
    settings = call.settings
    tried = f" after {attempt} attempts" if attempt > 1 else ""
    got = f"{alarm.received} of {alarm.length} bytes" if alarm.length is not None else f"{alarm.received} bytes"
    if stalled:
        late = f"{got} of the body, then nothing for {settings.timeout:g} s (the connection's timeout)"
    else:
        late = (
            f"{got} of the body within the {alarm.allowance:.1f} s it had (timeout {settings.timeout:g} s plus "
            f"the body at download_min_rate {settings.download_min_rate:g} bytes a second)"
        )
    return RiffusionNetworkError(
        f"{where(call)} did not send {call.what} in time: {late}{tried}. Check the network, or lower "
        "download_min_rate (or raise timeout) in the connection's extras."
    )


def _kind(error: requests.RequestException) -> FailureKind:
    """Whether a connection was never made (nothing was sent), an answer did not come in time, or it broke."""
    if isinstance(error, requests.ConnectTimeout) or any(
        isinstance(inner, (NewConnectionError, ConnectTimeoutError)) for inner in error_chain(error)
    ):
        return "connect"
    return "timeout" if isinstance(error, requests.Timeout) else "lost"


def _async_kind(error: BaseException) -> FailureKind:
    """As :func:`_kind`, for aiohttp's errors."""
    import aiohttp

    if isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return "connect"
    return "timeout" if isinstance(error, asyncio.TimeoutError) else "lost"
