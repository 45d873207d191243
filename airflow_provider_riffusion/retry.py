"""The retry policy's one home: how long to back off, and which failures each kind of call retries.

One policy object drives both the sync hook (:meth:`RetryPolicy.call`, ``tenacity.Retrying``) and
the triggers (:meth:`RetryPolicy.call_async`, ``tenacity.AsyncRetrying`` after a first failure),
so the two paths cannot drift apart. Each endpoint names its rule (``client/endpoints.py``):

- :func:`retry_read`: GETs are idempotent, so every transient failure is retried;
- :func:`retry_upload`: an upload is repeated only when the server provably did not take it;
- :func:`retry_create`: compose and prompt requests create songs, so only "not taken" is retried.

A network failure of a create call after the whole request left is not a
``RiffusionNetworkError`` but the fatal ``RiffusionUnconfirmedError`` (``client/failures.py``), so
neither these rules nor Airflow's task retries can repeat it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import tenacity

from airflow_provider_riffusion.exceptions import (
    RiffusionError,
    RiffusionNetworkError,
    RiffusionRateLimitError,
    RiffusionTransientError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MIN_DELAY = 1.0
DEFAULT_MAX_DELAY = 30.0

UPLOAD_RETRY_STATUSES = frozenset({429, 503})
"""Answers after which a non-idempotent upload POST is safe to repeat: the server refused it."""


def retry_read(error: BaseException) -> bool:
    """GETs are idempotent: retry network trouble, 5xx (not 596) and 429."""
    return isinstance(error, RiffusionTransientError)


def retry_upload(error: BaseException) -> bool:
    """Repeat an upload only when the server provably did not take it, so it never lands twice."""
    if isinstance(error, RiffusionNetworkError):
        return True  # the connection never opened, or broke before the whole body left its source
    return isinstance(error, RiffusionError) and error.http_status in UPLOAD_RETRY_STATUSES


def retry_create(error: BaseException) -> bool:
    """Compose and prompt requests create songs: retry busy slots (429) and connections that never opened."""
    return isinstance(error, (RiffusionNetworkError, RiffusionRateLimitError))


def retry_never(error: BaseException) -> bool:
    """One attempt only (the connection test answers at once)."""
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is retried; plain numbers from the connection or operator."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    min_delay: float = DEFAULT_MIN_DELAY
    max_delay: float = DEFAULT_MAX_DELAY
    api: str = "Riffusion API"
    """How the retry log names the API (the connection's service)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.min_delay < 0 or self.max_delay < self.min_delay:
            raise ValueError(
                f"retry delays must satisfy 0 <= min_delay <= max_delay, got {self.min_delay}, {self.max_delay}"
            )

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        A server's ``Retry-After`` wins over the computed backoff but is capped at ``max_delay``:
        a worker slot should not sleep for an hour because a proxy asked it to.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        ceiling = min(self.max_delay, self.min_delay * (2 ** (attempt - 1)))
        return random.uniform(self.min_delay, max(self.min_delay, ceiling))

    def _log_retry(self, what: str, attempt: int, error: BaseException | None, sleep: float) -> None:
        log.warning(
            "%s: %s failed (attempt %d of %d): %s; retrying in %.2f s",
            self.api,
            what,
            attempt,
            self.max_attempts,
            error,
            sleep,
        )

    def _tenacity_kwargs(self, should_retry: Callable[[BaseException], bool], what: str, done: int = 0) -> dict:
        """tenacity's settings for this policy, for a loop that starts after ``done`` attempts already failed."""

        def wait(retry_state: tenacity.RetryCallState) -> float:
            error = retry_state.outcome.exception() if retry_state.outcome else None
            return self.delay(retry_state.attempt_number + done, getattr(error, "retry_after", None))

        def before_sleep(retry_state: tenacity.RetryCallState) -> None:
            error = retry_state.outcome.exception() if retry_state.outcome else None
            self._log_retry(what, retry_state.attempt_number + done, error, retry_state.upcoming_sleep)

        return {
            "stop": tenacity.stop_after_attempt(self.max_attempts - done),
            "wait": wait,
            "retry": tenacity.retry_if_exception(should_retry),
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def retrying(self, should_retry: Callable[[BaseException], bool], what: str) -> tenacity.Retrying:
        """A tenacity loop for blocking calls."""
        return tenacity.Retrying(**self._tenacity_kwargs(should_retry, what))

    def call(self, attempt_once: Callable[[int], T], should_retry: Callable[[BaseException], bool], what: str) -> T:
        """``attempt_once(attempt_number)`` under this policy, sleeping between attempts."""
        for attempt in self.retrying(should_retry, what):
            with attempt:
                return attempt_once(attempt.retry_state.attempt_number)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def call_async(
        self, attempt_once: Callable[[int], Awaitable[T]], should_retry: Callable[[BaseException], bool], what: str
    ) -> T:
        """Await ``attempt_once(attempt_number)`` under this policy, on the event loop (sleeps never block).

        The first attempt runs outside tenacity: a trigger's poll nearly always succeeds at once,
        and entering tenacity's async loop cost about a quarter of a poll's CPU
        (``benchmarks/trigger_scale.py``). After a first failure, tenacity runs the rest with the
        numbering, backoff and log lines the sync loop gives the same attempts.
        """
        try:
            return await attempt_once(1)
        except Exception as error:
            if self.max_attempts == 1 or not should_retry(error):
                raise
            sleep = self.delay(1, getattr(error, "retry_after", None))
            self._log_retry(what, 1, error, sleep)
        await asyncio.sleep(sleep)
        retrying = tenacity.AsyncRetrying(sleep=asyncio.sleep, **self._tenacity_kwargs(should_retry, what, done=1))
        async for attempt in retrying:
            with attempt:
                return await attempt_once(attempt.retry_state.attempt_number + 1)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
