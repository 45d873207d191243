"""A request that got no answer: what happened, in the family's words, whichever HTTP client failed.

The transports say only which of three things happened (the connection never opened, the answer
did not come in time, the connection broke) and hand over the library's exception; the error
chain is walked here, once, for the OS-level reason and a refused TLS certificate. A create
call whose whole request left before the answer was lost may have been acted on: that is the
fatal ``RiffusionUnconfirmedError``, never a network error a retry would turn into a duplicate.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_riffusion.exceptions import (
    RiffusionConnectionConfigError,
    RiffusionError,
    RiffusionNetworkError,
)

if TYPE_CHECKING:
    from airflow_provider_riffusion.client.endpoints import ApiCall

FailureKind = Literal["connect", "timeout", "lost"]


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and everything nested in it: causes, contexts, urllib3's ``reason`` and args."""
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


def certificate_refusal(error: BaseException) -> str | None:
    """Why the server's TLS certificate was refused ('self-signed certificate'), or None if it was not."""
    refused = False
    for current in error_chain(error):
        if isinstance(current, ssl.SSLCertVerificationError):  # aiohttp's own certificate error is one too
            refused = True
            if getattr(current, "verify_message", None):
                return str(current.verify_message)
    return "certificate verify failed" if refused else None


def root_reason(error: BaseException) -> str:
    """The innermost OS-level reason ('Connection refused'), never a library's text with the URL in it."""
    timed_out = False
    described: str | None = None
    for current in error_chain(error):
        if isinstance(current, ssl.SSLError):
            return str(current.reason or "TLS error")  # its errno is OpenSSL's, not the OS's
        if isinstance(current, OSError) and isinstance(current.errno, int) and current.errno > 0:
            return os.strerror(current.errno)  # asyncio's own strerror repeats the address
        if isinstance(current, OSError) and current.strerror:
            return current.strerror  # e.g. a resolver's 'Name or service not known' (negative errno)
        if described is None and isinstance(current, http.client.HTTPException) and str(current):
            # http.client's own words, e.g. RemoteDisconnected: 'Remote end closed connection without response'
            described = " ".join(str(current).split())[:120]
        timed_out = timed_out or isinstance(current, TimeoutError) or "timed out" in str(current).lower()
    return "timed out" if timed_out else described or type(error).__name__


_NETWORK_WORDS = ("connection", "timeout", "unavailable")


def is_network_trouble(error: BaseException) -> bool:
    """Whether a storage or HTTP library's error is network trouble (worth a retry), not a refusal.

    Built-in connection, timeout and resolver errors anywhere in the chain, or a library error whose
    class says so (botocore's ``EndpointConnectionError``, ``ReadTimeoutError`` ...). A refused
    credential or permission, a missing object, or anything unknown, is not.
    """
    for current in error_chain(error):
        if isinstance(current, (PermissionError, FileNotFoundError)):
            return False
        if isinstance(current, (ConnectionError, TimeoutError, socket.gaierror)):
            return True
        if any(word in type(current).__name__.lower() for word in _NETWORK_WORDS):
            return True
    return False


def network_error(call: ApiCall, kind: FailureKind, error: BaseException, attempt: int) -> RiffusionError:
    """The family's error for a request that got no answer (token scrubbed)."""
    settings = call.settings
    refused = certificate_refusal(error)
    if refused is not None:
        return settings.scrub(RiffusionConnectionConfigError.certificate_refused(settings.base_url, refused))
    failure = RiffusionNetworkError.describe(
        kind,
        base_url=settings.base_url,
        what=call.what,
        reason=root_reason(error),
        timeout=settings.timeout,
        attempt=attempt,
        body_sent=call.request_left(),
    )
    if kind != "connect" and call.request_left():
        return settings.scrub(call.unconfirmed(failure))
    return settings.scrub(failure)
