"""The triggers' HTTP client: httpx on the event loop, same settings, retries and parsing as the hook.

Only reads (status and songs) live here: uploads and compose requests run on workers, because
a triggerer restart re-runs a trigger and a POST there could happen twice.
"""

from __future__ import annotations

import functools
import ssl
from typing import TYPE_CHECKING, Any

from airflow_provider_riffusion.exceptions import RiffusionNetworkError
from airflow_provider_riffusion.hooks.riffusion import SONGS_PATH, UPLOAD_PATH, retry_read

if TYPE_CHECKING:
    import httpx

    from airflow_provider_riffusion.settings import RiffusionSettings


@functools.cache
def _shared_ssl_context() -> ssl.SSLContext:
    """One SSL context per process: loading the CA bundle per client blocked the triggerer ~20 ms each."""
    import httpx

    return httpx.create_ssl_context()


async def load_settings(riffusion_conn_id: str) -> RiffusionSettings:
    """Read the connection without blocking the event loop."""
    from airflow.providers.common.compat.connection import get_async_connection

    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
    from airflow_provider_riffusion.settings import settings_from_connection

    conn = await get_async_connection(riffusion_conn_id, hook=RiffusionHook)
    return settings_from_connection(riffusion_conn_id, conn.password, conn.host, conn.extra_dejson)


class RiffusionAsyncClient:
    """One ``httpx.AsyncClient`` (one keep-alive connection pool) for a trigger's whole wait."""

    def __init__(self, settings: RiffusionSettings, poll_interval: float = 10.0):
        self.settings = settings
        self.poll_interval = poll_interval
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"

    async def __aenter__(self) -> RiffusionAsyncClient:
        import httpx

        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {self.settings.token}", "Accept": "application/json"},
            timeout=self.settings.timeout,
            verify=_shared_ssl_context(),
            # Keep the connection across polls: httpx's default 5 s expiry is shorter than a poll interval.
            limits=httpx.Limits(keepalive_expiry=max(60.0, 2 * self.poll_interval)),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _get(self, path: str, params: dict[str, Any], what: str) -> Any:
        async for attempt in self.settings.retry.async_retrying(retry_read, what):
            with attempt:
                return await self._get_once(path, params, what, attempt.retry_state.attempt_number)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _get_once(self, path: str, params: dict[str, Any], what: str, attempt: int) -> Any:
        import httpx

        from airflow_provider_riffusion.responses import decode_json, error_from_response
        from airflow_provider_riffusion.retry import parse_retry_after

        assert self._client is not None, "use the client as an async context manager"
        try:
            response = await self._client.get(self.settings.url(path), params=params)
        except httpx.TransportError as error:
            connect_failed = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
            base_url = self.settings.base_url
            if connect_failed:
                sentence = f"Could not connect to {base_url} for {what} ({type(error).__name__})"
            elif isinstance(error, httpx.TimeoutException):
                sentence = f"{base_url} did not answer {what} within {self.settings.timeout:g} s"
            else:
                sentence = f"Lost the connection to {base_url} during {what} ({type(error).__name__})"
            tried = f" after {attempt} attempts" if attempt > 1 else ""
            raise RiffusionNetworkError(
                f"{sentence}{tried}. Check the connection's host and the network.", connect_failed=connect_failed
            ) from None
        if not 200 <= response.status_code < 300:
            failure = error_from_response(response.status_code, response.text, what, attempt)
            failure.retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise self.settings.scrub(failure)
        return decode_json(response.status_code, response.headers, response.text, what)

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
