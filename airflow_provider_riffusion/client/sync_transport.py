"""The workers' transport: one ``requests`` session, and nothing but I/O.

Everything an answer means lives in ``answers.py`` and ``failures.py``; this module sends an
:class:`~airflow_provider_riffusion.client.endpoints.ApiCall`, reads at most
``MAX_ANSWER_BYTES`` of the answer within the connection's ``timeout`` (``deadline.py``), and
says which of three things went wrong when no answer came. A file (``stream``) is not read here but
handed on as it arrives, its body due within ``timeout`` plus its size at ``download_min_rate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from airflow_provider_riffusion.client.answers import MAX_ANSWER_BYTES, interpret
from airflow_provider_riffusion.client.deadline import Alarm, DeadlineAdapter, answer_deadline
from airflow_provider_riffusion.client.failures import FailureKind, error_chain, network_error
from airflow_provider_riffusion.exceptions import RiffusionNetworkError
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

    The headers are due within ``timeout``; the body is due within ``timeout`` plus its size at the
    connection's ``download_min_rate`` (``deadline.py`` paces the alarm): the declared Content-Length
    bounds the whole, and without one every byte must keep up, so a server trickling a few bytes a second
    ends as a timeout while a large song on a slow link above the rate completes. The time ``consume``
    spends storing counts too: it is one pipeline.
    """
    settings = call.settings
    try:
        with answer_deadline(settings.timeout) as alarm:
            response = session.request(
                call.method, call.url, params=call.params, headers=call.headers, timeout=settings.timeout, stream=True
            )
            with response:
                if 200 <= response.status_code < 300:
                    alarm.pace(settings.download_min_rate, declared_length(response.headers))
                    return consume(response.headers, _body(response, alarm))
                body = settings.redact_bytes(_read_capped(response))
    except requests.RequestException as error:
        if alarm.rate and (alarm.fired or isinstance(error, requests.Timeout)):
            raise settings.scrub(_too_slow(call, alarm, attempt, stalled=not alarm.fired)) from None
        raise network_error(call, "timeout" if alarm.fired else _kind(error), error, attempt) from None
    status, headers = response.status_code, response.headers
    del response
    return interpret(call, status, headers, body, attempt)


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The Content-Length when it is one plain number (a server's header is data, not trusted), else None."""
    value = (headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() and value.isascii() and len(value) <= 18 else None


def _body(response: requests.Response, alarm: Alarm) -> Iterator[bytes]:
    """The body as it arrives, each read counted on the alarm (an unsized body earns its time as it comes).

    ``read1`` returns whatever one read got, not a full chunk, so the count keeps up with the socket;
    urllib3's errors become requests' own, as ``iter_content`` would raise them. A body that ends
    because the alarm shut the socket is a timeout, never a complete file.
    """
    from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
    from urllib3.exceptions import SSLError as Urllib3SSLError

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
        f"{settings.base_url} did not send {call.what} in time: {late}{tried}. Check the network, or lower "
        "download_min_rate (or raise timeout) in the connection's extras.",
        body_sent=True,
    )


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
