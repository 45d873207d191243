"""The hook's two streamed transfers: a track up to the API, a song down to its destination.

Both stream in chunks through the hook's one session and its retry policy, and neither ever holds a
file in memory.

Only songs are stored: a download's answer is checked before a byte is written (:func:`check_answer`),
since a proxy, a login page or an API error can come with a 200. Its headers are data from the
network: only values checked against a short list reach an output or a log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow_provider_riffusion import delivery, lineage
from airflow_provider_riffusion.exceptions import RiffusionInputError, RiffusionResponseError
from airflow_provider_riffusion.hooks.answers import decode_json
from airflow_provider_riffusion.hooks.deadline import declared_length
from airflow_provider_riffusion.retry import retry_read
from airflow_provider_riffusion.services import sentence
from airflow_provider_riffusion.sources import prepare_source
from airflow_provider_riffusion.sources.kinds import CONTENT_TYPE_KINDS, HEAD_BYTES, media_type, sniff_kind

if TYPE_CHECKING:
    from airflow_provider_riffusion.hooks.answers import ApiCall
    from airflow_provider_riffusion.services import Endpoint
    from airflow_provider_riffusion.settings import RiffusionSettings
    from airflow_provider_riffusion.sources.model import PreparedUpload

T = TypeVar("T")


class WorkerDoor(Protocol):
    """What the transfers use of ``RiffusionHook``: its settings and log, a request, and its two kinds of I/O."""

    @property
    def log(self) -> Any: ...

    @property
    def settings(self) -> RiffusionSettings: ...

    def request(self, operation: str, user_id: str | None = None, **arguments: Any) -> tuple[ApiCall, Endpoint]: ...

    def public_call(self, url: str, what: str) -> tuple[ApiCall, Endpoint]: ...

    def send(self, call: ApiCall, attempt: int = 1) -> Any: ...

    def stream(self, call: ApiCall, consume: Callable[[Any, Iterator[bytes]], T], attempt: int = 1) -> T: ...


GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", "application/download"})
"""Content-Types that say nothing of what a body is: the bytes decide, and the type is dropped."""
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
HEAD = 512
"""Bytes of a song read before anything is written: enough to tell its kind, and to show what came instead."""
SHOWN_CHARS = 80
WANTED = {"mp3": "mp3 audio", "wav": "wav audio", "stems": "JSON about the stems"}


def prepare(
    hook: WorkerDoor,
    source: Any,
    file_name: str | None,
    content_type: str | None,
    max_bytes: int | None,
    conn_id: str | None,
) -> PreparedUpload:
    """The source checked and ready to open; reading a remote source is idempotent, so it is retried like a GET."""
    timeout = hook.settings.timeout
    service = hook.settings.service
    cap = service.MAX_UPLOAD_BYTES
    binding = cap is not None and (max_bytes is None or max_bytes > cap)
    prepared = hook.settings.retry.call(
        lambda attempt: prepare_source(
            source, file_name, content_type, None if binding else max_bytes, conn_id=conn_id, timeout=timeout
        ),
        retry_read,
        "reading the upload's source",
    )
    if binding:
        if prepared.size is not None and cap is not None and prepared.size > cap:
            prepared.close()
            raise RiffusionInputError(
                f"source {prepared.description!r} is {prepared.size} bytes, over the {cap // (1024 * 1024)} MiB that "
                f"{service.SHORT_TITLE} takes: nothing was sent. Use a shorter or more compressed track."
            )
        prepared = dataclasses.replace(prepared, max_bytes=cap)  # a source of unknown size stops there as it streams
    return prepared


def upload(hook: WorkerDoor, prepared: PreparedUpload, user_id: str | None) -> dict[str, Any]:
    """POST the prepared source; every attempt re-opens it and re-sends it whole."""
    settings = hook.settings
    hook.log.info(
        "Uploading %s as %r (%s, %s)",
        prepared.description,
        prepared.file_name,
        prepared.content_type,
        f"{prepared.size} bytes" if prepared.size is not None else "size unknown: sent chunked",
    )
    sent: dict[str, Any] = {}

    def attempt_once(number: int) -> dict[str, Any]:
        with prepared.open_reader() as reader:
            sent["reader"] = reader
            headers = {"Content-Type": prepared.content_type}
            call, _ = hook.request("upload", user_id, file_name=prepared.file_name, body=reader, headers=headers)
            return hook.send(call, number)

    endpoint = settings.service.ENDPOINTS["upload"]
    result = settings.retry.call(attempt_once, endpoint.should_retry, endpoint.describe(file_name=prepared.file_name))
    reader = sent["reader"]
    result.update(
        file_name=prepared.file_name,
        content_type=prepared.content_type,
        bytes=reader.bytes_read,
        sha256=reader.sha256,
    )
    hook.log.info("Uploaded %r: job_id=%s (%d bytes)", prepared.file_name, result["job_id"], reader.bytes_read)
    lineage.report(hook, inputs=[prepared.uri] if prepared.uri else [])
    return result


def download(
    hook: WorkerDoor,
    song_id: str,
    destination: Any,
    download_format: str,
    user_id: str | None,
    *,
    title: Any = None,
    conn_id: str | None = None,
    url: Any = None,
) -> dict[str, Any]:
    """Stream one song into ``destination``, checked before a byte is stored.

    A file already there is kept, its body not read, only when its record proves it is this song, whole
    (``Target.kept``); a size that matches proves nothing. Otherwise the song is fetched and stored
    again, and recorded once it is in place.
    """
    settings = hook.settings
    delivery.check_format(download_format)
    service = settings.service
    if download_format not in service.DOWNLOAD_FORMATS:
        raise RiffusionInputError(
            f"download_format {download_format!r} is not one {service.SHORT_TITLE} (the connection's service) serves: "
            f"use {' or '.join(service.DOWNLOAD_FORMATS)}."
        )
    public_key = service.DOWNLOAD_FORMATS[download_format]
    if public_key is not None:
        if not isinstance(url, str) or not url.strip():
            raise RiffusionInputError(
                f"{service.SHORT_TITLE} serves {download_format} only from each song's public {public_key}, and song "
                f"{song_id} came without one: pass the songs a compose or songs wait returned (they carry "
                f"{public_key}), not bare song ids, or download mp3."
            )
        call, endpoint = hook.public_call(url.strip(), f"the {download_format} of song {song_id}")
    else:
        call, endpoint = hook.request("download", user_id, id=song_id, download_format=download_format)
    target = delivery.target(
        delivery.folder(destination, conn_id), delivery.song_file_name(song_id, title, download_format)
    )
    content_type = delivery.FORMATS[download_format][1]  # the only types an output shows: checked, not copied

    def store(headers: Mapping[str, str], chunks: Iterator[bytes]) -> dict[str, Any]:
        declared = headers.get("Content-Type")
        agrees = type_agrees(declared, download_format)
        kept = target.kept(declared_length(headers)) if agrees is not False else None
        if kept is not None:
            hook.log.info(
                "Song %s is already at %s (%d bytes, recorded sha256): kept, not fetched again.",
                song_id,
                target.shown,
                kept[0],
            )
            return {"bytes": kept[0], "sha256": kept[1], "content_type": content_type}
        limit = MAX_STEMS_BYTES + 1 if download_format == "stems" else HEAD
        head, ended = read_head(chunks, limit)
        check_answer(settings, call.what, download_format, declared, agrees, head, ended)
        if agrees is None and declared:
            hook.log.warning(
                "The answer to %s came with Content-Type %s, which does not say what it holds: dropped, reported "
                "as %s (its bytes are %s).",
                call.what,
                shown_type(settings, declared),
                content_type,
                WANTED[download_format],
            )
        digest, size = hashlib.sha256(head), len(head)
        with delivery.writing_to(target) as output:
            output.write(head)
            for chunk in chunks:
                output.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        sha256 = digest.hexdigest()
        try:
            target.write_record(sha256)
        except Exception as error:  # the song is stored and whole; without a record a retry fetches it again
            hook.log.warning(
                "Could not record the sha256 of %s (%s): a retry will download it again.",
                target.shown,
                type(error).__name__,
            )
        return {"bytes": size, "sha256": sha256, "content_type": content_type}

    stored = settings.retry.call(lambda attempt: hook.stream(call, store, attempt), endpoint.should_retry, call.what)
    hook.log.info(
        "Song %s stored at %s (%d bytes, sha256 %s)", song_id, target.shown, stored["bytes"], stored["sha256"]
    )
    lineage.report(hook, outputs=[target.uri])
    return {"song_id": song_id, "path": target.shown, "format": download_format, **stored}


MAX_STEMS_BYTES = 1024 * 1024
"""The stems' JSON is a small document, read whole to be checked before it is stored (as any answer, ``answers.py``)."""


def type_agrees(declared: str | None, download_format: str) -> bool | None:
    """Whether a download's Content-Type names the format: True; says nothing of it (none, a generic binary
    type, a value that is no media type at all), None: dropped, the bytes decide; names another type, False."""
    if not declared:
        return None
    media = media_type(declared)
    named = "stems" if media == "application/json" else CONTENT_TYPE_KINDS.get(media)
    if named == download_format:
        return True
    return None if media in GENERIC_TYPES or not _MEDIA_TYPE.fullmatch(media) else False


def read_head(chunks: Iterator[bytes], limit: int) -> tuple[bytes, bool]:
    """At least ``limit`` bytes of the body, or all of a shorter one; and whether the body ended there."""
    head = bytearray()
    for chunk in chunks:
        head += chunk
        if len(head) >= limit:
            return bytes(head), False
    return bytes(head), True


def check_answer(
    settings: RiffusionSettings,
    what: str,
    download_format: str,
    declared: str | None,
    agrees: bool | None,
    head: bytes,
    ended: bool,
) -> None:
    """Refuse a 2xx that is not the format asked for: a Content-Type of another kind, or first bytes that are
    not mp3 or wav audio as uploads sniff it (``sources/kinds.py``), or stems that are no JSON object or array.

    A :class:`RiffusionResponseError` naming what came instead, token scrubbed. The read rule does not
    retry it in the hook (the same server would send the same page at once); not fatal either, so
    Airflow's task retry may find the API again.
    """
    problem = None
    if agrees is False:
        problem = f"it is typed {media_type(settings.redact(declared or ''))[:60]}"
    elif not head:
        problem = "its body is empty"
    elif download_format == "stems":
        if not ended:
            problem = f"its body is larger than {MAX_STEMS_BYTES // 1024} KiB"
        else:
            try:
                value = decode_json(200, {"Content-Type": "application/json"}, head, what)
            except RiffusionResponseError:
                value = None
            problem = None if isinstance(value, (dict, list)) else "its body is not a JSON object or array"
    elif (kind := sniff_kind(head[:HEAD_BYTES])) != download_format:
        problem = f"its first bytes are {kind} audio" if kind else "its first bytes are not audio"
    if problem is not None:
        title = settings.service.TITLE
        raise settings.scrub(
            RiffusionResponseError(
                f"{sentence(title)} answered {what} but not with {WANTED[download_format]} ({problem}; Content-Type "
                f"{shown_type(settings, declared)}, first bytes {first_bytes(settings, head, ended)}): nothing was "
                f"stored. Check that the connection's host points at {title} and not at a proxy or login page."
            )
        )


def shown_type(settings: RiffusionSettings, declared: str | None) -> str:
    """A Content-Type for a message or a log: token scrubbed before it is cut, then quoted."""
    if not declared:
        return "none"
    text = " ".join(settings.redact(declared).split())
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def first_bytes(settings: RiffusionSettings, head: bytes, ended: bool) -> str:
    """The first bytes of a body as text, quoted: the token scrubbed from all that was read, then cut.

    Where the body goes on past what was read, its last ``len(token) - 1`` bytes are left out: a token cut
    there could not be recognised, and its first characters would show.
    """
    data = settings.redact_bytes(head)
    if not ended and settings.token:
        data = data[: max(0, len(data) - len(settings.token.encode()) + 1)]
    text = " ".join(data[: SHOWN_CHARS * 4].decode("utf-8", "replace").split())
    return repr(text[:SHOWN_CHARS] + ("..." if len(text) > SHOWN_CHARS else ""))
