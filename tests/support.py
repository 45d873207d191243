"""Constants and helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import math
import re
import struct
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from airflow_provider_riffusion.exceptions import RiffusionInputError
from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_1_PLUS

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

TOKEN = "tok-SECRET-5d1f0c7a9e"
"""A distinctive token: tests search logs, XComs and messages for it."""

AIRFLOWS_OWN_MASK_REQUESTS = re.compile(r"^.*\[debug\s*\] Sending request\s+msg=MaskSecret\(.*$", re.MULTILINE)
"""Airflow 3.0's ``dags test`` logs, at debug level, each value it is asked to mask (its in-process comms print
every request; the record is Airflow's, before any task code sees the value); 3.1 no longer does."""


def without_airflows_mask_requests(text: str) -> str:
    """A run's output as a token scan should read it: without Airflow 3.0's own echo of what it masks."""
    return text if AIRFLOW_V_3_1_PLUS else AIRFLOWS_OWN_MASK_REQUESTS.sub("", text)


REVISIONS = ("2025-02-17", "2025-02-25")
EACH_REVISION = (pytest.param(REVISIONS[0], marks=pytest.mark.once), REVISIONS[1])
"""Both revisions as test parameters; the older one is `once`: Airflow never sees which revision answered, so
the other Airflow minors run only the newer."""

FAST_RETRIES = {"retry_min_delay": 0.01, "retry_max_delay": 0.05, "max_attempts": 3, "timeout": 5}


def connection_json(base_url: str, token: str = TOKEN, **extra: object) -> str:
    """The JSON form of a riffusion connection, as users put it in AIRFLOW_CONN_* variables."""
    return json.dumps(
        {"conn_type": "riffusion", "password": token, "host": base_url, "extra": {**FAST_RETRIES, **extra}}
    )


def write_wav(path: Path, seconds: float = 0.5, rate: int = 8000) -> Path:
    """A real WAV file: a sine tone made with the standard library."""
    with wave.open(str(path), "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(rate)
        track.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                for i in range(int(rate * seconds))
            )
        )
    return path


class RecordingTI:
    """Stands in for the task instance's XCom push (and the attributes ResumableJobMixin reads); everything
    else is real. A task run this way has no task state store: each call submits afresh."""

    def __init__(self, try_number: int = 1) -> None:
        self.pushed: dict[str, Any] = {}
        self.try_number = try_number
        self.stats_tags: dict[str, str] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def pushed(context: Context) -> dict[str, Any]:
    """What the task pushed to XCom through its context's :class:`RecordingTI`."""
    ti = context["ti"]
    assert isinstance(ti, RecordingTI)
    return ti.pushed


def task_context(ti: Any = None) -> Context:
    """The part of a task's context the operators read (only ``ti``, for XCom pushes), typed as the whole."""
    return cast("Context", {"ti": ti})


@contextmanager
def refused(*fragments: str) -> Iterator[None]:
    """The block raises a one-line RiffusionInputError whose message contains every fragment."""
    with pytest.raises(RiffusionInputError) as excinfo:
        yield
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def one_event(trigger: Any, limit: float = 30, *, slow_callback_duration: float | None = None) -> dict[str, Any]:
    """The trigger's one event, from a copy re-created from its serialized form on the event loop (as the
    triggerer does), within ``limit`` seconds. With ``slow_callback_duration``, the loop runs in asyncio's debug
    mode, which logs (logger ``asyncio``, "took") every step that held it longer than that."""
    import asyncio

    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    cls = getattr(__import__(module, fromlist=[name]), name)

    async def collect() -> list[dict[str, Any]]:
        if slow_callback_duration is not None:
            asyncio.get_running_loop().slow_callback_duration = slow_callback_duration
        return [event.payload async for event in cls(**kwargs).run()]

    events = asyncio.run(asyncio.wait_for(collect(), limit), debug=slow_callback_duration is not None)
    assert len(events) == 1, f"a trigger must yield exactly one event, got {events}"
    return events[0]


def task_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """What tasks, hooks and triggers logged since the last call: Airflow 3 renders it with structlog to stdout,
    Airflow 2 through logging."""
    out = capsys.readouterr().out
    text = caplog.text or out
    caplog.clear()
    return text
