"""The hook's two streamed transfers: a track up to the API, a song down to its destination.

Both stream in chunks through the hook's one session and its retry policy, and neither ever holds a
file in memory. Kept apart from ``riffusion.py`` so the hook reads as the list of its calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_riffusion import lineage

if TYPE_CHECKING:
    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
    from airflow_provider_riffusion.sources.model import PreparedUpload


def prepare(
    hook: RiffusionHook,
    source: Any,
    file_name: str | None,
    content_type: str | None,
    max_bytes: int | None,
    conn_id: str | None,
) -> PreparedUpload:
    """The source checked and ready to open; reading a remote source is idempotent, so it is retried like a GET."""
    from airflow_provider_riffusion.retry import retry_read
    from airflow_provider_riffusion.sources import prepare_source

    timeout = hook.settings.timeout
    return hook.settings.retry.call(
        lambda attempt: prepare_source(source, file_name, content_type, max_bytes, conn_id=conn_id, timeout=timeout),
        retry_read,
        "reading the upload's source",
    )


def upload(hook: RiffusionHook, prepared: PreparedUpload, user_id: str | None) -> dict[str, Any]:
    """POST the prepared source; every attempt re-opens it and re-sends it whole."""
    from airflow_provider_riffusion.client.endpoints import UPLOAD
    from airflow_provider_riffusion.client.sync_transport import send

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
            call = UPLOAD.call(settings, user_id, file_name=prepared.file_name, body=reader, headers=headers)
            return send(hook.session, call, number)

    result = settings.retry.call(attempt_once, UPLOAD.should_retry, UPLOAD.describe(file_name=prepared.file_name))
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
    hook: RiffusionHook,
    song_id: str,
    destination: Any,
    download_format: str,
    user_id: str | None,
    *,
    title: Any = None,
    conn_id: str | None = None,
) -> dict[str, Any]:
    """Stream one song into ``destination``; an existing file of the answer's size is kept, not fetched again."""
    from airflow_provider_riffusion import delivery
    from airflow_provider_riffusion.client.endpoints import DOWNLOAD
    from airflow_provider_riffusion.client.sync_transport import stream

    delivery.check_format(download_format)
    target = delivery.target(
        delivery.folder(destination, conn_id), delivery.song_file_name(song_id, title, download_format)
    )
    call = DOWNLOAD.call(hook.settings, user_id, id=song_id, download_format=download_format)

    def store(headers: Mapping[str, str], chunks: Iterator[bytes]) -> dict[str, Any]:
        content_type = (headers.get("Content-Type") or delivery.FORMATS[download_format][1]).split(";")[0].strip()
        length = headers.get("Content-Length", "")
        if length.isdigit() and target.size() == int(length):
            hook.log.info(
                "Song %s is already at %s (%s bytes): kept, not fetched again.", song_id, target.shown, length
            )
            return {"bytes": int(length), "sha256": target.sha256(), "content_type": content_type}
        digest, size = hashlib.sha256(), 0
        with delivery.writing_to(target) as output:
            for chunk in chunks:
                output.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        return {"bytes": size, "sha256": digest.hexdigest(), "content_type": content_type}

    stored = hook.settings.retry.call(
        lambda attempt: stream(hook.session, call, store, attempt), DOWNLOAD.should_retry, call.what
    )
    hook.log.info(
        "Song %s stored at %s (%d bytes, sha256 %s)", song_id, target.shown, stored["bytes"], stored["sha256"]
    )
    lineage.report(hook, outputs=[target.uri])
    return {"song_id": song_id, "path": target.shown, "format": download_format, **stored}
