"""Upgrading the provider under deferred tasks: a trigger release 0.2.0 serialized keeps its wait.

The triggerer re-creates a trigger from the classpath and kwargs in the metadata database. These are
the exact forms release 0.2.0 wrote (its ``serialize()``); this release must import the same classes,
take the same kwargs, write them back unchanged, and finish the wait through the new async hook.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.module_loading import import_string

from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.testing import RiffusionEmulator

MODULE = "airflow_provider_riffusion.triggers.riffusion"


def written_by_0_2_0(name: str, own: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A trigger row as 0.2.0 stored it: its own kwargs first, then the common ones, in this order."""
    common = {
        "user_id": None,
        "riffusion_conn_id": "riffusion_default",
        "poll_interval": 1.0,
        "deadline": time.time() + 30,
        "max_consecutive_errors": 3,
    }
    return f"{MODULE}.{name}", {**own, **common}


def run(classpath: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Re-create the trigger as the triggerer does and run it to its one event (its first poll waits a
    random part of ``poll_interval``, so each case takes about a second)."""
    trigger = import_string(classpath)(**kwargs)
    assert trigger.serialize() == (classpath, kwargs), "the row would change when written back"

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(asyncio.wait_for(collect(), 30))
    assert len(events) == 1, events
    return events[0]


def test_an_upload_wait_stored_by_0_2_0_finishes(emu: RiffusionEmulator, wav_file: Path) -> None:
    upload = RiffusionHook().upload_audio(wav_file)

    event = run(*written_by_0_2_0("UploadCompletedTrigger", {"job_id": upload["job_id"], "fail_on_flagged": False}))

    assert event["status"] == "success", event
    assert event["result"]["job_id"] == upload["job_id"] and event["result"]["status"] == "complete"


def test_a_songs_wait_stored_by_0_2_0_finishes(emu: RiffusionEmulator) -> None:
    job_ids = RiffusionHook().create_compose("surf rock")["job_ids"]

    event = run(*written_by_0_2_0("SongsCompletedTrigger", {"job_ids": job_ids}))

    assert event["status"] == "success", event
    assert {song["status"] for song in event["songs"]} == {"completed"} and event["songs"]


@pytest.mark.parametrize(("account", "expected"), [(None, "success"), ("acct-nobody", "timeout")])
def test_a_slot_wait_stored_by_0_2_0_finishes(emu: RiffusionEmulator, account: str | None, expected: str) -> None:
    classpath, kwargs = written_by_0_2_0("SlotAvailableTrigger", {})
    kwargs.update(user_id=account, deadline=time.time() + 2)

    event = run(classpath, kwargs)

    assert event["status"] == expected, event
