"""The workers' transport: one ``requests`` session, and nothing but I/O.

Everything an answer means lives in ``answers.py`` and ``failures.py``; this module sends an
:class:`~airflow_provider_riffusion.client.endpoints.ApiCall`, reads at most
``MAX_ANSWER_BYTES`` of the answer within the connection's ``timeout`` (``deadline.py``), and
says which of three things went wrong when no answer came.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from airflow_provider_riffusion.client.answers import MAX_ANSWER_BYTES, interpret
from airflow_provider_riffusion.client.deadline import DeadlineAdapter, answer_deadline
from airflow_provider_riffusion.client.failures import FailureKind, error_chain, network_error
from airflow_provider_riffusion.sources.model import SourceReadError

if TYPE_CHECKING:
    from airflow_provider_riffusion.client.endpoints import ApiCall
    from airflow_provider_riffusion.settings import RiffusionSettings

READ_CHUNK = 64 * 1024
T = TypeVar("T")


def new_session(settings: RiffusionSettings) -> requests.Session:
    """A keep-alive session whose default headers carry the token; answers are bounded as a whole."""
    session = requests.Session()
    session.headers.update(settings.headers())
    adapter = DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def send(session: requests.Session, call: ApiCall, attempt: int = 1) -> Any:
    """One attempt of ``call``: the normalized answer, or the family's error for whatever went wrong."""
    settings = call.settings
    try:
        with answer_deadline(settings.timeout) as alarm:
            response = session.request(
                call.method,
                call.url,
                params=call.params,
                json=call.json,
                data=call.body,
                headers=call.headers,
                timeout=settings.timeout,
                stream=True,
            )
            with response:
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


def stream(
    session: requests.Session, call: ApiCall, consume: Callable[[Any, Iterator[bytes]], T], attempt: int = 1
) -> T:
    """A file's answer (a download), handed to ``consume`` chunk by chunk; an error answer raises as any other.

    The timeout bounds the answer up to its headers; a file's body may be large, so from there on each
    read is bounded (``requests``' own timeout), not the whole.
    """
    settings = call.settings
    try:
        with answer_deadline(settings.timeout) as alarm:
            response = session.request(
                call.method, call.url, params=call.params, headers=call.headers, timeout=settings.timeout, stream=True
            )
            with response:
                if 200 <= response.status_code < 300:
                    alarm.cancelled = True
                    return consume(response.headers, response.iter_content(READ_CHUNK * 16))
                body = settings.redact_bytes(_read_capped(response))
    except requests.RequestException as error:
        raise network_error(call, "timeout" if alarm.fired else _kind(error), error, attempt) from None
    status, headers = response.status_code, response.headers
    del response
    return interpret(call, status, headers, body, attempt)


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


def _kind(error: requests.RequestException) -> FailureKind:
    """Whether a connection was never made (nothing was sent), an answer did not come in time, or it broke."""
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(error, requests.ConnectTimeout) or any(
        isinstance(inner, (NewConnectionError, ConnectTimeoutError)) for inner in error_chain(error)
    ):
        return "connect"
    return "timeout" if isinstance(error, requests.Timeout) else "lost"
