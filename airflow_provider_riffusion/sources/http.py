"""Sources on the web: an http(s) URL, streamed from the remote to the API without touching disk.

One GET per attempt (``stream=True``), in its own session so the API token never travels to the
remote. The first response's leading bytes are peeked (to tell the audio type) and replayed, and
that response feeds the first attempt. Its size is the remote's Content-Length (sent on as ours);
without one (chunked, or a compressed answer) the upload is sent chunked. Messages and logs name
the URL without its user info or query, which may carry credentials.
"""

from __future__ import annotations

import io
from http import HTTPStatus
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

from airflow_provider_riffusion.exceptions import (
    RiffusionInputError,
    RiffusionNetworkError,
    RiffusionSourceError,
    root_reason,
)
from airflow_provider_riffusion.sources.kinds import (
    EXTENSION_CONTENT_TYPES,
    check_size,
    content_type_for,
    resolve_file_name,
    resolve_kind,
)
from airflow_provider_riffusion.sources.model import Opened, PreparedUpload, Reopener, peek

if TYPE_CHECKING:
    import requests

RETRYABLE_STATUSES = frozenset({429})
"""Besides 5xx: remote answers worth another GET later; any other 4xx is the source's refusal."""


def redact(url: str) -> str:
    """The URL without user info, query or fragment: safe for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    query = "?..." if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{query}"


def prepare_url(
    url: str, file_name: str | None, content_type: str | None, max_bytes: int | None, timeout: float
) -> PreparedUpload:
    """Fetch the URL once to check it (status, type, size); that response serves the first attempt."""
    import requests

    where = redact(url)
    _mask_password(url)
    session = requests.Session()
    try:
        response = _get(session, url, where, timeout)
        head, stream = peek(_ResponseStream(response))
        size = _size(response)
        try:
            name = _name(url, response.url)
            kind = resolve_kind(
                where, PurePosixPath(name).suffix, head, content_type, response.headers.get("Content-Type")
            )
            check_size(where, size, max_bytes)
            if not name and not file_name:
                raise RiffusionInputError(f"file_name is required: the URL {where} has no file name in its path.")
            track_name = resolve_file_name(file_name, name)
        except RiffusionInputError:
            stream.close()
            raise
    except BaseException:
        session.close()
        raise

    def reopen() -> Opened:
        again = _get(session, url, where, timeout)
        return Opened(cast(IO[bytes], _ResponseStream(again)), _size(again))

    reopener = Reopener(where, kind, Opened(stream, size), reopen)

    def release() -> None:
        reopener.release()
        session.close()

    return PreparedUpload(
        file_name=track_name,
        content_type=content_type_for(kind, content_type),
        size=size,
        description=where,
        uri=where.split("?", 1)[0],
        opener=reopener,
        max_bytes=max_bytes,
        release=release,
    )


def _get(session: requests.Session, url: str, where: str, timeout: float) -> requests.Response:
    """One streamed GET (redirects followed); failures become a refusal or a retryable network error."""
    import requests

    try:
        response = session.get(url, stream=True, timeout=timeout, headers={"Accept-Encoding": "identity"})
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
        raise RiffusionInputError(f"source {where} is not a valid URL: check it.") from None
    except requests.TooManyRedirects:
        raise RiffusionInputError(f"source {where} redirects too many times: check the URL.") from None
    except requests.RequestException as error:
        raise RiffusionNetworkError(
            f"Could not fetch {where} ({root_reason(error)}). Check the URL and the worker's network.",
        ) from None
    status = response.status_code
    if status < 400:
        return response
    response.close()
    try:
        phrase = f" {HTTPStatus(status).phrase}"
    except ValueError:
        phrase = ""
    answered = f"source {where} answered HTTP {status}{phrase}"
    if status >= 500 or status in RETRYABLE_STATUSES:
        raise RiffusionNetworkError(f"{answered}: the remote failed; retry later.")
    raise RiffusionSourceError(f"{answered}: check the URL and that the worker may read it.")


def _size(response: requests.Response) -> int | None:
    """The body's length in bytes as it will be read: unknown when absent or when the remote compressed it."""
    if response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        return None
    length = response.headers.get("Content-Length", "").strip()
    return int(length) if length.isdigit() else None


def _name(url: str, final_url: str) -> str:
    """The last path segment: the requested URL's, unless only the redirect target's has an audio extension."""
    names = [PurePosixPath(unquote(urlsplit(candidate).path)).name for candidate in (url, final_url)]
    for name in names:
        if PurePosixPath(name).suffix.lower() in EXTENSION_CONTENT_TYPES:
            return name
    return names[0] or names[1]


def _mask_password(url: str) -> None:
    """A password in the URL is masked in Airflow's logs, as a connection's would be."""
    password = urlsplit(url).password
    if not password:
        return
    try:
        from airflow.providers.common.compat.sdk import mask_secret

        mask_secret(password)
    except Exception:  # masking is best effort outside a task
        pass


class _ResponseStream(io.RawIOBase):
    """The response body as a binary stream, read from the socket as the upload asks for it."""

    def __init__(self, response: requests.Response):
        self._response = response

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        raw: Any = self._response.raw
        try:
            if size is None or size < 0:
                return cast(bytes, raw.read(decode_content=True))
            return cast(bytes, raw.read(size, decode_content=True))
        except Exception as error:  # urllib3's own text would repeat the URL
            reason = root_reason(error)
            if reason == "timed out":
                raise ConnectionError("the remote stopped sending (timed out)") from error
            raise ConnectionError(f"the remote's connection broke before the end of the body ({reason})") from error

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()
