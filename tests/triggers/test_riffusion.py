"""Triggers against the emulator: one event per run, JSON-only serialization, validated events."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import (
    SongsCompletedTrigger,
    UploadCompletedTrigger,
    result_from_event,
)
from tests.support import connection_json, one_event


@pytest.mark.parametrize(
    "trigger",
    [
        UploadCompletedTrigger(job_id="a:b", user_id="u", poll_interval=2.5, deadline=123.5, fail_on_flagged=True),
        SongsCompletedTrigger(job_ids=["j1", "j2"], riffusion_conn_id="other", max_consecutive_errors=7),
    ],
)
def test_serialize_round_trips_json_primitives(trigger: Any) -> None:
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    cls = getattr(__import__(module, fromlist=[name]), name)

    assert json.loads(json.dumps(kwargs)) == kwargs
    assert cls(**kwargs).serialize() == (classpath, kwargs)


@pytest.fixture
def uploaded(connection: RiffusionEmulator, wav_file: Path) -> dict[str, Any]:
    return RiffusionHook().upload_audio(wav_file)


def test_upload_trigger_waits_for_complete(connection: RiffusionEmulator, uploaded: dict[str, Any]) -> None:
    event = one_event(UploadCompletedTrigger(job_id=uploaded["job_id"], poll_interval=0.01, deadline=time.time() + 30))

    assert event["status"] == "success"
    assert event["result"]["status"] == "complete"
    assert event["result"]["lyrics"]
    assert event["result"]["audio_upload_id"] == uploaded["audio_upload_id"]


def test_upload_trigger_reports_a_failed_upload(connection: RiffusionEmulator, uploaded: dict[str, Any]) -> None:
    connection.upload_final_status = "failed"

    event = one_event(UploadCompletedTrigger(job_id=uploaded["job_id"], poll_interval=0.01))

    assert event["status"] == "failed"
    assert event["error_class"] == "RiffusionUploadFailedError"
    with pytest.raises(exc.RiffusionUploadFailedError, match="'failed'"):
        result_from_event(event, expected="result")


def test_upload_trigger_rides_out_server_errors(connection: RiffusionEmulator, uploaded: dict[str, Any]) -> None:
    connection.inject(Fault(method="GET", path="music/upload-audio", kind="status", status=502, times=2))

    event = one_event(UploadCompletedTrigger(job_id=uploaded["job_id"], poll_interval=0.01))

    assert event["status"] == "success"


def test_upload_trigger_ends_with_one_error_event_on_401(
    emulator: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emulator.base_url, token="tok-wrong-1"))

    event = one_event(UploadCompletedTrigger(job_id="x", poll_interval=0.01))

    assert event["status"] == "error"
    assert event["error_class"] == "RiffusionAuthError"
    assert "tok-wrong-1" not in json.dumps(event)
    with pytest.raises(exc.RiffusionAuthError):
        result_from_event(event, expected="result")


def test_upload_trigger_times_out_at_its_deadline(connection: RiffusionEmulator, uploaded: dict[str, Any]) -> None:
    connection.inject(
        Fault(
            method="GET", path="music/upload-audio", kind="status", status=200, body={"status": "pending"}, times=1000
        )
    )

    started = time.monotonic()
    event = one_event(UploadCompletedTrigger(job_id=uploaded["job_id"], poll_interval=0.05, deadline=time.time() + 0.5))

    assert event["status"] == "timeout"
    assert time.monotonic() - started < 10
    with pytest.raises(AirflowSensorTimeout):
        result_from_event(event, expected="result", sensor_timeout=True)
    with pytest.raises(exc.RiffusionWaitTimeoutError):
        result_from_event(event, expected="result")


def test_songs_trigger_waits_for_every_song(connection: RiffusionEmulator) -> None:
    job_ids = RiffusionHook().create_compose("jazz", title="Blue")["job_ids"]

    event = one_event(SongsCompletedTrigger(job_ids=job_ids, poll_interval=0.01))

    assert event["status"] == "success"
    assert {song["status"] for song in event["songs"]} == {"completed"}
    assert len(event["songs"]) == len(job_ids)


@pytest.mark.parametrize(
    "event",
    [None, "success", {"status": "weird"}, {"status": "success", "message": "no payload"}],
)
def test_malformed_events_are_refused(event: Any) -> None:
    with pytest.raises(exc.RiffusionError, match="event"):
        result_from_event(event, expected="result")


def test_a_trigger_reads_its_connection_without_blocking_the_event_loop(
    connection: RiffusionEmulator, uploaded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``conn.extra_dejson`` masks secrets with a blocking round trip to the supervisor (DeadlockImminentError on
    Airflow 3's triggerer): a trigger must read the extras through the async helpers, never on the loop."""
    import threading

    from airflow.providers.common.compat.sdk import Connection

    read_on_loop: list[str] = []
    original = Connection.extra_dejson

    def guarded(self: Any) -> Any:
        try:
            asyncio.get_running_loop()
            read_on_loop.append(threading.current_thread().name)
        except RuntimeError:
            pass
        return original.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(Connection, "extra_dejson", property(guarded))
    event = one_event(UploadCompletedTrigger(job_id=uploaded["job_id"], poll_interval=0.01, deadline=time.time() + 30))

    assert event["status"] == "success"
    assert read_on_loop == []


def test_a_trigger_runs_no_slow_callback_on_the_event_loop(
    connection: RiffusionEmulator, uploaded: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """asyncio's debug mode names every step that held the loop longer than the triggerer's own 0.2 s warning
    threshold; loading the CA bundle, the proxy settings and aiohttp itself happen off the loop."""

    trigger = UploadCompletedTrigger(job_id=uploaded["job_id"], poll_interval=0.01, deadline=time.time() + 30)
    with caplog.at_level("WARNING", logger="asyncio"):
        event = one_event(trigger, slow_callback_duration=0.2)

    assert event["status"] == "success"
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()] == []
