"""Both API revisions, normalized into the shapes the operators return.

Each function takes a decoded JSON body (and the call's parameters) and gives the provider's
shape, or raises ``RiffusionResponseError`` for an answer it cannot use. Ids must be non-empty
strings: an object, list, number or boolean where an id belongs is a bad answer, never turned
into a string, because a wrong id would be polled (or composed from) for the whole timeout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_riffusion.exceptions import RiffusionModerationError, RiffusionResponseError
from airflow_provider_riffusion.statuses import status_word

MAX_KEPT_RESPONSE_BYTES = 64 * 1024
"""A raw answer kept in an output (``response``) as it came, up to this size of JSON: outputs go to
XCom and trigger events to the metadata database, so a larger one is replaced by a note."""


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RiffusionResponseError(
            f"The Riffusion API answered {what} with {type(body).__name__} JSON, expected an object. "
            "Check that the connection's host points at the Riffusion API."
        )
    return body


def _id(value: Any) -> str | None:
    """An id as the API must send it: a non-empty string; anything else is None."""
    return value if isinstance(value, str) and value.strip() else None


def _bad_id(what: str, field: str, value: Any) -> RiffusionResponseError:
    shown = "empty" if value in ("", None) else f"a JSON {type(value).__name__}"
    return RiffusionResponseError(
        f"The Riffusion API answered {what} with {field} {shown}, not an id string. The answer cannot be used."
    )


def kept_response(body: Any) -> Any:
    """The raw answer for the ``response`` output, or a note when it is too big to keep."""
    size = len(json.dumps(body, ensure_ascii=False).encode())
    if size <= MAX_KEPT_RESPONSE_BYTES:
        return body
    return {"omitted": f"the answer was {size} bytes of JSON; only answers up to {MAX_KEPT_RESPONSE_BYTES} are kept"}


def upload(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Both upload revisions -> ``job_id`` (for the status endpoint) and ``audio_upload_id`` (for compose).

    2025-02-17 answers ``{"job_id"}``: that id serves both purposes. 2025-02-25 answers the
    composite ``id`` (status endpoint) beside ``audio_upload_id`` (compose).
    """
    body = _object(body, "the upload")
    what = "the upload"
    if "id" in body and "audio_upload_id" in body:
        job_id, audio_upload_id = _id(body["id"]), _id(body["audio_upload_id"])
        if job_id is None:
            raise _bad_id(what, "id", body["id"])
        if audio_upload_id is None:
            raise _bad_id(what, "audio_upload_id", body["audio_upload_id"])
    elif "job_id" in body and body["job_id"] not in ("", None):
        job_id = audio_upload_id = _id(body["job_id"])
        if job_id is None:
            raise _bad_id(what, "job_id", body["job_id"])
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
    body = _object(body, "the upload status request")
    audio_upload_id = body.get("audio_upload_id")
    if audio_upload_id in (None, ""):
        audio_upload_id = job_id.split(":", 1)[0]
    elif _id(audio_upload_id) is None:
        raise _bad_id(f"the status of upload {job_id}", "audio_upload_id", audio_upload_id)
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
    body = _object(body, "the compose request")
    what = "the compose request"
    if isinstance(body.get("jobs"), list):
        given = [job.get("id") if isinstance(job, dict) else None for job in body["jobs"]]
    else:
        given = [body.get("job_id")]
    job_ids = [value for value in given if value not in ("", None)]
    for value in job_ids:
        if _id(value) is None:
            raise _bad_id(what, "a job id", value)
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
        if _id(song.get("id")) is None:
            raise _bad_id(f"the songs of job {job_id}", "a song's id", song.get("id"))
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
    body = _object(body, "the lyrics request")
    if not isinstance(body.get("lyrics"), str) or not body["lyrics"].strip():
        raise RiffusionResponseError(
            f"The Riffusion API answered the lyrics request without lyrics (fields: {sorted(body)[:20]})."
        )
    return {"lyrics": body["lyrics"], "response": kept_response(body)}


MISSING = object()
"""A key that is not there at all, told apart from one that holds null."""
_SHOWN_ACCOUNT = re.compile(r"[\w.@:+-]{1,64}")
"""A user_id named in a message as it came; any other (long, or with spaces or newlines) is named by position."""


def json_kind(value: Any) -> str:
    """What a JSON value is, for a message: never the value itself, so nothing is cut mid-repr.

    ``MISSING`` (a key not there) is "missing".
    """
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, str) and not value.strip():
        return "an empty string"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, float):
        return "a floating-point number"
    kinds = {int: "a number", str: "a string", list: "an array", dict: "an object"}
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), type(value).__name__)


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
    body = _object(body, "the free job slots request")
    accounts = body.get("available", MISSING)
    if not isinstance(accounts, list):
        raise _bad_slots(f"its 'available' is {json_kind(accounts)}, not a list of accounts")
    free: dict[str, int] = {}
    for index, account in enumerate(accounts):
        entry = f"entry {index} of 'available'"
        if not isinstance(account, dict):
            raise _bad_slots(f"{entry} is {json_kind(account)}, not an account object")
        user_id = _id(account.get("user_id"))
        if user_id is None:
            raise _bad_id("the free job slots request", f"the user_id of {entry}", account.get("user_id"))
        if _SHOWN_ACCOUNT.fullmatch(user_id):
            entry = f"{entry} (account {user_id})"
        slots = account.get("available", MISSING)
        if isinstance(slots, bool) or not isinstance(slots, int):
            raise _bad_slots(f"the free slot count of {entry} is {json_kind(slots)}, not a whole number")
        free[user_id] = max(0, slots)
    return {"free": free, "response": kept_response(body)}


def accounts(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """GET accounts: an object keyed by user_id."""
    return _object(body, "the accounts list")


def raw(body: Any, params: Mapping[str, Any]) -> Any:
    """A file's answer is not JSON: it is streamed to its destination, never normalized."""
    return body


def song_summary(song: dict[str, Any]) -> dict[str, Any]:
    """The keys DAG authors chain on first, then everything else the API sent."""
    summary = {key: song.get(key) for key in ("id", "title", "status", "download_url")}
    summary.update({key: value for key, value in song.items() if key not in summary})
    return summary
