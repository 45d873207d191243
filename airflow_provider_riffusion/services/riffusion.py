"""The Riffusion API (useapi.net, retired April 2025): everything the provider knows of it, in one module.

Its endpoints (paths, retry rules, what a lost answer of a create call may mean), the request
bodies with their documented ranges (checked locally: a 400 after a round trip, and a used job
slot, becomes a one-line error naming the field), both API revisions' answers normalized into the
provider's common shapes (``services/__init__.py``), and its status words. Ids must be non-empty
strings: an object, list, number or boolean where an id belongs is a bad answer, never turned into a
string, because a wrong id would be polled (or composed from) for the whole timeout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_riffusion import retry
from airflow_provider_riffusion.exceptions import RiffusionInputError, RiffusionModerationError, RiffusionResponseError
from airflow_provider_riffusion.services import (
    MISSING,
    RENDERED_NOTHING,
    Endpoint,
    Progress,
    answer_id,
    answer_object,
    bad_id,
    json_kind,
    kept_response,
    no_answer,
    status_word,
    without_unset,
)

NAME = "riffusion"
TITLE = "the Riffusion API"
DEFAULT_BASE_URL = "https://api.useapi.net/v1/riffusion"
ACCOUNT_PARAM = "user_id"
SHORT_TITLE = "Riffusion"
UPLOADS_PROCESS = True
"""A track is processed after the upload answers: its status is polled (``upload_status``)."""
SLOTS_NEED_ACCOUNTS = False
"""``GET scheduler/available`` says each account's free slots itself."""
MAX_UPLOAD_BYTES: int | None = None
"""The docs recommend uploads under 50 MB (a warning, ``sources/kinds.py``) but name no cap."""
DOWNLOAD_FORMATS: Mapping[str, str | None] = {"mp3": None, "wav": None, "stems": None}
"""Every format comes through ``GET music/download``."""
MESSAGES: Mapping[int, str] = {}
"""The error messages of ``answers.py`` are written in Riffusion's terms."""

# -- status words --

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


def upload_progress(word: Any) -> Progress:
    """The upload status rule: pending waits, complete is ready, failed fails, any other word is ready."""
    return UPLOAD_WORDS.get(status_word(word), Progress.UNKNOWN_READY)


def song_progress(word: Any) -> Progress:
    return SONG_WORDS.get(status_word(word), Progress.PENDING)


# -- request bodies --

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

FLOW_MUSIC_MODELS = ("lyria-",)
"""Flow Music's model family, refused on Riffusion by name."""
_API_NAMES = {"max_jobs": "maxJobs", "reply_url": "replyUrl", "reply_ref": "replyRef"}


def build_compose_payload(
    prompt_1: str | None,
    *,
    prompt_2: str | None = None,
    prompt_3: str | None = None,
    lyrics: str | None = None,
    title: str | None = None,
    audio_upload_id: str | None = None,
    model: str | None = None,
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
        ("reply_url", reply_url),
        ("reply_ref", reply_ref),
    ):
        if value is None:
            continue
        if not isinstance(value, str):
            raise RiffusionInputError(f"{name} must be a string, got {type(value).__name__}.")
        if name == "model" and value.startswith(FLOW_MUSIC_MODELS):
            raise RiffusionInputError(
                f"model {value!r} is a Flow Music model, not one of Riffusion (the connection's service): use a "
                "Riffusion model such as 'FUZZ-0.8', or a connection with service flowmusic."
            )
        if name in ("reply_url", "reply_ref") and len(value) > MAX_REPLY_LENGTH:
            raise RiffusionInputError(f"{name} is {len(value)} characters; the API takes at most 1024.")
        if name == "audio_upload_id" and value.strip() in RENDERED_NOTHING:
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


def build_lyrics_payload(prompt: Any, lyrics: Any = None) -> dict[str, Any]:
    """The JSON body for POST music/generate-lyrics: ``prompt``, and ``lyrics`` to rework."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise RiffusionInputError("prompt is required: describe what the lyrics are about.")
    payload: dict[str, Any] = {"prompt": prompt}
    if lyrics is not None:
        if not isinstance(lyrics, str):
            raise RiffusionInputError(f"lyrics must be a string, got {type(lyrics).__name__}.")
        payload["lyrics"] = lyrics
    return payload


def build_prompt_payload(
    prompt: Any,
    instrumental: bool | None = None,
    *,
    reply_url: str | None = None,
    reply_ref: str | None = None,
    max_jobs: Any = None,
) -> dict[str, Any]:
    """The JSON body for POST music/create-prompt: one prompt, songs with or without vocals."""
    payload = build_lyrics_payload(prompt)
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


COMPOSE_FIELDS = (
    *("prompt_1", "prompt_2", "prompt_3", "lyrics", "title", "audio_upload_id", "model", "reply_url", "reply_ref"),
    *COMPOSE_INT_RANGES,
)
OWN_FIELDS = {
    "compose": COMPOSE_FIELDS,
    "prompt": ("prompt", "instrumental", "reply_url", "reply_ref", "max_jobs"),
    "lyrics": ("prompt", "lyrics"),
}
"""The parameters each call has on Riffusion; another service's (``ghostwriter``, ``structure`` ...) are refused."""


def body(operation: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``compose``, ``prompt`` or ``lyrics`` from the operator's fields (the account is added by
    the hook); a parameter Riffusion lacks is refused, naming it."""
    if operation in OWN_FIELDS:
        fields = without_unset(fields, OWN_FIELDS[operation], SHORT_TITLE)
    fields = dict(fields)
    if operation == "compose":
        return build_compose_payload(fields.pop("prompt_1", None), **fields)
    if operation == "prompt":
        return build_prompt_payload(fields.pop("prompt", None), **fields)
    if operation == "lyrics":
        return build_lyrics_payload(fields.pop("prompt", None), fields.pop("lyrics", None))
    raise ValueError(f"{operation!r} has no request body")


# -- answers --


def upload(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Both upload revisions -> ``job_id`` (for the status endpoint) and ``audio_upload_id`` (for compose).

    2025-02-17 answers ``{"job_id"}``: that id serves both purposes. 2025-02-25 answers the
    composite ``id`` (status endpoint) beside ``audio_upload_id`` (compose).
    """
    body = answer_object(body, TITLE, "the upload")
    what = "the upload"
    if "id" in body and "audio_upload_id" in body:
        job_id, audio_upload_id = answer_id(body["id"]), answer_id(body["audio_upload_id"])
        if job_id is None:
            raise bad_id(TITLE, what, "id", body["id"])
        if audio_upload_id is None:
            raise bad_id(TITLE, what, "audio_upload_id", body["audio_upload_id"])
    elif "job_id" in body and body["job_id"] not in ("", None):
        job_id = audio_upload_id = answer_id(body["job_id"])
        if job_id is None:
            raise bad_id(TITLE, what, "job_id", body["job_id"])
    else:
        raise RiffusionResponseError(
            "The Riffusion API accepted the upload (HTTP 200) but returned no job id "
            f"(fields: {sorted(body)[:20]}). The upload cannot be tracked; check the API revision."
        )
    return {"job_id": job_id, "audio_upload_id": audio_upload_id, "is_flagged": bool(body.get("is_flagged"))}


def upload_status(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Both status revisions -> the sensor's output shape (``response`` keeps the raw body).

    A missing or empty status counts as pending, as the design's status rule says.
    """
    job_id = str(params["id"])
    body = answer_object(body, TITLE, "the upload status request")
    audio_upload_id = body.get("audio_upload_id")
    if audio_upload_id in (None, ""):
        audio_upload_id = job_id.split(":", 1)[0]
    elif answer_id(audio_upload_id) is None:
        raise bad_id(TITLE, f"the status of upload {job_id}", "audio_upload_id", audio_upload_id)
    lyrics = body.get("lyrics")
    if lyrics is None:
        lyrics = body.get("transcribed_lyrics")
    return {
        "job_id": job_id,
        "audio_upload_id": audio_upload_id,
        "status": status_word(body.get("status")),
        "lyrics": lyrics if isinstance(lyrics, str) else "",
        "is_flagged": bool(body.get("is_flagged")),
        "response": kept_response(body),
    }


def compose(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Both compose answers (``{"jobs": [{"id"}...]}`` and ``{"job_id"}``) -> ``job_ids``."""
    body = answer_object(body, TITLE, "the compose request")
    what = "the compose request"
    if isinstance(body.get("jobs"), list):
        given = [job.get("id") if isinstance(job, dict) else None for job in body["jobs"]]
    else:
        given = [body.get("job_id")]
    job_ids = [value for value in given if value not in ("", None)]
    for value in job_ids:
        if answer_id(value) is None:
            raise bad_id(TITLE, what, "a job id", value)
    if not job_ids or len(job_ids) < len(given):
        raise RiffusionResponseError(
            "The Riffusion API accepted the compose request but returned no job id, or a job without one "
            f"(fields: {sorted(body)[:20]}). The songs cannot be tracked: check the API revision, and the "
            "account's songs before composing again."
        )
    return {"job_ids": job_ids, "response": kept_response(body)}


def songs(body: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """GET music always answers a JSON array of song objects, each with an id string."""
    job_id = params["id"]
    if not isinstance(body, list):
        raise RiffusionResponseError(
            f"The Riffusion API answered the songs of job {job_id} with {type(body).__name__}, expected a list. "
            "Check that the connection's host points at the Riffusion API."
        )
    found = [song for song in body if isinstance(song, dict)]
    for song in found:
        if answer_id(song.get("id")) is None:
            raise bad_id(TITLE, f"the songs of job {job_id}", "a song's id", song.get("id"))
    return found


def prompt(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """create-prompt answers like compose; a moderated prompt may come back as a 2xx with ``is_flagged``."""
    if isinstance(body, dict) and body.get("is_flagged") is True:
        reason = str(body.get("reason") or body.get("error") or "moderation")[:200]
        raise RiffusionModerationError(
            f"The Riffusion API moderated the prompt ({reason}). Change the prompt or lyrics.",
            api_error=reason,
        )
    return compose(body, params)


def lyrics(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """generate-lyrics: ``{"lyrics": "..."}``."""
    body = answer_object(body, TITLE, "the lyrics request")
    if not isinstance(body.get("lyrics"), str) or not body["lyrics"].strip():
        raise RiffusionResponseError(
            f"The Riffusion API answered the lyrics request without lyrics (fields: {sorted(body)[:20]})."
        )
    return {"lyrics": body["lyrics"], "response": kept_response(body)}


_SHOWN_ACCOUNT = re.compile(r"[\w.@:+-]{1,64}")
"""A user_id named in a message as it came; any other (long, or with spaces or newlines) is named by position."""


def _bad_slots(problem: str) -> RiffusionResponseError:
    return RiffusionResponseError(
        f"The Riffusion API answered the free job slots request, but {problem}. Check that the connection's host "
        "points at the Riffusion API (GET scheduler/available answers an 'available' list of accounts)."
    )


def capacity(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """scheduler/available -> the free job slots of each account: ``{"free": {user_id: slots}}``.

    The one place both waits (the hook's ``free_slots`` on workers, ``SlotAvailableTrigger`` in the
    triggerer) read slots from, so they cannot disagree. A negative count (an account's maxJobs lowered
    while its jobs run) is no free slot: 0, never a slot, and never subtracted from another account's.
    An answer of another shape is refused, never read as some number of slots.
    """
    body = answer_object(body, TITLE, "the free job slots request")
    accounts = body.get("available", MISSING)
    if not isinstance(accounts, list):
        raise _bad_slots(f"its 'available' is {json_kind(accounts)}, not a list of accounts")
    free: dict[str, int] = {}
    for index, account in enumerate(accounts):
        entry = f"entry {index} of 'available'"
        if not isinstance(account, dict):
            raise _bad_slots(f"{entry} is {json_kind(account)}, not an account object")
        user_id = answer_id(account.get("user_id"))
        if user_id is None:
            raise bad_id(TITLE, "the free job slots request", f"the user_id of {entry}", account.get("user_id"))
        if _SHOWN_ACCOUNT.fullmatch(user_id):
            entry = f"{entry} (account {user_id})"
        slots = account.get("available", MISSING)
        if isinstance(slots, bool) or not isinstance(slots, int):
            raise _bad_slots(f"the free slot count of {entry} is {json_kind(slots)}, not a whole number")
        free[user_id] = max(0, slots)
    return {"free": free, "response": kept_response(body)}


def free_slots(answer: Mapping[str, Any], accounts: Mapping[str, Any] | None) -> dict[str, int]:
    """``capacity`` already says each account's free slots."""
    return dict(answer["free"])


def account(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET accounts/{account}``: one account's record (Flow Music adds its live credit balances)."""
    return answer_object(body, TITLE, f"the account {params['account']}")


def accounts(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """GET accounts: an object keyed by user_id."""
    return answer_object(body, TITLE, "the accounts list")


ENDPOINTS: Mapping[str, Endpoint] = {
    "upload": Endpoint(
        "POST",
        "music/upload-audio/",
        "the upload of {file_name!r}",
        upload,
        retry.retry_upload,
        creates="The track may have been stored",
    ),
    "upload_status": Endpoint(
        "GET", "music/upload-audio/", "the status of upload {id}", upload_status, ids={"id": "job_id"}
    ),
    "compose": Endpoint(
        "POST",
        "music/create-compose",
        "the compose request",
        compose,
        retry.retry_create,
        creates="Songs may have been started",
        account="body",
    ),
    "songs": Endpoint("GET", "music/", "the songs of job {id}", songs, ids={"id": "job_id"}),
    "accounts": Endpoint("GET", "accounts", "the accounts list", accounts, retry.retry_never, account=None),
    "account": Endpoint(
        "GET", "accounts/{account}", "the account {account}", account, ids={"account": "user_id"}, account=None
    ),
    "download": Endpoint("GET", "music/download", "the download of song {id}", no_answer, ids={"id": "song_id"}),
    "lyrics": Endpoint(
        "POST", "music/generate-lyrics", "the lyrics request", lyrics, retry.retry_create, account="body"
    ),
    "prompt": Endpoint(
        "POST",
        "music/create-prompt",
        "the prompt request",
        prompt,
        retry.retry_create,
        creates="Songs may have been started",
        account="body",
    ),
    "slots": Endpoint("GET", "scheduler/available", "the free job slots", capacity, account=None),
    "stop_job": Endpoint(
        "DELETE", "scheduler/{job_id}", "stopping job {job_id}", no_answer, ids={"job_id": "job_id"}, account=None
    ),
}
"""Every endpoint the provider calls, by the operation the hooks name it."""
