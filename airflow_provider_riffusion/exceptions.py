"""One exception family for everything the provider raises.

Every error carries the HTTP status and the API's ``error`` text as attributes, so callers
branch on ``http_status`` or the class, never on message prefixes. Errors that retrying cannot
fix derive from :class:`RiffusionFatalError`, which is also an ``AirflowFailException``: Airflow
fails the task at once instead of burning its retries.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
from collections.abc import Iterator
from typing import Any, Literal

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException


class RiffusionError(AirflowException):
    """Root of the provider's errors."""

    def __init__(self, message: str, *, http_status: int | None = None, api_error: str | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.api_error = api_error
        self.retry_after: float | None = None
        """Seconds the server asked to wait (``Retry-After``), when it did."""


class RiffusionFatalError(RiffusionError, AirflowFailException):
    """An error that no retry will fix: the task fails without using its retries."""


class RiffusionInputError(RiffusionFatalError, ValueError):
    """Bad input caught locally, before any request was sent."""


class RiffusionSourceError(RiffusionInputError):
    """The upload's source cannot be read: missing, forbidden, refused by its remote (HTTP 4xx)."""


class RiffusionDestinationError(RiffusionInputError):
    """A song cannot be stored at its destination: a missing filesystem, refused permissions, a failed write."""


class RiffusionStorageError(RiffusionError):
    """A song could not be stored for a reason that may pass: a full disk or quota, an I/O error, an
    unreachable object store. Not fatal, so Airflow's task retry tries again later; not transient
    either, so the hook does not re-download at once onto the same full disk."""


class RiffusionConnectionConfigError(RiffusionFatalError):
    """The Airflow connection is missing or malformed (no token, bad base URL...)."""

    @classmethod
    def certificate_refused(cls, base_url: str, reason: str) -> RiffusionConnectionConfigError:
        """The server's TLS certificate failed verification: nothing was sent, and retrying cannot help."""
        return cls(
            f"The TLS certificate of {base_url} was refused ({reason}): point REQUESTS_CA_BUNDLE at the CA "
            "bundle that signs it (a corporate proxy's CA, for example), or correct the connection's host."
        )


class RiffusionBadRequestError(RiffusionFatalError):
    """HTTP 400: a parameter was rejected by the API."""


class RiffusionAuthError(RiffusionFatalError):
    """HTTP 401: the API token is missing or wrong."""


class RiffusionSubscriptionError(RiffusionFatalError):
    """HTTP 402: the useapi.net subscription has expired."""


class RiffusionNotFoundError(RiffusionFatalError):
    """HTTP 404: the job, upload or account does not exist."""


class RiffusionCreditsError(RiffusionFatalError):
    """HTTP 412: the Riffusion account is out of credits."""


class RiffusionModerationError(RiffusionFatalError):
    """HTTP 422: the prompt or lyrics were moderated."""


class RiffusionAccountError(RiffusionFatalError):
    """HTTP 596: the Riffusion account must be re-registered (POST accounts)."""


class RiffusionUnexpectedStatusError(RiffusionFatalError):
    """An HTTP status the API does not document (403, 409, 413, a redirect ...): retrying will not change it."""


class RiffusionUploadFailedError(RiffusionFatalError):
    """The service reported the upload as failed, errored or cancelled (or flagged, when asked)."""


class RiffusionSongFailedError(RiffusionFatalError):
    """The service reported a composed song as failed."""


class RiffusionTransientError(RiffusionError):
    """A failure worth retrying later: 5xx, 429, network trouble. Raised once in-hook retries ran out."""


class RiffusionRateLimitError(RiffusionTransientError):
    """HTTP 429: every job slot is busy or the service throttles."""


class RiffusionServerError(RiffusionTransientError):
    """HTTP 5xx (other than 596), or an HTML page from a proxy."""


class RiffusionNetworkError(RiffusionTransientError):
    """The request could not be completed: connection refused, reset, or timed out."""

    @classmethod
    def describe(
        cls,
        kind: Literal["connect", "timeout", "lost"],
        *,
        base_url: str,
        what: str,
        reason: str,
        timeout: float,
        attempt: int = 1,
    ) -> RiffusionNetworkError:
        """The one sentence both HTTP clients (requests, aiohttp) give for a network failure."""
        if kind == "connect":
            sentence = f"Could not connect to {base_url} for {what} ({reason})"
        elif kind == "timeout":
            sentence = f"{base_url} did not answer {what} within {timeout:g} s"
        else:
            sentence = f"Lost the connection to {base_url} during {what} ({reason})"
        tried = f" after {attempt} attempts" if attempt > 1 else ""
        return cls(f"{sentence}{tried}. Check the connection's host and the network.")


class RiffusionResponseError(RiffusionError):
    """A 2xx answer that is not the JSON the API documents (malformed, or a field is missing)."""


class RiffusionUnconfirmedError(RiffusionResponseError, RiffusionFatalError):
    """A create call (upload, compose) got a 2xx without a usable job id: the API may have acted, so no retry."""


class RiffusionWaitTimeoutError(RiffusionError):
    """A wait for an upload or a song passed its deadline.

    Raised as such when a retry of the task reattaches to the job (durable, Airflow 3.3+): Airflow
    may retry, and the retry waits again without submitting. Otherwise it is the fatal
    :class:`RiffusionFinalWaitTimeoutError`.
    """


class RiffusionFinalWaitTimeoutError(RiffusionWaitTimeoutError, RiffusionFatalError):
    """A wait passed its deadline, and a retry would submit (and pay for) the job again: no retry."""


class RiffusionStateError(RiffusionFatalError):
    """The task state store holds a value under one of the provider's keys that this release cannot read.

    Fatal: a durable operator that cannot read its stored job must not guess, since submitting again may
    pay twice for one job; the user decides, by deleting the key (or turning the store's use off).
    """

    @classmethod
    def unreadable(cls, key: str, task_id: str, ti: Any, problem: str, instead: str) -> RiffusionStateError:
        """One line naming the key, the task and how to clear it; ``instead`` is the way around the store.
        ``ti`` (the context's task instance) gives the DAG, run and map index for the REST API's path."""
        from urllib.parse import quote

        dag_id, run_id = getattr(ti, "dag_id", "DAG_ID"), getattr(ti, "run_id", "RUN_ID")
        map_index = getattr(ti, "map_index", -1)
        mapped = f"?map_index={map_index}" if isinstance(map_index, int) and map_index >= 0 else ""
        run = quote(str(run_id), safe="")
        endpoint = f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/{task_id}/state-store/{key}"
        return cls(
            f"Task {task_id} of DAG {dag_id} cannot read what its task state store holds under {key!r}: {problem}. "
            f"To start afresh, delete that key (the task instance's Task State Store tab, or DELETE "
            f"{endpoint}{mapped}) and clear the task, or {instead}."
        )


# -- reading a library's exception: what the family's messages say of it --


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
