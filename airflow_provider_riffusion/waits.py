"""Every wait of the provider: its defaults, the one poller, and one object per thing a task waits on.

:class:`Poller` holds a wait's rules without any I/O: it counts the transient failures a wait
rides out in a row (``max_consecutive_errors``), logs a status when it changes, keeps the deadline,
and says how long to pause. The things waited on (:class:`UploadWait`, :class:`SongsWait`,
:class:`SlotWait`) say what one check is, once, as the reads it makes and what their answers mean;
:meth:`Wait.check` runs it through the worker's hook and :meth:`Wait.check_async` through the
triggerer's, so the sensors' pokes, the operators' ``wait_for_completion`` and the triggers cannot
disagree (the class of bug where a deferred wait called a cancelled job a success, apache/airflow#69506).
:func:`wait` and :func:`wait_async` are the loops around a check.

Light at import (no HTTP library): operators read the defaults when a DAG file is parsed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow.providers.common.compat.sdk import conf

from airflow_provider_riffusion.exceptions import (
    RiffusionFatalError,
    RiffusionInputError,
    RiffusionResponseError,
    RiffusionSongFailedError,
    RiffusionTransientError,
    RiffusionUploadFailedError,
    RiffusionWaitTimeoutError,
)
from airflow_provider_riffusion.services import (
    Progress,
    Service,
    ready_upload,
    require_id,
    song_summary,
    songs_progress,
)

if TYPE_CHECKING:
    from airflow_provider_riffusion.hooks.riffusion import RiffusionAsyncHook, RiffusionHook

T = TypeVar("T")

DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_UPLOAD_TIMEOUT = 15 * 60.0
"""The docs: a track still processing after about 10 minutes will likely never finish."""
DEFAULT_SONGS_TIMEOUT = 30 * 60.0
DEFAULT_MAX_CONSECUTIVE_ERRORS = 3
DEFAULT_MIN_POLL_INTERVAL = 1.0
"""The shortest pause between polls (``[riffusion] min_poll_interval``): 0 would poll the API in a hot loop."""


def min_poll_interval() -> float:
    """The floor on poll intervals, from ``[riffusion] min_poll_interval`` (seconds, more than 0)."""
    value = conf.getfloat("riffusion", "min_poll_interval", fallback=DEFAULT_MIN_POLL_INTERVAL)
    return value if value > 0 else DEFAULT_MIN_POLL_INTERVAL


def floored_interval(seconds: float, log: Any, what: str) -> float:
    """``seconds``, raised to the floor with a warning, so no setting makes a wait poll without pause."""
    floor = min_poll_interval()
    if seconds < floor:
        log.warning("%s=%g s is below the floor of %g s: polling every %g s.", what, seconds, floor, floor)
        return floor
    return seconds


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


Read = tuple[str, tuple[Any, ...]]
"""One API read a check makes: the hook method's name and its arguments (the same name on both hooks)."""
Check = Generator[Read, Any, T | None]
"""A check as the reads it makes: it yields each read, is sent its answer, and returns the value once ready
(None: not yet). Written once; :meth:`Wait.check` and :meth:`Wait.check_async` only do the I/O."""


class Wait(Generic[T]):
    """One thing a task waits on: what one check of it is, whichever hook runs it."""

    what: str
    """What is waited on, for messages ("Upload 123")."""

    def reads(self, poller: Poller[T], service: Service) -> Check[T]:
        raise NotImplementedError

    def check(self, hook: RiffusionHook, poller: Poller[T]) -> T | None:
        """One check through the worker's hook."""
        steps = self.reads(poller, hook.settings.service)
        try:
            name, arguments = next(steps)
            while True:
                name, arguments = steps.send(getattr(hook, name)(*arguments))
        except StopIteration as done:
            return done.value

    async def check_async(self, hook: RiffusionAsyncHook, poller: Poller[T]) -> T | None:
        """One check through the triggerer's hook: the same reads, awaited."""
        steps = self.reads(poller, (await hook.get_settings()).service)
        try:
            name, arguments = next(steps)
            while True:
                name, arguments = steps.send(await getattr(hook, name)(*arguments))
        except StopIteration as done:
            return done.value


class UploadWait(Wait[dict[str, Any]]):
    """An upload's processing: its status once ready; failed (or flagged, when asked) fails at once."""

    def __init__(
        self, job_id: Any, user_id: str | None = None, *, fail_on_flagged: bool = False, flagged: bool | None = None
    ) -> None:
        self.job_id = require_id("job_id", job_id)
        self.user_id = user_id
        self.fail_on_flagged = bool(fail_on_flagged)
        self.flagged = flagged
        """The upload's own ``is_flagged``, where the task that uploaded knows it: a service without an upload
        status (Flow Music) says it only in the upload's answer."""
        self.what = f"Upload {self.job_id}"

    def reads(self, poller: Poller[Any], service: Service) -> Check[dict[str, Any]]:
        if not service.UPLOADS_PROCESS:  # ready when it answered: nothing to read, nothing to defer
            if self.flagged is None and self.fail_on_flagged:
                raise RiffusionInputError(
                    f"fail_on_flagged cannot be checked here: {service.TITLE} has no upload status to read the flag "
                    "from, only the upload's own answer. Use UploadAudioOperator(fail_on_flagged=True, "
                    "wait_for_completion=True), or check the upload's is_flagged output."
                )
            return self.flag(ready_upload(self.job_id, is_flagged=bool(self.flagged)))
        status = yield ("get_upload_status", (self.job_id, self.user_id))
        word = status["status"]
        poller.note(self.what, word)
        progress = service.upload_progress(word)
        if progress is Progress.PENDING:
            return None
        if progress is Progress.FAILED:
            raise RiffusionUploadFailedError(
                f"Upload {self.job_id} ended with status {word!r}: the service could not process "
                "the track. Check the file (a valid mp3, m4a or wav) and upload it again."
            )
        if progress is Progress.UNKNOWN_READY:
            poller.log.warning(
                "Upload %s reports status %r, which the docs do not name; treating it as ready "
                "(the API counts anything other than 'pending' as ready).",
                self.job_id,
                word,
            )
        return self.flag(status)

    def flag(self, status: dict[str, Any]) -> dict[str, Any]:
        """The status, unless it is flagged and the task said to fail then."""
        if self.fail_on_flagged and status["is_flagged"]:
            raise RiffusionUploadFailedError(
                f"Upload {self.job_id} is flagged (is_flagged=true, most likely a copyright match). Use another "
                "track, or set fail_on_flagged=False to compose from it anyway."
            )
        return status


class SongsWait(Wait[list[dict[str, Any]]]):
    """The songs of one or more jobs: every song once all are done; one failed song fails at once."""

    def __init__(self, job_ids: Any, user_id: str | None = None) -> None:
        given = [job_ids] if isinstance(job_ids, str) else list(job_ids or [])
        if not given:
            require_id("job_ids", None)
        self.job_ids = [require_id("job_ids", job_id) for job_id in given]
        self.user_id = user_id
        self.what = f"Compose jobs {self.job_ids}"

    def reads(self, poller: Poller[Any], service: Service) -> Check[list[dict[str, Any]]]:
        found: list[dict[str, Any]] = []
        for job_id in self.job_ids:
            songs = yield ("get_songs", (job_id, self.user_id))
            words = [song.get("status") for song in songs]
            poller.note(f"Compose job {job_id}", words or "not created yet")
            progress = songs_progress(service, words)
            if progress is Progress.FAILED:
                failed = [song for song in songs if service.song_progress(song.get("status")) is Progress.FAILED]
                reasons = "; ".join(str(song["error"]) for song in failed if song.get("error"))
                raise RiffusionSongFailedError(
                    f"Compose job {job_id}: song(s) {[song.get('id') for song in failed]} failed upstream"
                    f"{f' ({reasons})' if reasons else ''}. Run the compose again, perhaps with another prompt."
                )
            if progress is not Progress.READY:
                return None
            found.extend(songs)
        return [song_summary(song) for song in found]


class SlotWait(Wait[int]):
    """A free job slot: of the task's account, else the connection's default one, else of any account."""

    what = "A free job slot"

    def __init__(self, user_id: str | None = None) -> None:
        self.user_id = user_id

    def reads(self, poller: Poller[Any], service: Service) -> Check[int]:
        slots = yield ("free_slots", (self.user_id,))
        poller.note("Free job slots", slots)
        return slots or None
