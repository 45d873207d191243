"""The rest of the API a music pipeline uses: lyrics, one-prompt songs, free job slots (hook, operators,
triggers), against the emulator over HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import requests
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators.riffusion import (
    CreateComposeOperator,
    CreatePromptOperator,
    GenerateLyricsOperator,
)
from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import SlotAvailableTrigger
from tests.support import TOKEN, RecordingTI, task_context


def first_event(trigger: Any) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        return dict((await trigger.run().__anext__()).payload)

    return asyncio.run(run())


def requests_to(emu: RiffusionEmulator, method: str, path: str) -> list[dict[str, Any]]:
    return [r for r in emu.requests if r["method"] == method and r["path"].rstrip("/").endswith(path)]


# -- generate-lyrics ---------------------------------------------------------------------------


def test_lyrics_for_a_prompt_and_reworked_lyrics(connection: RiffusionEmulator) -> None:
    fresh = RiffusionHook().generate_lyrics("neon rain over tokyo")
    reworked = RiffusionHook().generate_lyrics("neon rain", lyrics="old words here")

    assert "neon rain over tokyo" in fresh["lyrics"] and fresh["response"]["lyrics"] == fresh["lyrics"]
    assert reworked["lyrics"].startswith("old words here")
    assert [r["status"] for r in requests_to(connection, "POST", "music/generate-lyrics")] == [200, 200]


def test_the_emulator_takes_lyrics_on_both_documented_paths(connection: RiffusionEmulator) -> None:
    for path in ("music/generate-lyrics", "generate-lyrics"):
        answer = requests.post(
            f"{connection.base_url}/{path}",
            json={"prompt": "a b c"},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 200 and "a b c" in answer.json()["lyrics"]


def test_lyrics_operator_feeds_a_compose(connection: RiffusionEmulator) -> None:
    context = task_context(RecordingTI())
    lyrics = GenerateLyricsOperator(task_id="lyrics", prompt="summer road trip").execute(context)
    result = CreateComposeOperator(
        task_id="compose", prompt_1="indie rock", lyrics=lyrics["lyrics"], wait_for_completion=True, poll_interval=0.01
    ).execute(context)
    assert {song["lyrics"] for song in result["songs"]} == {lyrics["lyrics"]}


@pytest.mark.parametrize("prompt", ["", "   ", None, 7])
def test_lyrics_without_a_prompt_are_refused_before_any_request(connection: RiffusionEmulator, prompt: Any) -> None:
    with pytest.raises(exc.RiffusionInputError, match="prompt is required"):
        RiffusionHook().generate_lyrics(prompt)
    assert connection.requests == []


# -- create-prompt -----------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", [False, True])
def test_prompt_operator_waits_for_its_songs_like_compose(connection: RiffusionEmulator, deferrable: bool) -> None:
    connection.song_polls = 2
    operator = CreatePromptOperator(
        task_id="prompt",
        prompt="calm piano at dusk",
        instrumental=True,
        wait_for_completion=True,
        deferrable=deferrable,
        poll_interval=0.01,
    )
    context = task_context(RecordingTI())
    try:
        result = operator.execute(context)
    except TaskDeferred as deferred:
        event = first_event(deferred.trigger)
        result = getattr(operator, deferred.method_name)(context, event=event, **(deferred.kwargs or {}))

    assert len(result["job_ids"]) == 2 and {song["status"] for song in result["songs"]} == {"completed"}
    assert {song["lyrics"] for song in result["songs"]} == {""}  # instrumental
    [post] = requests_to(connection, "POST", "music/create-prompt")
    assert post["status"] == 200


def test_a_moderated_prompt_is_a_named_failure(connection: RiffusionEmulator) -> None:
    with pytest.raises(exc.RiffusionModerationError, match="moderated the prompt") as raised:
        RiffusionHook().create_prompt("something forbidden")
    assert raised.value.api_error and "moderation" in raised.value.api_error


@pytest.mark.parametrize(
    ("kwargs", "fragment"), [({"instrumental": "yes"}, "instrumental"), ({"max_jobs": 11}, "max_jobs")]
)
def test_bad_prompt_parameters_are_refused_before_any_request(
    connection: RiffusionEmulator, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(exc.RiffusionInputError, match=fragment):
        RiffusionHook().create_prompt("ok", **kwargs)
    assert connection.requests == []


# -- free job slots --------------------------------------------------------------------------


def test_free_slots_of_an_account_and_of_all(connection: RiffusionEmulator) -> None:
    assert RiffusionHook().free_slots() == 3
    connection.free_slots = 0
    assert RiffusionHook().free_slots("user-1") == 0
    assert RiffusionHook().free_slots("someone-else") == 0


def test_without_a_free_slot_compose_waits_instead_of_meeting_429s(connection: RiffusionEmulator) -> None:
    connection.free_slots = 0
    operator = CreateComposeOperator(
        task_id="compose",
        prompt_1="funk",
        wait_for_slot=True,
        wait_for_completion=False,
        poll_interval=0.01,
        timeout=30,
    )
    busy_polls: list[int] = []

    def free_a_slot_after_three_polls() -> None:
        deadline = time.monotonic() + 20
        while len(requests_to(connection, "GET", "scheduler/available")) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        busy_polls.append(len(requests_to(connection, "GET", "scheduler/available")))
        connection.free_slots = 1

    # The operator runs on the test's own thread: Airflow 2's execute() guard keeps thread-local state.
    freer = threading.Thread(target=free_a_slot_after_three_polls, daemon=True)
    freer.start()
    outcome = operator.execute(task_context(RecordingTI()))
    freer.join(timeout=20)

    assert busy_polls and busy_polls[0] >= 3
    assert len(outcome["job_ids"]) == 2
    assert [r["status"] for r in requests_to(connection, "POST", "music/create-compose")] == [200]  # no 429 met


def test_a_deferred_slot_wait_polls_in_the_triggerer_then_composes(connection: RiffusionEmulator) -> None:
    connection.free_slots = 0
    operator = CreateComposeOperator(
        task_id="compose", prompt_1="funk", wait_for_slot=True, deferrable=True, poll_interval=0.01, timeout=30
    )
    context = task_context(RecordingTI())
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, SlotAvailableTrigger) and deferred.value.method_name == "execute_after_slot"
    assert requests_to(connection, "POST", "music/create-compose") == []  # nothing started yet

    connection.free_slots = 2
    event = first_event(trigger)
    assert event["status"] == "success" and event["free"] == 2
    result = operator.execute_after_slot(context, event=event)

    assert len(result["job_ids"]) == 2
    assert len(requests_to(connection, "POST", "music/create-compose")) == 1


def test_a_slot_trigger_round_trips_its_kwargs() -> None:
    trigger = SlotAvailableTrigger(user_id="u", poll_interval=2.0, deadline=12.5, max_consecutive_errors=4)
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("SlotAvailableTrigger")
    assert SlotAvailableTrigger(**kwargs).serialize() == (classpath, kwargs)
