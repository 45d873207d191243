"""Flow Music API v1 (useapi.net; Google's Lyria 3 Pro, "formerly Producer AI, originally Riffusion").

The provider's live service, chosen per connection (extra ``service: flowmusic``); the same token as
Riffusion's. Everything the provider knows of it is here: the endpoints, the request bodies under the
API's own names, the answers normalized into the provider's common shapes (``services/__init__.py``),
and its status words. The facts and their sources are in FLOWMUSIC.md. What the docs leave unknown is
read tolerantly, never guessed into a number: the shape of ``GET jobs`` (a list of running jobs, or
jobs grouped by account) and whether a 429 carries ``Retry-After`` (the retry rule honours it when it
does, and backs off when it does not).

How it differs from Riffusion, as the rest of the provider sees it:

- an upload is ready when it answers (``UPLOADS_PROCESS`` False): no status to poll;
- a compose is one job (``POST music``, ``mode: async``) whose record lists its clips once completed;
  the clips are the songs, and a failed job fails with its own ``error.message``;
- mp3 comes through the API with the token; wav only from each clip's public ``wav_url``, without it;
- free job slots are each account's ``maxJobs`` (``GET accounts``) less its running jobs (``GET jobs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_riffusion import retry
from airflow_provider_riffusion.exceptions import RiffusionInputError, RiffusionResponseError
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

NAME = "flowmusic"
TITLE = "the Flow Music API"
SHORT_TITLE = "Flow Music"
DEFAULT_BASE_URL = "https://api.useapi.net/v1/flowmusic"
ACCOUNT_PARAM = "email"
UPLOADS_PROCESS = False
"""``POST files`` answers once the asset is stored: it is ready for ``refAudio1`` at once."""
SLOTS_NEED_ACCOUNTS = True
"""``GET jobs`` lists running jobs only; each account's ``maxJobs`` comes from ``GET accounts``."""
MAX_UPLOAD_BYTES: int | None = 40 * 1024 * 1024
"""The documented cap of ``POST files`` (413 above): refused before a byte is sent."""
DOWNLOAD_FORMATS: Mapping[str, str | None] = {"mp3": None, "wav": "wav_url"}
"""mp3 through ``music/download`` (with the token); wav from the clip's public ``wav_url`` (without it)."""

MESSAGES: Mapping[int, str] = {
    402: "The Flow Music account has too few credits for {what} (HTTP 402){detail}. Add credits, or pass another "
    "account (user_id: its email).",
    403: "The Flow Music API says {what} belongs to another useapi.net account (HTTP 403){detail}. Check the "
    "connection's token.",
    404: "The Flow Music API does not know {what} (HTTP 404){detail}. Check the id and the account (user_id: its "
    "email); jobs are kept 7 days.",
    409: "The Flow Music API cannot serve {what} yet (HTTP 409){detail}: its job has not completed. Wait for the "
    "songs first.",
    410: "The Flow Music API no longer keeps {what} (HTTP 410){detail}: jobs are kept 7 days.",
    413: "The Flow Music API refused {what} as too large (HTTP 413){detail}. It takes files up to 40 MiB.",
    422: "The Flow Music API could not make {what} (HTTP 422){detail}. Change the prompt or lyrics.",
    429: "Every Flow Music account is busy or the API throttles (HTTP 429){tried}{detail}. Retry later, or "
    "raise an account's maxJobs (POST accounts).",
    596: "The Flow Music account is in an error state (HTTP 596){detail}. Re-add it with POST accounts "
    "(a fresh refresh_token) and run the task again.",
}
"""Answers whose advice differs from Riffusion's; the others read the same on both services."""

# -- status words --

JOB_PENDING = "pending"
JOB_COMPLETED = "completed"
JOB_FAILED = "failed"
SONG_WORDS: Mapping[str, Progress] = {
    JOB_PENDING: Progress.PENDING,
    JOB_COMPLETED: Progress.READY,
    JOB_FAILED: Progress.FAILED,
}
"""A job's documented words, which its clips (the songs) take on; any other word is still pending."""


def upload_progress(word: Any) -> Progress:
    """Never asked (an upload is ready when it answers); ready, should a caller ask."""
    return Progress.READY


def song_progress(word: Any) -> Progress:
    return SONG_WORDS.get(status_word(word), Progress.PENDING)


# -- request bodies --

MAX_PROMPT_CHARS = 10_000
MAX_LYRICS_PROMPT_CHARS = 2_000
GHOSTWRITERS = ("standard", "pro")
REFERENCE_FIELDS = (*(f"refAudio{n}" for n in range(2, 11)), *(f"refImage{n}" for n in range(1, 11)))
"""More references, taken under the API's names through ``service_fields`` (refAudio1 is the upload)."""
SERVICE_FIELDS = ("instrumental", "ghostwriter", "model", *REFERENCE_FIELDS)
"""What ``service_fields`` may hold: Flow Music's own fields that have no argument of their own."""
PROVIDER_FIELDS = {"mode": "the provider always sends mode 'async' and waits itself", "email": "pass user_id"}
RIFFUSION_MODELS = ("FUZZ-",)
"""Riffusion's model family: on Flow Music, ``model`` is ``lyria-3-pro`` (default) or ``lyria-3.5``."""

COMPOSE_FIELDS = {
    "prompt_1": "prompt",
    "lyrics": "lyrics",
    "audio_upload_id": "refAudio1",
    "model": "model",
    "instrumental": "instrumental",
    "ghostwriter": "ghostwriter",
    "reply_url": "replyUrl",
    "reply_ref": "replyRef",
    "service_fields": "",
}
"""The compose arguments Flow Music has, with the API's name of each (``service_fields`` is merged in)."""
PROMPT_FIELDS = {"prompt": "prompt", "instrumental": "instrumental", "reply_url": "replyUrl", "reply_ref": "replyRef"}
LYRICS_FIELDS = {"prompt": "prompt", "structure": "structure"}


def body(operation: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``compose``, ``prompt`` or ``lyrics``: a parameter Flow Music lacks (a Riffusion one) is
    refused here, naming it, before anything is sent; the account is added by the hook."""
    names = {"compose": COMPOSE_FIELDS, "prompt": PROMPT_FIELDS, "lyrics": LYRICS_FIELDS}.get(operation)
    if names is None:
        raise ValueError(f"{operation!r} has no request body")
    given = without_unset(fields, names, SHORT_TITLE)
    if operation == "lyrics":
        request = {"prompt": _text("prompt", given.get("prompt"), MAX_LYRICS_PROMPT_CHARS, required=True)}
        if "structure" in given:
            request["structure"] = _text("structure", given["structure"], MAX_LYRICS_PROMPT_CHARS)
        return request
    extra = given.pop("service_fields", None) or {}
    if not isinstance(extra, Mapping):
        raise RiffusionInputError(f"service_fields must be a dict of Flow Music fields, got {type(extra).__name__}.")
    for name in extra:
        if name in PROVIDER_FIELDS:
            raise RiffusionInputError(f"service_fields[{name!r}] is set by the provider: {PROVIDER_FIELDS[name]}.")
        if name not in SERVICE_FIELDS:
            raise RiffusionInputError(
                f"service_fields[{name!r}] is not a Flow Music field: use {', '.join(SERVICE_FIELDS[:3])}, "
                "refAudio2..refAudio10 or refImage1..refImage10."
            )
    values = {names[key]: value for key, value in given.items()}
    for name, value in extra.items():
        if name in values and value is not None:
            raise RiffusionInputError(f"{name} is given twice (as an argument and in service_fields): keep one.")
        if value is not None:
            values[name] = value
    prompt = values.pop("prompt", None)
    shown = "prompt_1" if operation == "compose" else "prompt"
    payload: dict[str, Any] = {"prompt": _text(shown, prompt, MAX_PROMPT_CHARS, required=True)}
    for name, value in values.items():
        if name == "instrumental":
            if not isinstance(value, bool):
                raise RiffusionInputError(f"instrumental must be True or False, got {value!r}.")
        elif name == "ghostwriter" and value not in GHOSTWRITERS:
            raise RiffusionInputError(f"ghostwriter must be one of {list(GHOSTWRITERS)}, got {value!r}.")
        elif name == "lyrics":
            value = _text("lyrics", value, MAX_PROMPT_CHARS)
        elif name == "model" and (not isinstance(value, str) or value.startswith(RIFFUSION_MODELS)):
            raise RiffusionInputError(
                f"model {value!r} is not a Flow Music model: use 'lyria-3-pro' (the default) or 'lyria-3.5'."
            )
        elif not isinstance(value, str):
            raise RiffusionInputError(f"{name} must be a string, got {type(value).__name__}.")
        elif name.startswith("refAudio") and value.strip() in RENDERED_NOTHING:
            shown = "audio_upload_id" if name == "refAudio1" else name
            raise RiffusionInputError(
                f"{shown} is empty ({value!r}: a template rendered to nothing?): pass the upload's "
                "output['audio_upload_id'], or leave it None for a prompt-only song."
            )
        payload[name] = value
    payload["mode"] = "async"
    return payload


def _text(name: str, value: Any, limit: int, required: bool = False) -> str:
    if required and (not isinstance(value, str) or not value.strip()):
        raise RiffusionInputError(f"{name} is required: describe the genre, sounds or vibe of the song.")
    if not isinstance(value, str):
        raise RiffusionInputError(f"{name} must be a string, got {type(value).__name__}.")
    if len(value) > limit:
        raise RiffusionInputError(f"{name} is {len(value)} characters; Flow Music takes at most {limit:,}.")
    return value


# -- answers --


def upload(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``POST files`` -> the upload's shape: its asset ``id`` serves as ``job_id`` and ``audio_upload_id``."""
    body = answer_object(body, TITLE, "the upload")
    asset = answer_id(body.get("id"))
    if asset is None:
        if body.get("id") in (None, ""):
            raise RiffusionResponseError(
                "The Flow Music API accepted the upload (HTTP 200) but returned no asset id "
                f"(fields: {sorted(body)[:20]}). The upload cannot be used."
            )
        raise bad_id(TITLE, "the upload", "id", body["id"])
    result: dict[str, Any] = {"job_id": asset, "audio_upload_id": asset, "is_flagged": body.get("is_flagged") is True}
    if answer_id(body.get("clip_id")) is not None:
        result["clip_id"] = body["clip_id"]
    duration = body.get("duration_s")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        result["duration_s"] = duration
    return result


def job(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``POST music`` (``mode: async``) -> ``job_ids``: the one job its record names."""
    body = answer_object(body, TITLE, "the compose request")
    jobid = answer_id(body.get("jobid"))
    if jobid is None:
        if body.get("jobid") in (None, ""):
            raise RiffusionResponseError(
                "The Flow Music API accepted the compose request but returned no jobid "
                f"(fields: {sorted(body)[:20]}). The songs cannot be tracked: check the account's jobs "
                "(GET jobs) before composing again."
            )
        raise bad_id(TITLE, "the compose request", "jobid", body["jobid"])
    return {"job_ids": [jobid], "response": kept_response(body)}


def songs(body: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``GET jobs/{jobid}`` -> the job's songs: none while pending, its clips once completed (each with the
    provider's ``id``/``title``/``status``/``download_url`` first), or the job itself, failed, with its
    ``error``."""
    jobid = params["id"]
    what = f"job {jobid}"
    body = answer_object(body, TITLE, what)
    word = status_word(body.get("status"))
    progress = song_progress(word)
    if progress is Progress.FAILED:
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        reason = str(message)[:300] if message else "no reason given"
        return [{"id": jobid, "title": None, "status": JOB_FAILED, "download_url": None, "error": reason}]
    if progress is Progress.PENDING:
        return []
    clips = body.get("clips", MISSING)
    if not isinstance(clips, list) or not clips:
        raise RiffusionResponseError(
            f"The Flow Music API says {what} completed, but its clips are {json_kind(clips)}, not a list of "
            "clips: there is nothing to download."
        )
    found = []
    for clip in clips:
        if not isinstance(clip, dict) or answer_id(clip.get("clip")) is None:
            raise bad_id(TITLE, what, "a clip's id", clip.get("clip") if isinstance(clip, dict) else clip)
        # The provider's keys first and last: a clip's own "id" or "status" never replaces them.
        provider = {"id": clip["clip"], "title": clip.get("title"), "status": JOB_COMPLETED}
        provider.update(download_url=clip.get("audio_url"), job_id=jobid)
        others = {key: value for key, value in clip.items() if key != "clip" and key not in provider}
        found.append({**provider, **others})
    return found


def lyrics(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``POST music/lyrics`` -> ``lyrics`` (and ``title``, ``sound_prompt`` as the API names them)."""
    body = answer_object(body, TITLE, "the lyrics request")
    if not isinstance(body.get("lyrics"), str) or not body["lyrics"].strip():
        raise RiffusionResponseError(
            f"The Flow Music API answered the lyrics request without lyrics (fields: {sorted(body)[:20]})."
        )
    extra = {key: body[key] for key in ("title", "sound_prompt") if isinstance(body.get(key), str)}
    return {"lyrics": body["lyrics"], **extra, "response": kept_response(body)}


def _bad_slots(problem: str) -> RiffusionResponseError:
    return RiffusionResponseError(
        f"The Flow Music API answered the running jobs request (GET jobs), but {problem}. Check that the "
        "connection's host points at the Flow Music API."
    )


def running(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET jobs`` -> running jobs (and, where the answer says it, ``maxJobs``) per account email:
    ``{"running": {email: count}, "capacity": {email: maxJobs}}``.

    The docs show an object keyed by email, ``{email: {"running", "maxJobs", "jobs"}}`` (``{}`` when nothing
    runs; an idle account is left out). Two shapes useapi.net's sibling APIs answer are read too, in case the
    page and the service part: a list of job records (each with its ``email``), and jobs grouped under
    ``"accounts"``. Anything else is refused, never read as some number of free slots.
    """
    counts: dict[str, int] = {}
    capacity: dict[str, int] = {}
    if isinstance(body, dict) and isinstance(body.get("jobs"), list) and "accounts" not in body:
        body = body["jobs"]
    if isinstance(body, list):
        for index, entry in enumerate(body):
            email = answer_id(entry.get("email")) if isinstance(entry, dict) else None
            if email is None:
                raise _bad_slots(f"job {index} names no account email")
            counts[email] = counts.get(email, 0) + 1
        return {"running": counts, "capacity": capacity, "response": kept_response(body)}
    if not isinstance(body, dict):
        raise _bad_slots(f"it is {json_kind(body)}, not an object of accounts")
    grouped = body["accounts"] if isinstance(body.get("accounts"), dict) else body
    for email, entry in grouped.items():
        if not isinstance(entry, dict):
            raise _bad_slots(f"the entry of an account is {json_kind(entry)}, not an object")
        count = next((entry[key] for key in ("running", "total") if key in entry), MISSING)
        if count is MISSING and isinstance(entry.get("jobs"), list):
            count = len(entry["jobs"])
        if isinstance(count, bool) or not isinstance(count, int):
            raise _bad_slots(f"the running jobs of an account are {json_kind(count)}, not a whole number")
        if count < 0:
            raise _bad_slots(f"the running jobs of an account are negative ({count})")
        counts[email] = count
        limit = entry.get("maxJobs")
        if isinstance(limit, int) and not isinstance(limit, bool):
            capacity[email] = limit
    return {"running": counts, "capacity": capacity, "response": kept_response(body)}


def free_slots(answer: Mapping[str, Any], accounts: Mapping[str, Any] | None) -> dict[str, int]:
    """Each account's ``maxJobs`` less its running jobs; an account in an error state has none free.

    ``maxJobs`` comes from ``GET jobs`` where it says it (an account running jobs), else from ``GET accounts``
    (an idle account, which ``GET jobs`` leaves out).
    """
    running_jobs, said = answer["running"], answer.get("capacity", {})
    free: dict[str, int] = {}
    for email, account in (accounts or {}).items():
        if not isinstance(account, dict):
            raise _bad_slots(f"account {email!r} in GET accounts is {json_kind(account)}")
        capacity = said.get(email, account.get("maxJobs", MISSING))
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise _bad_slots(f"the maxJobs of account {email!r} (GET accounts) is {json_kind(capacity)}")
        free[email] = 0 if account.get("error") else max(0, capacity - running_jobs.get(email, 0))
    return free


def account(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET accounts/{account}``: one account's record (Flow Music adds its live credit balances)."""
    return answer_object(body, TITLE, f"the account {params['account']}")


def accounts(body: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET accounts``: an object keyed by account email (``{}`` when none)."""
    return answer_object(body, TITLE, "the accounts list")


ENDPOINTS: Mapping[str, Endpoint] = {
    "upload": Endpoint(
        "POST",
        "files",
        "the upload of {file_name!r}",
        upload,
        retry.retry_upload,
        creates="The track may have been stored",
        query={"file_name": None},
    ),
    "compose": Endpoint(
        "POST",
        "music",
        "the compose request",
        job,
        retry.retry_create,
        creates="Songs may have been started",
        account="body",
    ),
    "songs": Endpoint("GET", "jobs/{id}", "the songs of job {id}", songs, ids={"id": "job_id"}, account=None),
    "accounts": Endpoint("GET", "accounts", "the accounts list", accounts, retry.retry_never, account=None),
    "account": Endpoint(
        "GET", "accounts/{account}", "the account {account}", account, ids={"account": "user_id"}, account=None
    ),
    "download": Endpoint(
        "GET",
        "music/download",
        "the download of song {id}",
        no_answer,
        ids={"id": "song_id"},
        account=None,
        query={"download_format": "format"},
    ),
    "lyrics": Endpoint("POST", "music/lyrics", "the lyrics request", lyrics, retry.retry_create, account="body"),
    "prompt": Endpoint(
        "POST",
        "music",
        "the prompt request",
        job,
        retry.retry_create,
        creates="Songs may have been started",
        account="body",
    ),
    "slots": Endpoint("GET", "jobs", "the running jobs", running, account=None),
    "stop_job": Endpoint(
        "DELETE", "jobs/{job_id}", "stopping job {job_id}", no_answer, ids={"job_id": "job_id"}, account=None
    ),
}
"""Every endpoint the provider calls on Flow Music; it has no upload status (``upload_status``)."""
