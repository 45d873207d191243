"""Build and validate a create-compose request body before it is sent.

Ranges come from the API's documentation; checking them locally turns a 400 after a network
round trip (and a used job slot) into a one-line error naming the field and its range.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_riffusion.exceptions import RiffusionInputError

STRENGTH_RANGE = (20, 100)
PERCENT_RANGE = (0, 100)
MAX_JOBS_RANGE = (1, 10)
MAX_REPLY_LENGTH = 1024

COMPOSE_INT_RANGES: dict[str, tuple[int, int]] = {
    **{f"prompt_{n}_strength": STRENGTH_RANGE for n in (1, 2, 3)},
    **{f"prompt_{n}_{edge}": PERCENT_RANGE for n in (1, 2, 3) for edge in ("start", "end")},
    "lyrics_strength": PERCENT_RANGE,
    "lyrics_weirdness": PERCENT_RANGE,
    "max_jobs": MAX_JOBS_RANGE,
}
"""Every integer field of the request, by its Python argument name, with its inclusive range."""

_API_NAMES = {"max_jobs": "maxJobs", "reply_url": "replyUrl", "reply_ref": "replyRef"}
_RENDERED_NOTHING = ("", "None", "null")
"""What ``{{ ti.xcom_pull(...) }}`` renders to when the upstream value is missing."""


def build_compose_payload(
    prompt_1: str | None,
    *,
    prompt_2: str | None = None,
    prompt_3: str | None = None,
    lyrics: str | None = None,
    title: str | None = None,
    audio_upload_id: str | None = None,
    model: str | None = None,
    user_id: str | None = None,
    reply_url: str | None = None,
    reply_ref: str | None = None,
    **numbers: Any,
) -> dict[str, Any]:
    """The JSON body for POST music/create-compose; ``numbers`` are the fields of ``COMPOSE_INT_RANGES``."""
    unknown = sorted(set(numbers) - set(COMPOSE_INT_RANGES))
    if unknown:
        raise RiffusionInputError(f"unknown compose parameter(s) {unknown}: check the spelling.")
    if not isinstance(prompt_1, str) or not prompt_1.strip():
        raise RiffusionInputError("prompt_1 is required: describe the genre, sounds or vibe of the song.")
    payload: dict[str, Any] = {"prompt_1": prompt_1}
    for name, value in (
        ("prompt_2", prompt_2),
        ("prompt_3", prompt_3),
        ("lyrics", lyrics),
        ("title", title),
        ("audio_upload_id", audio_upload_id),
        ("model", model),
        ("user_id", user_id),
        ("reply_url", reply_url),
        ("reply_ref", reply_ref),
    ):
        if value is None:
            continue
        if not isinstance(value, str):
            raise RiffusionInputError(f"{name} must be a string, got {type(value).__name__}.")
        if name in ("reply_url", "reply_ref") and len(value) > MAX_REPLY_LENGTH:
            raise RiffusionInputError(f"{name} is {len(value)} characters; the API takes at most 1024.")
        if name == "audio_upload_id" and value.strip() in _RENDERED_NOTHING:
            raise RiffusionInputError(
                f"audio_upload_id is empty ({value!r}: a template rendered to nothing?): pass the upload's "
                "output['audio_upload_id'], or leave it None for a prompt-only song."
            )
        payload[_API_NAMES.get(name, name)] = value
    for name, value in numbers.items():
        if value is None:
            continue
        payload[_API_NAMES.get(name, name)] = checked_int(name, value, COMPOSE_INT_RANGES[name])
    for n in (2, 3):
        if payload.get(f"prompt_{n}") is None and any(
            f"prompt_{n}_{s}" in payload for s in ("strength", "start", "end")
        ):
            raise RiffusionInputError(f"prompt_{n}_* values are set but prompt_{n} is not: add prompt_{n}.")
    check_spans(payload)
    return payload


def check_spans(numbers: dict[str, Any]) -> None:
    """Each prompt's ``start <= end``, where both are set: at DAG parse (the operator's literal numbers) and
    again when the request is built, with the same message."""
    for n in (1, 2, 3):
        start, end = numbers.get(f"prompt_{n}_start"), numbers.get(f"prompt_{n}_end")
        if start is not None and end is not None and start > end:
            raise RiffusionInputError(f"prompt_{n}_start ({start}) is after prompt_{n}_end ({end}): swap them.")


def checked_int(name: str, value: Any, bounds: tuple[int, int]) -> int:
    """An int within ``bounds``; digit strings (rendered templates) are accepted, booleans are not."""
    low, high = bounds
    if isinstance(value, bool):
        raise RiffusionInputError(f"{name} must be an integer from {low} to {high}, got {value!r}.")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise RiffusionInputError(f"{name} must be an integer from {low} to {high}, got {value!r}.")
    if not low <= value <= high:
        raise RiffusionInputError(f"{name}={value} is out of range: use an integer from {low} to {high}.")
    return value


def build_lyrics_payload(prompt: Any, lyrics: Any = None, user_id: str | None = None) -> dict[str, Any]:
    """The JSON body for POST music/generate-lyrics: ``prompt``, and ``lyrics`` to rework."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise RiffusionInputError("prompt is required: describe what the lyrics are about.")
    payload: dict[str, Any] = {"prompt": prompt}
    for name, value in (("lyrics", lyrics), ("user_id", user_id)):
        if value is not None:
            if not isinstance(value, str):
                raise RiffusionInputError(f"{name} must be a string, got {type(value).__name__}.")
            payload[name] = value
    return payload


def build_prompt_payload(
    prompt: Any,
    instrumental: bool | None = None,
    user_id: str | None = None,
    *,
    reply_url: str | None = None,
    reply_ref: str | None = None,
    max_jobs: Any = None,
) -> dict[str, Any]:
    """The JSON body for POST music/create-prompt: one prompt, songs with or without vocals."""
    payload = build_lyrics_payload(prompt, None, user_id)
    if instrumental is not None:
        if not isinstance(instrumental, bool):
            raise RiffusionInputError(f"instrumental must be True or False, got {instrumental!r}.")
        payload["instrumental"] = instrumental
    for name, value in (("reply_url", reply_url), ("reply_ref", reply_ref)):
        if value is not None:
            if not isinstance(value, str) or len(value) > MAX_REPLY_LENGTH:
                raise RiffusionInputError(f"{name} must be a string of at most {MAX_REPLY_LENGTH} characters.")
            payload[_API_NAMES[name]] = value
    if max_jobs is not None:
        payload["maxJobs"] = checked_int("max_jobs", max_jobs, MAX_JOBS_RANGE)
    return payload
