"""What an answer of the API, or its absence, means: a value, or the exception of the family a DAG author can act on.

Both hooks (requests on workers, aiohttp in the triggerer) hand over status, headers and the
body's bytes, or the library's exception when no answer came; everything from there on happens
here, once: the status mapping, the JSON decoding that survives hostile bodies (deep nesting,
unknown charsets, huge sizes), excerpts of error bodies with the token scrubbed before they are
cut, and the endpoint's normalizer. A create call whose whole request left before the answer was
lost (or came unreadable) may have been acted on: that is the fatal ``RiffusionUnconfirmedError``,
never an error a retry would turn into a duplicate.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from airflow_provider_riffusion.exceptions import (
    RiffusionAccountError,
    RiffusionAuthError,
    RiffusionBadRequestError,
    RiffusionConnectionConfigError,
    RiffusionCreditsError,
    RiffusionError,
    RiffusionModerationError,
    RiffusionNetworkError,
    RiffusionNotFoundError,
    RiffusionRateLimitError,
    RiffusionResponseError,
    RiffusionServerError,
    RiffusionSubscriptionError,
    RiffusionUnconfirmedError,
    RiffusionUnexpectedStatusError,
    certificate_refusal,
    root_reason,
)
from airflow_provider_riffusion.retry import parse_retry_after
from airflow_provider_riffusion.services import Service, get_service, sentence

if TYPE_CHECKING:
    from airflow_provider_riffusion.services import Endpoint
    from airflow_provider_riffusion.settings import RiffusionSettings

FailureKind = Literal["connect", "timeout", "lost"]
"""Why no answer came: the connection never opened, the answer was late, or the connection broke."""

ACCOUNT_ERROR_STATUS = 596
"""useapi.net's non-standard status: the account's cookie could not be refreshed."""

MAX_ANSWER_BYTES = 1024 * 1024
"""The API's answers are small JSON documents; a larger body is refused unread past this size."""
MAX_JSON_DEPTH = 32
"""The API nests two or three levels; deeper JSON is refused before anything walks it."""
MAX_BODY_IN_MESSAGE = 200


@dataclass
class ApiCall:
    """One request, ready for either door's I/O: everything but the I/O."""

    endpoint: Endpoint
    settings: RiffusionSettings
    url: str
    params: dict[str, Any]
    what: str
    json: Any = None
    body: Any = None
    """A streamed request body (the upload's reader): its ``complete`` says whether it all left."""
    headers: dict[str, str] = field(default_factory=dict)
    arguments: Mapping[str, Any] = field(default_factory=dict)
    """The call's parameters as the hook named them (path ids included), for the endpoint's normalizer."""
    public: bool = False
    """A public URL the API handed out (a clip's ``wav_url``): fetched without the token."""

    @property
    def method(self) -> str:
        return self.endpoint.method

    def request_left(self) -> bool:
        """Whether the whole request left the client (a body without ``complete`` goes out in one piece)."""
        return bool(getattr(self.body, "complete", True))


_FATAL_STATUSES: dict[int, tuple[type[RiffusionError], str]] = {
    400: (
        RiffusionBadRequestError,
        "{api} rejected {what} (HTTP 400){detail}. Fix the parameter it names.",
    ),
    401: (
        RiffusionAuthError,
        "{api} refused the token for {what} (HTTP 401). Put a valid useapi.net "
        "API token in the connection's password field ('API token').",
    ),
    402: (
        RiffusionSubscriptionError,
        "The useapi.net subscription has expired (HTTP 402){detail}. Renew it at useapi.net.",
    ),
    404: (
        RiffusionNotFoundError,
        "{api} does not know {what} (HTTP 404){detail}. Check the id and the user_id.",
    ),
    412: (
        RiffusionCreditsError,
        "The {name} account is out of credits (HTTP 412){detail}. Add credits, or pass another user_id.",
    ),
    422: (
        RiffusionModerationError,
        "{api} moderated {what} (HTTP 422){detail}. Change the prompt or lyrics.",
    ),
    ACCOUNT_ERROR_STATUS: (
        RiffusionAccountError,
        "The {name} account has a pending error (HTTP 596){detail}. Re-register the account "
        "with POST accounts (a fresh cookie) and run the task again.",
    ),
}


def interpret(call: ApiCall, status: int, headers: Mapping[str, str], body: bytes, attempt: int = 1) -> Any:
    """The normalized value of a 2xx answer; any other answer raises the matching error (token scrubbed)."""
    settings = call.settings
    if not 200 <= status < 300:
        text = settings.redact(_text(body, headers))
        failure = error_from_response(
            status, text, call.what, attempt, redact=settings.redact, service=settings.service
        )
        failure.retry_after = parse_retry_after(headers.get("Retry-After"))
        raise settings.scrub(failure)
    if status == 204 and call.endpoint.creates is None:  # No Content: done, nothing more to say
        return call.endpoint.normalize(None, call.arguments)
    try:
        value = decode_json(status, headers, body, call.what, settings.redact, settings.service.TITLE)
        return call.endpoint.normalize(value, call.arguments)
    except RiffusionResponseError as error:
        raise settings.scrub(unconfirmed(call, error)) from None


def decode_json(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    what: str,
    redact: Callable[[str], str] = str,
    title: str = "the Riffusion API",
) -> Any:
    """Parse a 2xx body as JSON, or explain in one line that the server sent something else."""
    content_type = headers.get("Content-Type") or headers.get("content-type") or "unknown content type"

    def refuse(problem: str) -> RiffusionResponseError:
        return RiffusionResponseError(
            f"{sentence(title)} answered {what} with HTTP {status} but {problem}. Check that the connection's "
            f"host points at {title} and not at a proxy or login page.",
            http_status=status,
        )

    if len(body) > MAX_ANSWER_BYTES:
        raise refuse(f"the body is larger than {MAX_ANSWER_BYTES // 1024} KiB ({content_type})")
    charset = _charset(content_type)
    try:
        codecs.lookup(charset)
    except LookupError:
        raise refuse(f"the body declares charset {charset[:40]!r}, which is no known encoding") from None
    try:
        value = json.loads(body.decode(charset), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise refuse(f"the body is not JSON ({content_type}): {excerpt(redact(_text(body, headers)))!r}") from None
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise refuse(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def error_from_response(
    status: int,
    text: str,
    what: str,
    attempts: int = 1,
    redact: Callable[[str], str] = str,
    service: Service | None = None,
) -> RiffusionError:
    """Map a non-2xx answer to the exception class and message a DAG author can act on.

    ``redact`` removes the token from text before it is cut: a cut through an echoed token would
    leave a part of it that no later scrub can recognise. The service (Riffusion when None) names the API
    and may give an answer its own advice (``MESSAGES``).
    """
    service = service or get_service(None)
    api_error = _api_error_text(text, redact)
    detail = f": {_without_final_period(api_error)}" if api_error else ""
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    kwargs: dict[str, Any] = {"http_status": status, "api_error": api_error}
    names = {"what": what, "detail": detail, "tried": tried, "api": sentence(service.TITLE)}
    names["name"] = service.SHORT_TITLE
    own = service.MESSAGES.get(status)
    if status in _FATAL_STATUSES:
        cls, template = _FATAL_STATUSES[status]
        return cls((own or template).format_map(names), **kwargs)
    if status == 410:  # kept no longer (Flow Music keeps jobs 7 days): as unknown, so a durable retry submits anew
        return RiffusionNotFoundError(
            (own or "{api} no longer keeps {what} (HTTP 410){detail}.").format_map(names), **kwargs
        )
    if status == 413 and own:  # a documented cap (Flow Music's 40 MB): fatal, naming it
        return RiffusionBadRequestError(own.format_map(names), **kwargs)
    if status == 429:
        return RiffusionRateLimitError(
            (
                own
                or "Every {name} job slot is busy or the API throttles (HTTP 429){tried}{detail}. "
                "Retry later, or raise the account's maxJobs."
            ).format_map(names),
            **kwargs,
        )
    if status >= 500:
        return RiffusionServerError(
            f"{names['api']} failed on {what} (HTTP {status}){tried}{detail}. This is usually "
            "transient; the task can be retried.",
            **kwargs,
        )
    if own:  # a status the service documents, with its own advice
        return RiffusionUnexpectedStatusError(own.format_map(names), **kwargs)
    return RiffusionUnexpectedStatusError(
        f"{names['api']} answered {what} with HTTP {status}, which it does not document{detail}. "
        "Retrying will not change it: check the connection's host (a proxy or gateway may answer instead).",
        **kwargs,
    )


def excerpt(text: str) -> str:
    """One line of a body for a message: tags stripped (proxies send HTML), whitespace folded, cut."""
    plain = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return plain[:MAX_BODY_IN_MESSAGE] + ("..." if len(plain) > MAX_BODY_IN_MESSAGE else "")


def _text(body: bytes, headers: Mapping[str, str]) -> str:
    """A body as text for messages: its charset when Python knows it, else UTF-8; never fails."""
    charset = _charset(headers.get("Content-Type") or headers.get("content-type") or "")
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _charset(content_type: str) -> str:
    """The ``charset`` parameter of a Content-Type; JSON without one is UTF-8 (RFC 8259)."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip(" \t\"'"):
            return value.strip(" \t\"'")
    return "utf-8"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether JSON nests deeper than ``limit``, found without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _api_error_text(text: str, redact: Callable[[str], str]) -> str | None:
    """The API's ``error`` (or moderation ``reason``) text, or a short excerpt of a non-JSON body."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return excerpt(redact(text)) or None
    if isinstance(body, dict):
        for key in ("error", "reason", "message"):
            value = body.get(key)
            if isinstance(value, dict):  # Flow Music's 422: {"error": {"code", "message"}}
                value = value.get("message") or value.get("code")
            if value:
                return excerpt(redact(str(value))) or None
    return excerpt(redact(text)) or None


def _without_final_period(sentence: str) -> str:
    """The API's sentence inside ours: its final period would double ours ("accounts.. Re-register")."""
    return sentence[:-1] if sentence.endswith(".") and not sentence.endswith("...") else sentence


def unconfirmed(call: ApiCall, error: RiffusionError) -> RiffusionError:
    """For a create call, ``error`` (the answer is unreadable or lost) becomes the fatal "it may have acted"."""
    if call.endpoint.creates is None:
        return error
    return RiffusionUnconfirmedError(
        f"{error} {call.endpoint.creates}: check the account before running the task again.",
        http_status=error.http_status,
    )


def where(call: ApiCall) -> str:
    """Whom a call went to, for a message: the API's base URL, or a public file's own host (never its signed
    query, where a CDN keeps its credentials)."""
    if call.public:
        parts = urlsplit(call.url)
        return f"{parts.scheme}://{parts.netloc}"
    return call.settings.base_url


def network_error(call: ApiCall, kind: FailureKind, error: BaseException, attempt: int) -> RiffusionError:
    """The family's error for a request that got no answer (token scrubbed)."""
    settings = call.settings
    refused = certificate_refusal(error)
    if refused is not None:
        return settings.scrub(RiffusionConnectionConfigError.certificate_refused(settings.base_url, refused))
    failure = RiffusionNetworkError.describe(
        kind,
        base_url=where(call),
        what=call.what,
        reason=root_reason(error),
        timeout=settings.timeout,
        attempt=attempt,
    )
    if kind != "connect" and call.request_left():
        return settings.scrub(unconfirmed(call, failure))
    return settings.scrub(failure)
