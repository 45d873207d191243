"""What "done" means for an upload and for songs, and the blocking wait used on workers.

The sensor's poke, the operators' ``wait_for_completion`` and the triggers all decide with the
functions here, so the status rule of the design exists once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from airflow_provider_riffusion.exceptions import (
    RiffusionInputError,
    RiffusionResponseError,
    RiffusionSongFailedError,
    RiffusionTransientError,
    RiffusionUploadFailedError,
    RiffusionWaitTimeoutError,
)
from airflow_provider_riffusion.responses import classify_songs, classify_upload_status

T = TypeVar("T")

DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_UPLOAD_TIMEOUT = 15 * 60.0
"""The docs: a track still processing after about 10 minutes will likely never finish."""
DEFAULT_SONGS_TIMEOUT = 30 * 60.0
DEFAULT_MAX_CONSECUTIVE_ERRORS = 3

BLIP_ERRORS = (RiffusionTransientError, RiffusionResponseError)
"""Failures a wait rides out (up to a limit of consecutive ones): the next poll may succeed."""


def require_id(name: str, value: Any) -> str:
    """An id that a template may have rendered to nothing must be caught before it becomes ``?id=``."""
    text = "" if value is None else str(value).strip()
    if not text or text in ("None", "null"):
        raise RiffusionInputError(
            f"{name} is empty ({value!r}): the template probably rendered to nothing. Pass the "
            f"upstream task's output, e.g. upload.output['{name}']."
        )
    return text


def upload_is_ready(status: dict[str, Any], *, fail_on_flagged: bool, log: Any) -> bool:
    """The status rule: pending waits, complete is ready, failed fails now, any other word is ready."""
    kind = classify_upload_status(status["status"])
    job_id = status["job_id"]
    if kind == "pending":
        return False
    if kind == "failed":
        raise RiffusionUploadFailedError(
            f"Upload {job_id} ended with status {status['status']!r}: the service could not process "
            "the track. Check the file (a valid mp3, m4a or wav) and upload it again."
        )
    if kind == "unknown":
        log.warning(
            "Upload %s reports status %r, which the docs do not name; treating it as ready "
            "(the API counts anything other than 'pending' as ready).",
            job_id,
            status["status"],
        )
    if fail_on_flagged and status["is_flagged"]:
        raise RiffusionUploadFailedError(
            f"Upload {job_id} is flagged (is_flagged=true, most likely a copyright match). Use another "
            "track, or set fail_on_flagged=False to compose from it anyway."
        )
    return True


def songs_are_ready(job_id: str, songs: list[dict[str, Any]]) -> bool:
    """All songs of a job completed; a failed song fails the wait at once."""
    kind = classify_songs(songs)
    if kind == "failed":
        failed = [song.get("id") for song in songs if classify_songs([song]) == "failed"]
        raise RiffusionSongFailedError(
            f"Compose job {job_id}: song(s) {failed} failed upstream. Run the compose again, "
            "perhaps with another prompt."
        )
    return kind == "complete"


class StatusLog:
    """Logs a status word when it changes, not at every poll."""

    def __init__(self, log: Any, what: str):
        self._log = log
        self._what = what
        self._last: dict[str, str] = {}

    def observe(self, key: str, status: str) -> None:
        if self._last.get(key) != status:
            self._log.info("%s %s: status %r", self._what, key, status)
            self._last[key] = status


def wait_until(
    check: Callable[[], T | None],
    *,
    what: str,
    poll_interval: float,
    timeout: float,
    log: Any,
    max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``check`` every ``poll_interval`` seconds until it returns a value, or fail at ``timeout``.

    A transient error (the hook has already retried it) is ridden out for up to
    ``max_consecutive_errors`` polls in a row; a fatal one ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    errors = 0
    while True:
        try:
            result = check()
            errors = 0
        except BLIP_ERRORS as error:
            errors += 1
            if errors > max_consecutive_errors:
                raise
            log.warning("%s: poll failed (%d in a row, limit %d): %s", what, errors, max_consecutive_errors, error)
            result = None
        if result is not None:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RiffusionWaitTimeoutError(
                f"{what} did not finish within timeout={timeout:g} s. Raise timeout, or check the "
                "service: a track still processing after about 10 minutes will likely never finish."
            )
        sleep(min(poll_interval, remaining))
