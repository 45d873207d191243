"""The one poller: every wait of the provider (operators' sync waits, the sensor, the triggers) runs on it.

:class:`Poller` holds a wait's rules without any I/O: it counts the transient failures a wait
rides out in a row (``max_consecutive_errors``), logs a status word when it changes, keeps the
deadline, and says how long to pause. :func:`wait` and :func:`wait_async` are the loops around
it; a sensor's poke is one :meth:`Poller.observe`. What "done" means is ``statuses.py``'s.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from airflow_provider_riffusion.client.normalize import song_summary
from airflow_provider_riffusion.exceptions import (
    RiffusionFatalError,
    RiffusionResponseError,
    RiffusionSongFailedError,
    RiffusionTransientError,
    RiffusionUploadFailedError,
    RiffusionWaitTimeoutError,
)
from airflow_provider_riffusion.statuses import Progress, song_progress, songs_progress, upload_progress
from airflow_provider_riffusion.wait_defaults import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
)

T = TypeVar("T")

MAX_KEPT_STATUS = 200
"""A status longer than this (as JSON) is remembered by its sha256: what a rescheduled sensor keeps stays small."""


def is_blip(error: BaseException) -> bool:
    """A failure a wait rides out (up to a limit in a row): the next poll may succeed."""
    return isinstance(error, (RiffusionTransientError, RiffusionResponseError)) and not isinstance(
        error, RiffusionFatalError
    )


@dataclass
class Outcome(Generic[T]):
    """What one check gave: a value (None: not ready yet), or the error it raised."""

    value: T | None = None
    error: Exception | None = None

    @classmethod
    def of(cls, check: Callable[[], T | None]) -> Outcome[T]:
        try:
            return cls(check())
        except Exception as error:
            return cls(error=error)

    @classmethod
    async def of_async(cls, check: Callable[[], Awaitable[T | None]]) -> Outcome[T]:
        try:
            return cls(await check())
        except Exception as error:
            return cls(error=error)


class Poller(Generic[T]):
    """One wait's rules: blips in a row, status changes, the deadline, the pause."""

    def __init__(
        self,
        what: str,
        *,
        log: Any,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deadline: float | None = None,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        errors: int = 0,
        statuses: Mapping[str, str] | None = None,
    ) -> None:
        self.what = what
        self.log = log
        self.poll_interval = poll_interval
        self.deadline = deadline
        """Epoch seconds: a wait re-created after a restart keeps the deadline it started with."""
        self.max_consecutive_errors = max_consecutive_errors
        self.errors = errors
        """Transient failures in a row so far (a rescheduled sensor carries it over)."""
        self._statuses: dict[str, str] = dict(statuses or {})
        """The status last logged of each subject, as :func:`seen` gives it (a rescheduled sensor carries it over)."""

    @property
    def statuses(self) -> dict[str, str]:
        """The status last logged of each subject (a copy), for a rescheduled sensor to keep."""
        return dict(self._statuses)

    def observe(self, outcome: Outcome[T]) -> T | None:
        """The value once ready; None to poll again. Raises on a fatal error, too many blips, or the deadline."""
        if outcome.error is not None:
            if not is_blip(outcome.error):
                raise outcome.error
            self.errors += 1
            if self.errors > self.max_consecutive_errors:
                raise outcome.error
            self.log.warning(
                "%s: poll failed (%d in a row, limit %d): %s",
                self.what,
                self.errors,
                self.max_consecutive_errors,
                outcome.error,
            )
        else:
            self.errors = 0
            if outcome.value is not None:
                return outcome.value
        if self.deadline is not None and time.time() >= self.deadline:
            raise RiffusionWaitTimeoutError(
                f"{self.what} did not finish before the wait's timeout. Raise timeout, or check the service: "
                "a track still processing after about 10 minutes will likely never finish."
            )
        return None

    def pause(self) -> float:
        """Seconds until the next poll: the interval, but never past the deadline."""
        if self.deadline is None:
            return self.poll_interval
        return max(0.0, min(self.poll_interval, self.deadline - time.time()))

    def note(self, subject: str, status: Any) -> None:
        """Log a status when it changes, not at every poll (nor, in a rescheduled sensor, at every poke)."""
        remembered = seen(status)
        if self._statuses.get(subject) != remembered:
            self._statuses[subject] = remembered
            self.log.info("%s: status %r", subject, status)


def seen(status: Any) -> str:
    """A status as a poller remembers it: its JSON, or the sha256 of a long one; equal statuses give equal strings."""
    text = json.dumps(status, sort_keys=True, default=str)
    if len(text) <= MAX_KEPT_STATUS:
        return text
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def wait(poller: Poller[T], check: Callable[[], T | None], sleep: Callable[[float], None] = time.sleep) -> T:
    """Poll ``check`` until it gives a value (blocking: a worker's wait)."""
    while (result := poller.observe(Outcome.of(check))) is None:
        sleep(poller.pause())
    return result


async def wait_async(poller: Poller[T], check: Callable[[], Awaitable[T | None]]) -> T:
    """Poll ``check`` until it gives a value, on the event loop (a trigger's wait)."""
    while (result := poller.observe(await Outcome.of_async(check))) is None:
        await asyncio.sleep(poller.pause())
    return result


def upload_result(status: dict[str, Any], poller: Poller[Any], *, fail_on_flagged: bool) -> dict[str, Any] | None:
    """The upload status rule on one answer: the status once ready, None while pending; failed fails now."""
    job_id, word = status["job_id"], status["status"]
    poller.note(f"Upload {job_id}", word)
    progress = upload_progress(word)
    if progress is Progress.PENDING:
        return None
    if progress is Progress.FAILED:
        raise RiffusionUploadFailedError(
            f"Upload {job_id} ended with status {word!r}: the service could not process "
            "the track. Check the file (a valid mp3, m4a or wav) and upload it again."
        )
    if progress is Progress.UNKNOWN_READY:
        poller.log.warning(
            "Upload %s reports status %r, which the docs do not name; treating it as ready "
            "(the API counts anything other than 'pending' as ready).",
            job_id,
            word,
        )
    if fail_on_flagged and status["is_flagged"]:
        raise RiffusionUploadFailedError(
            f"Upload {job_id} is flagged (is_flagged=true, most likely a copyright match). Use another "
            "track, or set fail_on_flagged=False to compose from it anyway."
        )
    return status


class SongsCheck:
    """The songs rule over several compose jobs, fed one job's answer at a time (sync or async)."""

    def __init__(self, job_ids: list[str], poller: Poller[Any]) -> None:
        self.job_ids = job_ids
        self.poller = poller
        self._songs: list[dict[str, Any]] = []

    def jobs(self) -> list[str]:
        """The jobs to poll, in order; a new poll starts afresh."""
        self._songs = []
        return self.job_ids

    def accept(self, job_id: str, songs: list[dict[str, Any]]) -> bool:
        """Take one job's songs: True when all are done (poll the next job), False while any is pending."""
        self.poller.note(f"Compose job {job_id}", [song.get("status") for song in songs] or "not created yet")
        progress = songs_progress(song.get("status") for song in songs)
        if progress is Progress.FAILED:
            failed = [song.get("id") for song in songs if song_progress(song.get("status")) is Progress.FAILED]
            raise RiffusionSongFailedError(
                f"Compose job {job_id}: song(s) {failed} failed upstream. Run the compose again, "
                "perhaps with another prompt."
            )
        self._songs.extend(songs)
        return progress is Progress.READY

    def songs(self) -> list[dict[str, Any]]:
        """Every song of every job, with the keys DAG authors chain on first."""
        return [song_summary(song) for song in self._songs]
