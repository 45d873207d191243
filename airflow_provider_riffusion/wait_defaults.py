"""The waits' defaults and the floor on their intervals, in a module of their own: operators use them when a
DAG file is parsed, and the poller (``polling.py``), with the client it needs, loads only when a task runs."""

from __future__ import annotations

from typing import Any

DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_UPLOAD_TIMEOUT = 15 * 60.0
"""The docs: a track still processing after about 10 minutes will likely never finish."""
DEFAULT_SONGS_TIMEOUT = 30 * 60.0
DEFAULT_MAX_CONSECUTIVE_ERRORS = 3
DEFAULT_MIN_POLL_INTERVAL = 1.0
"""The shortest pause between polls (``[riffusion] min_poll_interval``): 0 would poll the API in a hot loop."""


def min_poll_interval() -> float:
    """The floor on poll intervals, from ``[riffusion] min_poll_interval`` (seconds, more than 0)."""
    from airflow.providers.common.compat.sdk import conf

    value = conf.getfloat("riffusion", "min_poll_interval", fallback=DEFAULT_MIN_POLL_INTERVAL)
    return value if value > 0 else DEFAULT_MIN_POLL_INTERVAL


def floored_interval(seconds: float, log: Any, what: str) -> float:
    """``seconds``, raised to the floor with a warning, so no setting makes a wait poll without pause."""
    floor = min_poll_interval()
    if seconds < floor:
        log.warning("%s=%g s is below the floor of %g s: polling every %g s.", what, seconds, floor, floor)
        return floor
    return seconds
