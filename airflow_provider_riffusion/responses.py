"""What the API's answers mean, independent of the HTTP client that fetched them.

The sync hook (requests) and the triggers (aiohttp) both pass status, headers and body text
here, so both revisions of the API are normalized, and errors are classified, in one place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_riffusion.exceptions import (
    RiffusionAccountError,
    RiffusionAuthError,
    RiffusionBadRequestError,
    RiffusionCreditsError,
    RiffusionError,
    RiffusionModerationError,
    RiffusionNotFoundError,
    RiffusionRateLimitError,
    RiffusionResponseError,
    RiffusionServerError,
    RiffusionSubscriptionError,
)

ACCOUNT_ERROR_STATUS = 596
"""useapi.net's non-standard status: the account's cookie could not be refreshed."""

PENDING_STATUSES = frozenset({"", "pending", "processing", "queued"})
COMPLETE_STATUSES = frozenset({"complete", "completed"})
FAILED_STATUSES = frozenset({"failed", "error", "cancelled", "canceled"})
SONG_DONE_STATUSES = frozenset({"completed", "complete"})

_MAX_BODY_IN_MESSAGE = 200


def decode_json(status: int, headers: Mapping[str, str], text: str, what: str) -> Any:
    """Parse a 2xx body as JSON, or explain in one line that the server sent something else."""
    try:
        return json.loads(text)
    except ValueError:
        content_type = headers.get("content-type", "unknown content type")
        raise RiffusionResponseError(
            f"The Riffusion API answered {what} with HTTP {status} but the body is not JSON "
            f"({content_type}): {_excerpt(text)!r}. Check that the connection's host points at the "
            "Riffusion API and not at a proxy or login page.",
            http_status=status,
        ) from None


def error_from_response(status: int, text: str, what: str, attempts: int = 1) -> RiffusionError:
    """Map a non-2xx answer to the exception class and message a DAG author can act on."""
    api_error = _api_error_text(text)
    detail = f": {_without_final_period(api_error)}" if api_error else ""
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    if status == 400:
        return RiffusionBadRequestError(
            f"The Riffusion API rejected {what} (HTTP 400){detail}. Fix the parameter it names.",
            http_status=status,
            api_error=api_error,
        )
    if status == 401:
        return RiffusionAuthError(
            f"The Riffusion API refused the token for {what} (HTTP 401). Put a valid useapi.net "
            "API token in the connection's password field ('API token').",
            http_status=status,
            api_error=api_error,
        )
    if status == 402:
        return RiffusionSubscriptionError(
            f"The useapi.net subscription has expired (HTTP 402){detail}. Renew it at useapi.net.",
            http_status=status,
            api_error=api_error,
        )
    if status == 404:
        return RiffusionNotFoundError(
            f"The Riffusion API does not know {what} (HTTP 404){detail}. Check the id and the user_id.",
            http_status=status,
            api_error=api_error,
        )
    if status == 412:
        return RiffusionCreditsError(
            f"The Riffusion account is out of credits (HTTP 412){detail}. Add credits, or pass another user_id.",
            http_status=status,
            api_error=api_error,
        )
    if status == 422:
        return RiffusionModerationError(
            f"The Riffusion API moderated {what} (HTTP 422){detail}. Change the prompt or lyrics.",
            http_status=status,
            api_error=api_error,
        )
    if status == ACCOUNT_ERROR_STATUS:
        return RiffusionAccountError(
            f"The Riffusion account has a pending error (HTTP 596){detail}. Re-register the account "
            "with POST accounts (a fresh cookie) and run the task again.",
            http_status=status,
            api_error=api_error,
        )
    if status == 429:
        return RiffusionRateLimitError(
            f"Every Riffusion job slot is busy or the API throttles (HTTP 429){tried}{detail}. "
            "Retry later, or raise the account's maxJobs.",
            http_status=status,
            api_error=api_error,
        )
    if status >= 500:
        return RiffusionServerError(
            f"The Riffusion API failed on {what} (HTTP {status}){tried}{detail}. This is usually "
            "transient; the task can be retried.",
            http_status=status,
            api_error=api_error,
        )
    return RiffusionError(
        f"The Riffusion API answered {what} with unexpected HTTP {status}{detail}.",
        http_status=status,
        api_error=api_error,
    )


def _api_error_text(text: str) -> str | None:
    """The API's ``error`` (or moderation ``reason``) text, or a short excerpt of a non-JSON body."""
    try:
        body = json.loads(text)
    except ValueError:
        return _excerpt(text) or None
    if isinstance(body, dict):
        for key in ("error", "reason", "message"):
            if body.get(key):
                return _excerpt(str(body[key])) or None
    return _excerpt(text) or None


def _without_final_period(sentence: str) -> str:
    """The API's sentence inside ours: its final period would double ours ("accounts.. Re-register")."""
    return sentence[:-1] if sentence.endswith(".") and not sentence.endswith("...") else sentence


def _excerpt(text: str) -> str:
    """One line of a body for a message: tags stripped (proxies send HTML), whitespace folded."""
    plain = re.sub(r"<[^>]+>", " ", text)
    plain = " ".join(plain.split())
    return plain[:_MAX_BODY_IN_MESSAGE] + ("..." if len(plain) > _MAX_BODY_IN_MESSAGE else "")


def _require_dict(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RiffusionResponseError(
            f"The Riffusion API answered {what} with {type(body).__name__} JSON, expected an object. "
            "Check that the connection's host points at the Riffusion API."
        )
    return body


def normalize_upload(body: Any) -> dict[str, Any]:
    """Both upload revisions -> ``job_id`` (for the status endpoint) and ``audio_upload_id`` (for compose).

    2025-02-17 answers ``{"job_id"}``: that id serves both purposes. 2025-02-25 answers the
    composite ``id`` (status endpoint) beside ``audio_upload_id`` (compose).
    """
    body = _require_dict(body, "the upload")
    if body.get("id") and body.get("audio_upload_id"):
        job_id, audio_upload_id = str(body["id"]), str(body["audio_upload_id"])
    elif body.get("job_id"):
        job_id = audio_upload_id = str(body["job_id"])
    else:
        raise RiffusionResponseError(
            "The Riffusion API accepted the upload (HTTP 200) but returned no job id "
            f"(fields: {sorted(body)}). The upload cannot be tracked; check the API revision."
        )
    return {"job_id": job_id, "audio_upload_id": audio_upload_id, "is_flagged": bool(body.get("is_flagged"))}


def normalize_upload_status(job_id: str, body: Any) -> dict[str, Any]:
    """Both status revisions -> the sensor's output shape (``response`` keeps the raw body).

    A missing or empty status counts as pending, as the design's status rule says.
    """
    body = _require_dict(body, "the upload status request")
    audio_upload_id = body.get("audio_upload_id") or job_id.split(":", 1)[0]
    lyrics = body.get("lyrics")
    if lyrics is None:
        lyrics = body.get("transcribed_lyrics")
    return {
        "job_id": job_id,
        "audio_upload_id": str(audio_upload_id),
        "status": str(body.get("status") or "").strip().lower(),
        "lyrics": lyrics or "",
        "is_flagged": bool(body.get("is_flagged")),
        "response": body,
    }


def classify_upload_status(status: str) -> str:
    """``pending``, ``complete``, ``failed``, or ``unknown`` (ready, per the later docs, with a warning)."""
    word = status.strip().lower()
    if word in PENDING_STATUSES:
        return "pending"
    if word in COMPLETE_STATUSES:
        return "complete"
    if word in FAILED_STATUSES:
        return "failed"
    return "unknown"


def normalize_compose(body: Any) -> dict[str, Any]:
    """Both compose answers (``{"jobs": [{"id"}...]}`` and ``{"job_id"}``) -> ``job_ids``."""
    body = _require_dict(body, "the compose request")
    job_ids: list[str] = []
    if isinstance(body.get("jobs"), list):
        job_ids = [str(job["id"]) for job in body["jobs"] if isinstance(job, dict) and job.get("id")]
    elif body.get("job_id"):
        job_ids = [str(body["job_id"])]
    if not job_ids:
        raise RiffusionResponseError(
            "The Riffusion API accepted the compose request but returned no job id "
            f"(fields: {sorted(body)}). The songs cannot be tracked: check the API revision, and the "
            "account's songs before composing again."
        )
    return {"job_ids": job_ids, "response": body}


def normalize_songs(job_id: str, body: Any) -> list[dict[str, Any]]:
    """GET music always answers a JSON array; anything else is a response error."""
    if not isinstance(body, list):
        raise RiffusionResponseError(
            f"The Riffusion API answered the songs of job {job_id} with {type(body).__name__}, expected a list. "
            "Check that the connection's host points at the Riffusion API."
        )
    return [song for song in body if isinstance(song, dict)]


def classify_songs(songs: list[dict[str, Any]]) -> str:
    """``pending`` until a job has songs and all are completed; ``failed`` as soon as one failed."""
    if not songs:
        return "pending"
    words = {str(song.get("status") or "").strip().lower() for song in songs}
    if words & FAILED_STATUSES:
        return "failed"
    if words <= SONG_DONE_STATUSES:
        return "complete"
    return "pending"


def song_summary(song: dict[str, Any]) -> dict[str, Any]:
    """The keys DAG authors chain on first, then everything else the API sent."""
    summary = {key: song.get(key) for key in ("id", "title", "status", "download_url")}
    summary.update({key: value for key, value in song.items() if key not in summary})
    return summary
