"""The APIs the provider talks to, one module each, behind one small interface.

A service module (``riffusion.py``) holds everything specific to its API: the endpoints (paths,
retry rules, what a create call's lost answer may mean), the request bodies and their parameter
rules, the normalizers that turn its answers into the provider's common shapes, its status words
and its account key. The hooks, waits, operators and triggers only see those shapes:

- an upload: ``job_id`` (for its status), ``audio_upload_id`` (for compose), ``is_flagged``;
- an upload's status: ``job_id``, ``audio_upload_id``, ``status``, ``lyrics``, ``is_flagged``, ``response``;
- a job: ``job_ids`` and the raw ``response``; its songs: a list of song objects with an ``id`` string;
- slots: ``{"free": {account: count}}``.

This module is light (no HTTP library): operators read it when a DAG file is parsed.
"""

from __future__ import annotations

import enum
import importlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from urllib.parse import quote

from airflow_provider_riffusion import retry
from airflow_provider_riffusion.exceptions import RiffusionInputError, RiffusionResponseError

SERVICES = ("riffusion", "flowmusic")
"""The services a connection can name (extra ``service``); the first is the default."""

MAX_KEPT_RESPONSE_BYTES = 64 * 1024
"""A raw answer kept in an output (``response``) as it came, up to this size of JSON: outputs go to
XCom and trigger events to the metadata database, so a larger one is replaced by a note."""

RENDERED_NOTHING = ("", "None", "null")
"""What ``{{ ti.xcom_pull(...) }}`` renders to when the upstream value is missing."""


class Progress(enum.StrEnum):
    """Where a job stands, whatever words the API used to say it."""

    PENDING = "pending"
    """Still processing: keep waiting."""
    READY = "ready"
    """Done, in a word the docs name."""
    FAILED = "failed"
    """Ended without a result: fail at once, no retry can help."""
    UNKNOWN_READY = "unknown_ready"
    """A word the docs do not name; the later docs count anything but ``pending`` as ready."""


@dataclass(frozen=True)
class Endpoint:
    """One API endpoint: how to call it, how to retry it, what its answer means.

    ``path`` may hold ``{name}`` segments, filled from the call's parameters of that name, each
    percent-encoded as one path segment; the other parameters go in the query.
    """

    method: str
    path: str
    subject: str
    """What the call is, for messages; formatted with the call's parameters ("the songs of job {id}")."""
    normalize: Callable[[Any, Mapping[str, Any]], Any]
    """The answer's decoded JSON and the call's parameters -> the provider's shape."""
    should_retry: Callable[[BaseException], bool] = retry.retry_read
    ids: Mapping[str, str] = field(default_factory=dict)
    """Parameters that must hold an id, with the name a DAG author knows it by."""
    creates: str | None = None
    """For calls that create something upstream: what an unreadable 2xx or a lost answer may mean."""
    account: str | None = "query"
    """Where the account goes: ``"query"``, ``"body"`` (a JSON call), or None (the call takes no account)."""
    query: Mapping[str, str | None] = field(default_factory=dict)
    """The API's name of a parameter where it differs from the hook's (``download_format`` -> ``format``), or None
    for one the API does not take (it only names the call in messages)."""

    def describe(self, **params: Any) -> str:
        return self.subject.format_map(params)

    def route(self, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The path with its ``{name}`` segments filled, and the query: the other parameters, under the API's names."""
        names = [part[1:-1] for part in self.path.split("/") if part.startswith("{") and part.endswith("}")]
        path = self.path.format_map({name: quote(str(params[name]), safe="") for name in names})
        query = {
            self.query.get(name, name): value
            for name, value in params.items()
            if name not in names and self.query.get(name, name) is not None
        }
        return path, cast(dict[str, Any], query)


class Service(Protocol):
    """What a service module provides; the hooks and waits use nothing else of it."""

    NAME: str
    TITLE: str
    """How messages name the API ("the Riffusion API")."""
    DEFAULT_BASE_URL: str
    ACCOUNT_PARAM: str
    """The name the API gives the account in queries and bodies (``user_id``, ``email``)."""
    UPLOADS_PROCESS: bool
    """Whether an upload is processed after it answers (a status to wait on), or is ready when it answers."""
    SHORT_TITLE: str
    """The service's own name, for "a parameter Flow Music lacks" ("Riffusion", "Flow Music")."""
    SLOTS_NEED_ACCOUNTS: bool
    """Whether free slots are read with the accounts (``maxJobs``) beside ``slots`` (the running jobs)."""
    MAX_UPLOAD_BYTES: int | None
    """The API's upload cap, refused before sending; None where the API documents none."""
    DOWNLOAD_FORMATS: Mapping[str, str | None]
    """The formats a song downloads in: None through the API's ``download``, else the song's key that holds its
    public URL (fetched without the token)."""
    MESSAGES: Mapping[int, str]
    """Error answers whose advice is the service's own (by HTTP status), formatted as ``answers.py``'s."""
    ENDPOINTS: Mapping[str, Endpoint]
    """``upload``, ``upload_status``, ``compose``, ``songs``, ``download``, ``lyrics``, ``prompt``, ``slots``,
    ``accounts``, ``stop_job``: the operations the hooks offer, where the service has them."""

    def body(self, operation: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON body of a create call from the operator's fields, checked before anything is sent."""
        ...

    def upload_progress(self, word: Any) -> Progress: ...

    def free_slots(self, answer: Mapping[str, Any], accounts: Mapping[str, Any] | None) -> dict[str, int]:
        """Free job slots by account, from the ``slots`` answer (and ``accounts``, where the service needs them)."""
        ...

    def song_progress(self, word: Any) -> Progress: ...


def get_service(name: str | None) -> Service:
    """The service module of that name (``riffusion`` when None)."""
    chosen = name or SERVICES[0]
    if chosen not in SERVICES:
        raise RiffusionInputError(f"service {chosen!r} is not one of {list(SERVICES)}.")
    return cast(Service, importlib.import_module(f"{__name__}.{chosen}"))


def require_id(name: str, value: Any) -> str:
    """An id that a template may have rendered to nothing must be caught before it becomes ``?id=``."""
    text = "" if value is None else str(value).strip()
    if text in RENDERED_NOTHING:
        raise RiffusionInputError(
            f"{name} is empty ({value!r}): the template probably rendered to nothing. Pass the "
            f"upstream task's output, e.g. upload.output['{name}']."
        )
    return text


def without_unset(fields: Mapping[str, Any], own: Collection[str], service: str) -> dict[str, Any]:
    """The fields that are set, each one the service has: one it lacks fails here, before any request, naming it
    and the service, so a DAG moved to another service says what to change instead of losing a setting."""
    given = {name: value for name, value in fields.items() if value is not None}
    for name in given:
        if name not in own:
            raise RiffusionInputError(
                f"{name} is not a parameter of {service} (the connection's service): remove it, or use a "
                "connection of the service that has it (README, 'Parameters by service')."
            )
    return given


def status_word(value: Any) -> str:
    """A status as the API sent it, folded to compare: ``" Completed "`` -> ``"completed"``; None -> ``""``."""
    return str(value or "").strip().lower()


def songs_progress(service: Service, words: Iterable[Any]) -> Progress:
    """A job's songs: failed as soon as one failed; ready once there are songs and all are done."""
    each = [service.song_progress(word) for word in words]
    if Progress.FAILED in each:
        return Progress.FAILED
    if each and all(progress is Progress.READY for progress in each):
        return Progress.READY
    return Progress.PENDING


def worst(progresses: Iterable[Progress]) -> Progress:
    """Several jobs as one: failed if any failed, pending while any is, else ready."""
    each = list(progresses)
    if Progress.FAILED in each:
        return Progress.FAILED
    if Progress.PENDING in each or not each:
        return Progress.PENDING
    return Progress.READY


# -- what every normalizer shares --

MISSING = object()
"""A key that is not there at all, told apart from one that holds null."""


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


def answer_object(body: Any, title: str, what: str) -> dict[str, Any]:
    """A JSON object, or the error that the API (``title``) answered ``what`` with something else."""
    if not isinstance(body, dict):
        raise RiffusionResponseError(
            f"{sentence(title)} answered {what} with {type(body).__name__} JSON, expected an object. "
            f"Check that the connection's host points at {title}."
        )
    return body


def answer_id(value: Any) -> str | None:
    """An id as an API must send it: a non-empty string; anything else is None (never stringified)."""
    return value if isinstance(value, str) and value.strip() else None


def bad_id(title: str, what: str, name: str, value: Any) -> RiffusionResponseError:
    shown = "empty" if value in ("", None) else f"a JSON {type(value).__name__}"
    return RiffusionResponseError(
        f"{sentence(title)} answered {what} with {name} {shown}, not an id string. The answer cannot be used."
    )


def sentence(text: str) -> str:
    """``text`` as the start of a sentence ("the Riffusion API" -> "The Riffusion API")."""
    return text[:1].upper() + text[1:]


def kept_response(body: Any) -> Any:
    """The raw answer for the ``response`` output, or a note when it is too big to keep."""
    size = len(json.dumps(body, ensure_ascii=False).encode())
    if size <= MAX_KEPT_RESPONSE_BYTES:
        return body
    return {"omitted": f"the answer was {size} bytes of JSON; only answers up to {MAX_KEPT_RESPONSE_BYTES} are kept"}


def ready_upload(job_id: str, *, is_flagged: bool = False) -> dict[str, Any]:
    """The status of an upload that was ready when it answered (a service without an upload status to read):
    ``is_flagged`` as the upload's own answer said it, where the task knows it; ``response`` empty, as nothing
    was read. Never None: each key of an output is an XCom of its own, and Airflow 3.0 refuses a null one."""
    return {
        "job_id": job_id,
        "audio_upload_id": job_id,
        "status": "complete",
        "lyrics": "",
        "is_flagged": is_flagged,
        "response": {},
    }


def no_answer(body: Any, params: Mapping[str, Any]) -> None:
    """A call whose success says nothing more (a 204, or a file streamed to its destination): nothing to normalize."""
    return None


def song_summary(song: dict[str, Any]) -> dict[str, Any]:
    """The keys DAG authors chain on first, then everything else the API sent."""
    summary = {key: song.get(key) for key in ("id", "title", "status", "download_url")}
    summary.update({key: value for key, value in song.items() if key not in summary})
    return summary
