"""The triggers' transport: one ``aiohttp`` session per wait, and nothing but I/O on the event loop.

aiohttp rather than httpx: one triggerer holds thousands of waits, and a poll through aiohttp
costs well under half the CPU of one through httpx (``benchmarks/trigger_scale.py``). It trusts
what the workers' ``requests`` trusts (``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``, else
certifi's bundle) and goes through the proxy ``requests`` would pick from ``HTTPS_PROXY`` /
``HTTP_PROXY`` / ``NO_PROXY``, so a wait reaches the API the way the upload did. Loading the CA
bundle and reading the proxy settings block, so both run off the loop, once.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from typing import TYPE_CHECKING, Any

import aiohttp

from airflow_provider_riffusion.client.answers import MAX_ANSWER_BYTES, interpret
from airflow_provider_riffusion.client.failures import FailureKind, network_error

if TYPE_CHECKING:
    from airflow_provider_riffusion.client.endpoints import ApiCall
    from airflow_provider_riffusion.settings import RiffusionSettings


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One SSL context per process: loading a CA bundle per client blocked the triggerer ~20 ms each."""
    import certifi

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    return ssl.create_default_context(cafile=bundle)


def environment_proxy(url: str) -> str | None:
    """The proxy ``requests`` would use for ``url`` (it reads the environment and NO_PROXY), or None."""
    from requests.utils import get_environ_proxies, select_proxy

    return select_proxy(url, get_environ_proxies(url))


class AsyncTransport:
    """An ``aiohttp.ClientSession`` (one keep-alive connection pool) for a trigger's whole wait."""

    def __init__(self, settings: RiffusionSettings, keepalive: float) -> None:
        self.settings = settings
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None
        self._proxy: str | None = None

    async def open(self) -> None:
        self._proxy = await asyncio.to_thread(environment_proxy, self.settings.base_url)
        context = await asyncio.to_thread(shared_ssl_context)
        self._session = aiohttp.ClientSession(
            headers=self.settings.headers(),
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
            connector=aiohttp.TCPConnector(ssl=context, keepalive_timeout=self._keepalive),
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, call: ApiCall, attempt: int = 1) -> Any:
        """One attempt of ``call``: the normalized answer, or the family's error for whatever went wrong."""
        if self._session is None:
            raise RuntimeError("open() the transport before sending")
        try:
            async with self._session.request(
                call.method, call.url, params=call.params, json=call.json, headers=call.headers, proxy=self._proxy
            ) as response:
                body = call.settings.redact_bytes(await _read_capped(response.content))
                status, headers = response.status, response.headers
        except (TimeoutError, aiohttp.ClientError) as error:
            raise network_error(call, _kind(error), error, attempt) from None
        return interpret(call, status, headers, body, attempt)


async def _read_capped(stream: aiohttp.StreamReader) -> bytes:
    """The body, but never more than one byte past the cap (that byte tells it was too large)."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_ANSWER_BYTES and (chunk := await stream.read(MAX_ANSWER_BYTES + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _kind(error: BaseException) -> FailureKind:
    """Whether a connection was never made, an answer did not come in time, or a connection broke."""
    if isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return "connect"
    return "timeout" if isinstance(error, asyncio.TimeoutError) else "lost"
