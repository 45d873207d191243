"""The create-compose body: documented ranges checked locally, API field names on the wire."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_riffusion.services.riffusion import COMPOSE_INT_RANGES, build_compose_payload, checked_int
from tests.support import refused

PROMPT = "lo-fi hip hop, warm vinyl crackle"


def compose(**fields: Any) -> dict[str, Any]:
    """The payload for PROMPT with ``fields``, spelled as a DAG author passes them."""
    return build_compose_payload(PROMPT, **fields)


def api_name(name: str) -> str:
    return "maxJobs" if name == "max_jobs" else name


def prerequisites(name: str) -> dict[str, Any]:
    """prompt_2_* and prompt_3_* need their prompt."""
    for n in (2, 3):
        if name.startswith(f"prompt_{n}_"):
            return {f"prompt_{n}": f"prompt number {n}"}
    return {}


DOCUMENTED_RANGES = {
    **{f"prompt_{n}_strength": (20, 100) for n in (1, 2, 3)},
    **{f"prompt_{n}_{edge}": (0, 100) for n in (1, 2, 3) for edge in ("start", "end")},
    "lyrics_strength": (0, 100),
    "lyrics_weirdness": (0, 100),
    "max_jobs": (1, 10),
}
"""The ranges of ``shared/API.md``, written out here: the tests below take their bounds from the docs, not
from the code under test, so a wrong bound in the code fails them."""


def test_ranges_match_the_api_documentation() -> None:
    assert DOCUMENTED_RANGES == COMPOSE_INT_RANGES


def test_minimal_payload() -> None:
    assert build_compose_payload(PROMPT) == {"prompt_1": PROMPT}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param(name, value, id=f"{name}={value}")
        for name, (low, high) in DOCUMENTED_RANGES.items()
        for value in (low, high)
    ],
)
def test_range_boundaries_accepted(name: str, value: int) -> None:
    payload = compose(**prerequisites(name), **{name: value})
    assert payload[api_name(name)] == value


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param(name, value, id=f"{name}={value}")
        for name, (low, high) in DOCUMENTED_RANGES.items()
        for value in (low - 1, high + 1)
    ],
)
def test_just_out_of_range_refused(name: str, value: int) -> None:
    low, high = DOCUMENTED_RANGES[name]
    with refused(f"{name}={value} is out of range: use an integer from {low} to {high}"):
        compose(**prerequisites(name), **{name: value})


@pytest.mark.parametrize("flag", [True, False])
@pytest.mark.parametrize("name", list(DOCUMENTED_RANGES))
def test_booleans_refused(name: str, flag: bool) -> None:
    with refused(name, "integer", repr(flag)):
        compose(**prerequisites(name), **{name: flag})


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("prompt_1_strength", "50", 50),
        ("prompt_1_strength", " 100 ", 100),
        ("lyrics_weirdness", "0", 0),
        ("max_jobs", "10", 10),
        ("max_jobs", 3.0, 3),
    ],
)
def test_digit_strings_and_whole_floats_accepted(name: str, given: Any, expected: int) -> None:
    value = build_compose_payload(PROMPT, **{name: given})[api_name(name)]
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize("given", ["abc", "5.5", "", "1e2", 50.5, [50]])
def test_non_integers_refused(given: Any) -> None:
    with refused("prompt_1_strength", "integer from 20 to 100"):
        build_compose_payload(PROMPT, prompt_1_strength=given)


def test_negative_digit_string_is_checked_against_the_range() -> None:
    with refused("lyrics_strength=-1", "from 0 to 100"):
        build_compose_payload(PROMPT, lyrics_strength="-1")


def test_checked_int_returns_a_plain_int() -> None:
    value = checked_int("max_jobs", "7", (1, 10))
    assert value == 7
    assert type(value) is int


@pytest.mark.parametrize("prompt", [None, "", "   ", 5])
def test_missing_or_blank_prompt_1_refused(prompt: Any) -> None:
    with refused("prompt_1 is required: describe the genre, sounds or vibe"):
        build_compose_payload(prompt)


@pytest.mark.parametrize("name", [f"prompt_{n}_{s}" for n in (2, 3) for s in ("strength", "start", "end")])
def test_prompt_n_values_without_prompt_n_refused(name: str) -> None:
    n = name.split("_")[1]
    value = DOCUMENTED_RANGES[name][0]
    with refused(f"prompt_{n} is not", f"add prompt_{n}"):
        compose(**{name: value})


def test_prompt_3_values_need_prompt_3_even_with_prompt_2() -> None:
    with refused("prompt_3"):
        build_compose_payload(PROMPT, prompt_2="strings", prompt_3_strength=60)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_start_after_end_refused(n: int) -> None:
    extra = {} if n == 1 else {f"prompt_{n}": "drums"}
    with refused(f"prompt_{n}_start (60)", f"prompt_{n}_end (40)", "swap"):
        compose(**extra, **{f"prompt_{n}_start": 60, f"prompt_{n}_end": 40})


def test_start_equal_to_end_accepted() -> None:
    payload = build_compose_payload(PROMPT, prompt_1_start=40, prompt_1_end=40)
    assert (payload["prompt_1_start"], payload["prompt_1_end"]) == (40, 40)


@pytest.mark.parametrize(("name", "key"), [("reply_url", "replyUrl"), ("reply_ref", "replyRef")])
def test_reply_fields_at_most_1024_characters(name: str, key: str) -> None:
    assert build_compose_payload(PROMPT, **{name: "x" * 1024})[key] == "x" * 1024
    with refused(name, "1025", "1024"):
        build_compose_payload(PROMPT, **{name: "x" * 1025})


@pytest.mark.parametrize("upload_id", ["", "   ", "None", "null"])
def test_empty_audio_upload_id_refused(upload_id: str) -> None:
    """What a template renders when the upload pushed nothing: never sent as an id."""
    with refused("audio_upload_id is empty", "output['audio_upload_id']"):
        build_compose_payload(PROMPT, audio_upload_id=upload_id)


def test_api_names_and_pass_through_fields() -> None:
    payload = build_compose_payload(
        PROMPT,
        prompt_2="strings",
        lyrics="la la la",
        title="Morning",
        audio_upload_id="up-123",
        model="FUZZ-0.8",
        reply_url="https://example.com/hook",
        reply_ref="ref-9",
        max_jobs=2,
        prompt_2_strength=None,
    )
    assert payload == {
        "prompt_1": PROMPT,
        "prompt_2": "strings",
        "lyrics": "la la la",
        "title": "Morning",
        "audio_upload_id": "up-123",
        "model": "FUZZ-0.8",
        "replyUrl": "https://example.com/hook",
        "replyRef": "ref-9",
        "maxJobs": 2,
    }


@pytest.mark.parametrize("name", ["prompt_4_strength", "maxJobs", "lyric_strength"])
def test_unknown_numeric_parameter_refused(name: str) -> None:
    with refused(name, "spelling"):
        compose(**{name: 5})


@pytest.mark.parametrize("name", ["title", "lyrics", "audio_upload_id", "reply_url"])
def test_non_string_text_field_refused(name: str) -> None:
    with refused(name, "must be a string", "int"):
        compose(**{name: 123})
