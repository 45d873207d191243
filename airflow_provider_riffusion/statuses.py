"""The status vocabulary of uploads and songs, as one type that every path decides with.

The sensor's poke, the operators' sync waits, the triggers and the emulator all read status words
through :func:`upload_progress` and :func:`songs_progress`, so a word cannot mean "done" on one
path and "failed" on another (the class of bug where a deferred wait called a cancelled job a
success, apache/airflow#69506).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any


class Progress(enum.StrEnum):
    """Where a job stands, whatever words the API used to say it."""

    PENDING = "pending"
    """Still processing: keep waiting."""
    READY = "ready"
    """Done, in a word the docs name."""
    FAILED = "failed"
    """Ended without a result: fail at once, no retry can help."""
    UNKNOWN_READY = "unknown_ready"
    """A word the docs do not name; the later docs count anything but ``pending`` as ready."""

    @property
    def finished(self) -> bool:
        return self is not Progress.PENDING


UPLOAD_PENDING = "pending"
"""What the status endpoint says while a track is processed."""
UPLOAD_COMPLETE = "complete"
"""What the status endpoint says once a track is processed (one page of the docs says ``completed``)."""
SONG_STEPS = ("queued", "generating_audio", "completed")
"""The words a song goes through upstream, in order; the last one is done."""

UPLOAD_WORDS: Mapping[str, Progress] = {
    "": Progress.PENDING,
    UPLOAD_PENDING: Progress.PENDING,
    "processing": Progress.PENDING,
    "queued": Progress.PENDING,
    UPLOAD_COMPLETE: Progress.READY,
    "completed": Progress.READY,
    "failed": Progress.FAILED,
    "error": Progress.FAILED,
    "cancelled": Progress.FAILED,
    "canceled": Progress.FAILED,
}
"""Every upload status word the docs name; any other word is :attr:`Progress.UNKNOWN_READY`."""

SONG_WORDS: Mapping[str, Progress] = {
    **{step: Progress.PENDING for step in SONG_STEPS[:-1]},
    SONG_STEPS[-1]: Progress.READY,
    "complete": Progress.READY,
    "failed": Progress.FAILED,
    "error": Progress.FAILED,
    "cancelled": Progress.FAILED,
    "canceled": Progress.FAILED,
}
"""Song status words; any other word is still :attr:`Progress.PENDING` (the upstream's steps are undocumented)."""


def status_word(value: Any) -> str:
    """A status as the API sent it, folded to compare: ``" Completed "`` -> ``"completed"``; None -> ``""``."""
    return str(value or "").strip().lower()


def upload_progress(word: Any) -> Progress:
    """The upload status rule: pending waits, complete is ready, failed fails, any other word is ready."""
    return UPLOAD_WORDS.get(status_word(word), Progress.UNKNOWN_READY)


def song_progress(word: Any) -> Progress:
    return SONG_WORDS.get(status_word(word), Progress.PENDING)


def songs_progress(words: Iterable[Any]) -> Progress:
    """A compose job's songs: failed as soon as one failed; ready once there are songs and all are done."""
    each = [song_progress(word) for word in words]
    if Progress.FAILED in each:
        return Progress.FAILED
    if each and all(progress is Progress.READY for progress in each):
        return Progress.READY
    return Progress.PENDING


def worst(progresses: Iterable[Progress]) -> Progress:
    """Several jobs as one: failed if any failed, pending while any is, else ready."""
    each = list(progresses)
    if Progress.FAILED in each:
        return Progress.FAILED
    if Progress.PENDING in each or not each:
        return Progress.PENDING
    return Progress.READY
