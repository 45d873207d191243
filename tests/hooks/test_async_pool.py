"""The triggerer's door shares one bounded connection pool per connection (``RiffusionAsyncHook``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_riffusion.hooks.riffusion import RiffusionAsyncHook, RiffusionHook, _Pool
from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger
from tests.support import TOKEN, connection_json

WAITS = 24


@pytest.fixture
def slow_uploads(monkeypatch: pytest.MonkeyPatch) -> Iterator[RiffusionEmulator]:
    """Uploads that stay pending for a few polls, so the waits overlap."""
    with RiffusionEmulator(token=TOKEN, pending_polls=3, song_polls=0) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emulator.base_url))
        yield emulator


@pytest.mark.parametrize("pool_size", [1, 4])
def test_concurrent_waits_of_one_connection_share_a_bounded_pool(
    slow_uploads: RiffusionEmulator, wav_file: Path, monkeypatch: pytest.MonkeyPatch, pool_size: int
) -> None:
    monkeypatch.setenv("AIRFLOW__RIFFUSION__TRIGGERER_POOL_SIZE", str(pool_size))
    hook = RiffusionHook()
    job_ids = [hook.upload_audio(wav_file)["job_id"] for _ in range(WAITS)]
    hook.close()
    before, seen = slow_uploads.connections, len(slow_uploads.requests)

    async def all_waits() -> list[dict]:
        deadline = time.time() + 60
        triggers = [UploadCompletedTrigger(job_id=job_id, poll_interval=1, deadline=deadline) for job_id in job_ids]

        async def one(trigger: UploadCompletedTrigger) -> dict:
            [event] = [event.payload async for event in trigger.run()]
            return event

        events = await asyncio.gather(*(one(trigger) for trigger in triggers))
        assert _Pool._open == {}, "the last wait to finish closes the pool"
        return events

    events = asyncio.run(asyncio.wait_for(all_waits(), 60))

    assert [event["status"] for event in events] == ["success"] * WAITS
    polls = [request for request in slow_uploads.requests[seen:] if request["method"] == "GET"]
    assert len(polls) >= WAITS * 4  # each wait polled through its pending answers
    assert 1 <= slow_uploads.connections - before <= pool_size


def test_a_hook_used_outside_its_context_says_how_to_open_it() -> None:
    hook = RiffusionAsyncHook()
    with pytest.raises(RuntimeError, match="async with"):
        _ = hook.settings


def test_a_pool_left_by_an_ended_loop_is_never_reused(emu: RiffusionEmulator) -> None:
    """A loop that ended without closing its waits' hooks leaves its pool behind; a later loop gets its own."""

    async def leave_a_hook_open() -> int:
        hook = RiffusionAsyncHook()
        await hook.get_settings()
        await hook.free_slots()
        return id(asyncio.get_running_loop())

    asyncio.run(leave_a_hook_open())
    [left] = list(_Pool._open.values())

    async def slots_from_the_pool_key_of_the_ended_loop() -> int:
        loop = asyncio.get_running_loop()
        _Pool._open[(id(loop), *left.key[1:])] = left  # as if the ended loop's id came back
        async with RiffusionAsyncHook() as hook:
            return await hook.free_slots()

    assert asyncio.run(slots_from_the_pool_key_of_the_ended_loop()) == RiffusionHook().free_slots()
    assert _Pool._open == {}
