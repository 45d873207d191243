"""Every endpoint the provider calls, described once: the sync hook and the triggers' client both read it.

An :class:`Endpoint` says how to call it (method, path, the ids it needs), which retry rule it
follows (``retry.py``), how its answer is normalized (``normalize.py``), and, for calls that
create something upstream, what a 2xx it cannot read (or an answer lost after the request left)
may mean. :meth:`Endpoint.call` turns it and the call's arguments into an :class:`ApiCall`,
which is all a transport needs. Adding an endpoint is an entry here (see CONTRIBUTING.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_riffusion import retry
from airflow_provider_riffusion.client import normalize
from airflow_provider_riffusion.exceptions import (
    RiffusionError,
    RiffusionInputError,
    RiffusionUnconfirmedError,
)

if TYPE_CHECKING:
    from airflow_provider_riffusion.settings import RiffusionSettings

_RENDERED_NOTHING = ("", "None", "null")
"""What ``{{ ti.xcom_pull(...) }}`` renders to when the upstream value is missing."""


def require_id(name: str, value: Any) -> str:
    """An id that a template may have rendered to nothing must be caught before it becomes ``?id=``."""
    text = "" if value is None else str(value).strip()
    if text in _RENDERED_NOTHING:
        raise RiffusionInputError(
            f"{name} is empty ({value!r}): the template probably rendered to nothing. Pass the "
            f"upstream task's output, e.g. upload.output['{name}']."
        )
    return text


@dataclass(frozen=True)
class Endpoint:
    """One API endpoint: how to call it, how to retry it, what its answer means."""

    method: str
    path: str
    subject: str
    """What the call is, for messages; formatted with the call's parameters ("the songs of job {id}")."""
    normalize: Callable[[Any, Mapping[str, Any]], Any]
    """The answer's decoded JSON and the call's parameters -> the provider's shape."""
    should_retry: Callable[[BaseException], bool] = retry.retry_read
    ids: Mapping[str, str] = field(default_factory=dict)
    """Query parameters that must hold an id, with the name a DAG author knows it by."""
    creates: str | None = None
    """For calls that create something upstream: what an unreadable 2xx or a lost answer may mean."""
    account_in_query: bool = True
    """Whether the account (``user_id``) goes in the query; a JSON call carries it in its body."""
    answer_is_json: bool = True
    """False for a file (a download): the transport streams it to its destination instead of reading it."""

    def describe(self, **params: Any) -> str:
        return self.subject.format_map(params)

    def call(
        self,
        settings: RiffusionSettings,
        user_id: str | None = None,
        *,
        json: Any = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> ApiCall:
        """The request for these arguments; ids are checked here, so no path ever sends ``?id=``."""
        for param, name in self.ids.items():
            params[param] = require_id(name, params.get(param))
        query = settings.params(user_id, **params) if self.account_in_query else params
        return ApiCall(
            endpoint=self,
            settings=settings,
            url=settings.url(self.path),
            params=query,
            what=self.describe(**params),
            json=json,
            body=body,
            headers=dict(headers or {}),
        )


@dataclass
class ApiCall:
    """One request, ready for a transport: everything but the I/O."""

    endpoint: Endpoint
    settings: RiffusionSettings
    url: str
    params: dict[str, Any]
    what: str
    json: Any = None
    body: Any = None
    """A streamed request body (the upload's reader): its ``complete`` says whether it all left."""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.endpoint.method

    def request_left(self) -> bool:
        """Whether the whole request left the client (a body without ``complete`` goes out in one piece)."""
        return bool(getattr(self.body, "complete", True))

    def unconfirmed(self, error: RiffusionError) -> RiffusionError:
        """For a create call, ``error`` (the answer is unreadable or lost) becomes the fatal "it may have acted"."""
        if self.endpoint.creates is None:
            return error
        return RiffusionUnconfirmedError(
            f"{error} {self.endpoint.creates}: check the account before running the task again.",
            http_status=error.http_status,
        )


UPLOAD = Endpoint(
    "POST",
    "music/upload-audio/",
    "the upload of {file_name!r}",
    normalize.upload,
    retry.retry_upload,
    creates="The track may have been stored",
)
UPLOAD_STATUS = Endpoint(
    "GET", "music/upload-audio/", "the status of upload {id}", normalize.upload_status, ids={"id": "job_id"}
)
COMPOSE = Endpoint(
    "POST",
    "music/create-compose",
    "the compose request",
    normalize.compose,
    retry.retry_create,
    creates="Songs may have been started",
    account_in_query=False,
)
SONGS = Endpoint("GET", "music/", "the songs of job {id}", normalize.songs, ids={"id": "job_id"})
ACCOUNTS = Endpoint(
    "GET", "accounts", "the accounts list", normalize.accounts, retry.retry_never, account_in_query=False
)
DOWNLOAD = Endpoint(
    "GET", "music/download", "the download of song {id}", normalize.raw, ids={"id": "song_id"}, answer_is_json=False
)
GENERATE_LYRICS = Endpoint(
    "POST", "music/generate-lyrics", "the lyrics request", normalize.lyrics, retry.retry_create, account_in_query=False
)
CREATE_PROMPT = Endpoint(
    "POST",
    "music/create-prompt",
    "the prompt request",
    normalize.prompt,
    retry.retry_create,
    creates="Songs may have been started",
    account_in_query=False,
)
SCHEDULER_AVAILABLE = Endpoint(
    "GET", "scheduler/available", "the free job slots", normalize.capacity, account_in_query=False
)
