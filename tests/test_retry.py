"""The retry policy (``retry.py``): backoff and jitter, Retry-After, and the sync and async retry loops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from airflow_provider_riffusion import retry as retry_module
from airflow_provider_riffusion.exceptions import RiffusionBadRequestError, RiffusionError, RiffusionServerError
from airflow_provider_riffusion.retry import RetryPolicy, parse_retry_after

# --- RetryPolicy.delay ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (6, 10.0), (30, 10.0)]
)
def test_delay_ceiling_grows_exponentially_up_to_max(
    monkeypatch: pytest.MonkeyPatch, attempt: int, ceiling: float
) -> None:
    policy = RetryPolicy(max_attempts=5, min_delay=1.0, max_delay=10.0)
    monkeypatch.setattr(retry_module.random, "uniform", lambda low, high: high)
    assert policy.delay(attempt) == ceiling
    monkeypatch.setattr(retry_module.random, "uniform", lambda low, high: low)
    assert policy.delay(attempt) == 1.0


def test_delay_is_jittered_within_bounds() -> None:
    policy = RetryPolicy(min_delay=0.5, max_delay=4.0)
    for attempt in range(1, 8):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        delays = [policy.delay(attempt) for _ in range(50)]
        assert all(0.5 <= d <= ceiling for d in delays)
    assert len({policy.delay(5) for _ in range(20)}) > 1  # jitter, not a fixed delay


@pytest.mark.parametrize(("retry_after", "expected"), [(7.0, 7.0), (0.2, 0.2), (0.0, 0.0), (3600.0, 30.0), (-5, 0.0)])
def test_retry_after_is_honoured_and_capped(retry_after: float, expected: float) -> None:
    policy = RetryPolicy(min_delay=1.0, max_delay=30.0)
    assert policy.delay(1, retry_after=retry_after) == expected
    assert policy.delay(9, retry_after=retry_after) == expected


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"min_delay": -1.0}, {"min_delay": 5.0, "max_delay": 1.0}])
def test_policy_refuses_impossible_numbers(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


# --- parse_retry_after ---------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), (" 5 ", 5.0), ("0", 0.0)])
def test_parse_retry_after_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date_in_the_future() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    seconds = parse_retry_after(format_datetime(when, usegmt=True))
    assert seconds is not None
    assert 115.0 <= seconds <= 120.0


@pytest.mark.parametrize(
    "value",
    [format_datetime(datetime(2015, 10, 21, 7, 28, tzinfo=UTC), usegmt=True), "Wed, 21 Oct 2015 07:28:00"],
)
def test_parse_retry_after_http_date_in_the_past_is_zero(value: str) -> None:
    assert parse_retry_after(value) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "12 seconds", "-5", "1.5", "Wed, 32 Foo 2099 99:99:99 GMT"])
def test_parse_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


# --- RetryPolicy.retrying ------------------------------------------------------------------


def is_transient(error: BaseException) -> bool:
    return isinstance(error, RiffusionServerError)


class Flaky:
    """Fails ``failures`` times with ``error``, then returns "ok"."""

    def __init__(self, failures: int, error: Exception):
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_retrying_retries_a_retryable_error_then_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    policy = RetryPolicy(max_attempts=5, min_delay=0, max_delay=0)
    flaky = Flaky(2, RiffusionServerError("HTTP 503", http_status=503))

    with caplog.at_level(logging.WARNING, logger=retry_module.__name__):
        result = policy.retrying(is_transient, "status poll")(flaky)

    assert result == "ok"
    assert flaky.calls == 3
    warnings = [r.getMessage() for r in caplog.records if r.name == retry_module.__name__]
    assert len(warnings) == 2
    assert "status poll" in warnings[0]
    assert "attempt 1 of 5" in warnings[0]


def test_retrying_does_not_retry_a_non_retryable_error() -> None:
    policy = RetryPolicy(max_attempts=5, min_delay=0, max_delay=0)
    error = RiffusionBadRequestError("HTTP 400", http_status=400)
    flaky = Flaky(1, error)

    with pytest.raises(RiffusionBadRequestError) as excinfo:
        policy.retrying(is_transient, "upload")(flaky)

    assert excinfo.value is error
    assert flaky.calls == 1


def test_retrying_reraises_the_last_error_when_attempts_run_out() -> None:
    policy = RetryPolicy(max_attempts=3, min_delay=0, max_delay=0)
    flaky = Flaky(10, RiffusionServerError("HTTP 502", http_status=502))

    with pytest.raises(RiffusionServerError):
        policy.retrying(is_transient, "upload")(flaky)

    assert flaky.calls == 3


def test_retrying_sleeps_what_retry_after_asked_capped() -> None:
    policy = RetryPolicy(max_attempts=4, min_delay=1.0, max_delay=8.0)
    error = RiffusionServerError("HTTP 503", http_status=503)
    error.retry_after = 20.0
    flaky = Flaky(3, error)
    retrying = policy.retrying(is_transient, "upload")
    sleeps: list[float] = []
    retrying.sleep = sleeps.append  # record instead of sleeping

    assert retrying(flaky) == "ok"
    assert sleeps == [8.0, 8.0, 8.0]


def run_async_attempts(
    policy: RetryPolicy, outcomes: Sequence[BaseException | str], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[int], list[float], str | BaseException]:
    """Drive ``call_async`` through ``outcomes`` (an error to raise, or a result); record attempts and sleeps."""
    attempts: list[int] = []
    sleeps: list[float] = []

    async def attempt_once(number: int) -> str:
        attempts.append(number)
        outcome = outcomes[len(attempts) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def no_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", no_sleep)  # tenacity's AsyncRetrying sleeps through asyncio.sleep too
    try:
        result: str | BaseException = asyncio.run(policy.call_async(attempt_once, is_transient, "poll"))
    except RiffusionError as error:
        result = error
    return attempts, sleeps, result


def test_call_async_returns_a_first_success_without_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts, sleeps, result = run_async_attempts(RetryPolicy(max_attempts=3), ["ok"], monkeypatch)

    assert (attempts, sleeps, result) == ([1], [], "ok")


def test_call_async_numbers_and_spaces_attempts_as_the_sync_loop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    policy = RetryPolicy(max_attempts=5, min_delay=1.0, max_delay=8.0)
    limited = RiffusionServerError("HTTP 503", http_status=503)
    limited.retry_after = 6.0
    server = RiffusionServerError("HTTP 500", http_status=500)

    with caplog.at_level(logging.WARNING, logger="airflow_provider_riffusion.retry"):
        attempts, sleeps, result = run_async_attempts(policy, [limited, server, limited, "ok"], monkeypatch)

    assert result == "ok"
    assert attempts == [1, 2, 3, 4]
    assert sleeps[0] == 6.0 and sleeps[2] == 6.0  # Retry-After after attempts 1 and 3
    assert 1.0 <= sleeps[1] <= 2.0  # backoff after attempt 2: up to min_delay * 2
    messages = [record.getMessage() for record in caplog.records]
    assert [message.split("; retrying in")[0] for message in messages] == [
        "Riffusion API: poll failed (attempt 1 of 5): HTTP 503",
        "Riffusion API: poll failed (attempt 2 of 5): HTTP 500",
        "Riffusion API: poll failed (attempt 3 of 5): HTTP 503",
    ]
    assert messages[0].endswith("retrying in 6.00 s")


def test_call_async_stops_after_max_attempts_with_the_last_error(monkeypatch: pytest.MonkeyPatch) -> None:
    errors = [RiffusionServerError(f"HTTP 50{n}", http_status=500 + n) for n in range(3)]

    attempts, sleeps, result = run_async_attempts(
        RetryPolicy(max_attempts=3, min_delay=0.1, max_delay=0.5), errors, monkeypatch
    )

    assert attempts == [1, 2, 3]
    assert len(sleeps) == 2
    assert result is errors[2]


@pytest.mark.parametrize("max_attempts", [1, 4])
def test_call_async_does_not_retry_what_is_not_transient_or_a_single_attempt(
    monkeypatch: pytest.MonkeyPatch, max_attempts: int
) -> None:
    error = RiffusionServerError("HTTP 500", http_status=500) if max_attempts == 1 else RiffusionError("HTTP 401")

    attempts, sleeps, result = run_async_attempts(RetryPolicy(max_attempts=max_attempts), [error, "ok"], monkeypatch)

    assert (attempts, sleeps, result) == ([1], [], error)
