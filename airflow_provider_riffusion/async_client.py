"""The triggers' HTTP client: aiohttp on the event loop, same settings, retries and parsing as the hook.

Only reads (status and songs) live here: uploads and compose requests run on workers, because
a triggerer restart re-runs a trigger and a POST there could happen twice.

aiohttp rather than httpx: one triggerer holds thousands of waits, and a poll through aiohttp
costs well under half the CPU of one through httpx (``benchmarks/trigger_scale.py``). The client
trusts what the sync hook's ``requests`` trusts (``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``,
else certifi's bundle) and goes through the proxy ``requests`` would pick from
``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``, so a wait reaches the API the way the upload did.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_riffusion.exceptions import RiffusionConnectionConfigError, RiffusionNetworkError
from airflow_provider_riffusion.hooks.riffusion import SONGS_PATH, UPLOAD_PATH, retry_read

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_riffusion.settings import RiffusionSettings


@functools.cache
def _shared_ssl_context() -> ssl.SSLContext:
    """One SSL context per process: loading a CA bundle per client blocked the triggerer ~20 ms each."""
    import certifi

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    return ssl.create_default_context(cafile=bundle)


def _environment_proxy(url: str) -> str | None:
    """The proxy ``requests`` would use for ``url`` (it reads the environment and NO_PROXY), or None."""
    from requests.utils import get_environ_proxies, select_proxy

    return select_proxy(url, get_environ_proxies(url))


async def load_settings(riffusion_conn_id: str) -> RiffusionSettings:
    """Read the connection without blocking the event loop."""
    from airflow.providers.common.compat.connection import get_async_connection

    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
    from airflow_provider_riffusion.settings import settings_from_connection

    conn = await get_async_connection(riffusion_conn_id, hook=RiffusionHook)
    return settings_from_connection(riffusion_conn_id, conn.password, conn.host, conn.extra_dejson)


def _failure_kind(error: BaseException) -> Literal["connect", "timeout", "lost"]:
    """Whether a connection was never made, an answer never came in time, or a connection broke."""
    import aiohttp

    if isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return "connect"
    if isinstance(error, asyncio.TimeoutError):
        return "timeout"
    return "lost"


def _failure_reason(error: BaseException) -> str:
    """'Connection refused' rather than aiohttp's sentence with the address in it."""
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    return type(error).__name__


class RiffusionAsyncClient:
    """One ``aiohttp.ClientSession`` (one keep-alive connection pool) for a trigger's whole wait."""

    def __init__(self, settings: RiffusionSettings, poll_interval: float = 10.0):
        self.settings = settings
        self.poll_interval = poll_interval
        self._session: aiohttp.ClientSession | None = None
        self._proxy: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"

    async def __aenter__(self) -> RiffusionAsyncClient:
        import aiohttp

        self._proxy = await asyncio.to_thread(_environment_proxy, self.settings.base_url)
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.settings.token}", "Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
            connector=aiohttp.TCPConnector(
                ssl=_shared_ssl_context(),
                # Keep the connection across polls: aiohttp's default 15 s is shorter than some poll intervals.
                keepalive_timeout=max(60.0, 2 * self.poll_interval),
            ),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get(self, path: str, params: dict[str, Any], what: str) -> Any:
        return await self.settings.retry.call_async(
            lambda attempt: self._get_once(path, params, what, attempt), retry_read, what
        )

    async def _get_once(self, path: str, params: dict[str, Any], what: str, attempt: int) -> Any:
        import aiohttp

        from airflow_provider_riffusion.responses import decode_json, error_from_response
        from airflow_provider_riffusion.retry import parse_retry_after

        assert self._session is not None, "use the client as an async context manager"
        try:
            async with self._session.get(self.settings.url(path), params=params, proxy=self._proxy) as response:
                status, headers = response.status, response.headers
                text = (await response.read()).decode(response.charset or "utf-8", errors="replace")
        except aiohttp.ClientConnectorCertificateError as error:
            reason = getattr(error.certificate_error, "verify_message", None) or "certificate verify failed"
            raise RiffusionConnectionConfigError.certificate_refused(self.settings.base_url, reason) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise RiffusionNetworkError.describe(
                _failure_kind(error),
                base_url=self.settings.base_url,
                what=what,
                reason=_failure_reason(error),
                timeout=self.settings.timeout,
                attempt=attempt,
            ) from None
        if not 200 <= status < 300:
            failure = error_from_response(status, text, what, attempt)
            failure.retry_after = parse_retry_after(headers.get("Retry-After"))
            raise self.settings.scrub(failure)
        return decode_json(status, headers, text, what)

    async def get_upload_status(self, job_id: str, user_id: str | None = None) -> dict[str, Any]:
        from airflow_provider_riffusion.responses import normalize_upload_status
        from airflow_provider_riffusion.waiting import require_id

        job_id = require_id("job_id", job_id)  # never send ``?id=``: the same check as the hook's
        body = await self._get(UPLOAD_PATH, self.settings.params(user_id, id=job_id), f"the status of upload {job_id}")
        return normalize_upload_status(job_id, body)

    async def get_songs(self, job_id: str, user_id: str | None = None) -> list[dict[str, Any]]:
        from airflow_provider_riffusion.responses import normalize_songs
        from airflow_provider_riffusion.waiting import require_id

        job_id = require_id("job_id", job_id)
        body = await self._get(SONGS_PATH, self.settings.params(user_id, id=job_id), f"the songs of job {job_id}")
        return normalize_songs(job_id, body)
