"""The rest of the API a music pipeline uses: lyrics, one-prompt songs, free job slots (hook, operators,
triggers), against the emulator over HTTP."""

from __future__ import annotations

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
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import SlotAvailableTrigger, result_from_event
from tests.support import TOKEN, RecordingTI, one_event, task_context


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
        event = one_event(deferred.trigger)
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
    event = one_event(trigger)
    assert event["status"] == "success" and event["free"] == 2
    result = operator.execute_after_slot(context, event=event)

    assert len(result["job_ids"]) == 2
    assert len(requests_to(connection, "POST", "music/create-compose")) == 1


def test_a_slot_trigger_round_trips_its_kwargs() -> None:
    trigger = SlotAvailableTrigger(user_id="u", poll_interval=2.0, deadline=12.5, max_consecutive_errors=4)
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("SlotAvailableTrigger")
    assert SlotAvailableTrigger(**kwargs).serialize() == (classpath, kwargs)


# -- free job slots: negative counts and answers of the wrong shape, on both paths -------------------


def slots_now(path: str, user_id: str | None = None) -> int:
    """Free slots as the worker (the hook) or the triggerer (the trigger's first event) reads them now."""
    if path == "sync":
        return RiffusionHook().free_slots(user_id)
    event = one_event(SlotAvailableTrigger(user_id=user_id, poll_interval=0.01, deadline=time.time() + 0.3))
    return int(event["free"]) if event["status"] == "success" else 0


def two_accounts(first: Any, second: Any) -> Fault:
    """scheduler/available for two accounts, the first reporting ``first`` free slots, the second ``second``."""
    accounts = [
        {"user_id": "acct-a", "maxJobs": 1, "executing": 3, "available": first},
        {"user_id": "acct-b", "maxJobs": 3, "executing": 1, "available": second},
    ]
    return Fault(method="GET", path="scheduler/available", status=200, body={"executing": [], "available": accounts})


@pytest.mark.parametrize("path", ["sync", "deferred"])
def test_a_negative_free_count_is_no_free_slot(connection: RiffusionEmulator, path: str) -> None:
    """maxJobs lowered while jobs run: the account reports -1 free. That is none, never a slot to compose in."""
    connection.free_slots = -1
    assert slots_now(path) == 0
    assert slots_now(path, "user-1") == 0


@pytest.mark.parametrize("path", ["sync", "deferred"])
def test_a_negative_count_takes_nothing_from_another_accounts_slots(connection: RiffusionEmulator, path: str) -> None:
    connection.inject(two_accounts(-2, 2))
    assert slots_now(path) == 2


def test_a_negative_count_makes_the_operator_wait_not_compose(connection: RiffusionEmulator) -> None:
    connection.free_slots = -1
    operator = CreateComposeOperator(
        task_id="compose", prompt_1="funk", wait_for_slot=True, poll_interval=0.01, timeout=0.5
    )
    with pytest.raises(exc.RiffusionWaitTimeoutError, match="A free job slot for the compose did not finish"):
        operator.execute(task_context(RecordingTI()))
    assert len(requests_to(connection, "GET", "scheduler/available")) >= 2
    assert requests_to(connection, "POST", "music/create-compose") == []


def test_a_negative_count_makes_the_deferrable_operator_defer_not_compose(connection: RiffusionEmulator) -> None:
    connection.free_slots = -1
    operator = CreateComposeOperator(
        task_id="compose", prompt_1="funk", wait_for_slot=True, deferrable=True, poll_interval=0.01, timeout=30
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(task_context(RecordingTI()))
    assert isinstance(deferred.value.trigger, SlotAvailableTrigger)
    assert requests_to(connection, "POST", "music/create-compose") == []


WRONG_SHAPES = {
    "no-available": ({"executing": []}, "its 'available' is missing, not a list of accounts"),
    "available-null": ({"available": None}, "its 'available' is null, not a list of accounts"),
    "available-number": ({"available": 3}, "its 'available' is a number, not a list of accounts"),
    "available-object": ({"available": {"user_id": "u"}}, "its 'available' is an object, not a list"),
    "entry-string": ({"available": ["user-1"]}, "entry 0 of 'available' is a string, not an account object"),
    "entry-without-user": ({"available": [{"available": 1}]}, "the user_id of entry 0 of 'available' empty"),
}
"""scheduler/available answers of the wrong shape, and what the message must say."""
WRONG_COUNTS = {
    "string": ("2", "is a string, not a whole number"),
    "float": (1.5, "is a floating-point number, not a whole number"),
    "whole-float": (2.0, "is a floating-point number, not a whole number"),
    "bool": (True, "is the boolean true, not a whole number"),
    "null": (None, "is null, not a whole number"),
}
"""An account's free slot count that is not a whole number, and what the message must say of it."""
WRONG_ANSWERS = [
    *(
        pytest.param(Fault(method="GET", path="scheduler/available", status=200, body=body), said, id=name)
        for name, (body, said) in WRONG_SHAPES.items()
    ),
    *(
        pytest.param(two_accounts(1, count), f"entry 1 of 'available' (account acct-b) {said}", id=f"count-{name}")
        for name, (count, said) in WRONG_COUNTS.items()
    ),
]


def one_line_response_error(error: BaseException, fragment: str) -> None:
    """The family's response error, under the usual retry rules (not fatal), in one line naming what was wrong."""
    assert type(error) is exc.RiffusionResponseError, repr(error)
    message = str(error)
    assert "\n" not in message and fragment in message, message
    assert message.startswith("The Riffusion API answered the free job slots request") and TOKEN not in message


@pytest.mark.parametrize(("fault", "fragment"), WRONG_ANSWERS)
def test_a_slots_answer_of_the_wrong_shape_is_a_response_error_on_the_worker(
    connection: RiffusionEmulator, fault: Fault, fragment: str
) -> None:
    connection.inject(fault)
    with pytest.raises(exc.RiffusionError) as raised:
        RiffusionHook().free_slots()
    one_line_response_error(raised.value, fragment)
    assert len(requests_to(connection, "GET", "scheduler/available")) == 1  # not a transient failure: no retry


@pytest.mark.parametrize(("fault", "fragment"), WRONG_ANSWERS)
def test_a_slots_answer_of_the_wrong_shape_is_a_response_error_in_the_triggerer(
    connection: RiffusionEmulator, fault: Fault, fragment: str
) -> None:
    connection.inject(fault)
    event = one_event(SlotAvailableTrigger(poll_interval=0.01, max_consecutive_errors=0, deadline=time.time() + 30))

    assert event["status"] == "error" and event["error_class"] == "RiffusionResponseError", event
    with pytest.raises(exc.RiffusionError) as raised:
        result_from_event(event, expected="free")
    one_line_response_error(raised.value, fragment)


def test_the_slot_wait_rides_out_a_wrong_shape_then_fails_with_it(connection: RiffusionEmulator) -> None:
    """An operator's slot wait counts a wrong answer as a failed poll (up to max_consecutive_errors in a row),
    then fails with the response error, which Airflow may retry: nothing was composed."""
    connection.inject(Fault(method="GET", path="scheduler/available", status=200, body={"available": 3}, times=10))
    operator = CreateComposeOperator(
        task_id="compose", prompt_1="funk", wait_for_slot=True, poll_interval=0.01, max_consecutive_errors=2
    )
    with pytest.raises(exc.RiffusionError) as raised:
        operator.execute(task_context(RecordingTI()))

    one_line_response_error(raised.value, "its 'available' is a number")
    assert len(requests_to(connection, "GET", "scheduler/available")) == 3
    assert requests_to(connection, "POST", "music/create-compose") == []
