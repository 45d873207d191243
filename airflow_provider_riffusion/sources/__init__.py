"""Where an upload's bytes come from: one module per kind of source, and the choice between them.

``local`` (paths, ``file://`` URIs, bytes, file objects), ``object_storage`` (Airflow's
``ObjectStoragePath`` and object-storage URIs), ``http`` (http(s) URLs, streamed). Each turns
its source into a :class:`~airflow_provider_riffusion.sources.model.PreparedUpload`; the checks they
share live in :mod:`~airflow_provider_riffusion.sources.kinds`. The remote modules load only when their
kind of source is used, so a local upload never imports fsspec or Airflow's object storage.
"""

from __future__ import annotations

import os
from pathlib import PurePath
from typing import Any

from airflow_provider_riffusion.exceptions import RiffusionInputError
from airflow_provider_riffusion.sources import local
from airflow_provider_riffusion.sources.model import PreparedUpload

DEFAULT_FETCH_TIMEOUT = 60.0
"""Seconds per network read of a remote source when the caller gives none."""


def prepare_source(
    source: Any,
    file_name: str | None = None,
    content_type: str | None = None,
    max_bytes: int | None = None,
    *,
    conn_id: str | None = None,
    timeout: float = DEFAULT_FETCH_TIMEOUT,
) -> PreparedUpload:
    """Pick the module for ``source`` by its type (and a string by its scheme), and prepare it there.

    A string is a local path, or a URI whose scheme picks the source (file, http(s), object storage).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        _refuse_conn_id(conn_id, "bytes")
        return local.prepare_bytes(bytes(source), file_name, content_type, max_bytes)
    if isinstance(source, str):
        stripped = source.strip()
        scheme = stripped.split("://", 1)[0].lower() if "://" in stripped else ""
        if scheme in ("http", "https"):
            from airflow_provider_riffusion.sources import http

            _refuse_conn_id(conn_id, "an http(s) URL (credentials go in the URL)")
            return http.prepare_url(stripped, file_name, content_type, max_bytes, timeout)
        if scheme and scheme != "file" and len(scheme) > 1:
            from airflow_provider_riffusion.sources import object_storage

            path = object_storage.object_path(stripped, conn_id)
            return object_storage.prepare_object(path, file_name, content_type, max_bytes)
    elif hasattr(source, "read"):
        _refuse_conn_id(conn_id, "a file object")
        return local.prepare_file_object(source, file_name, content_type, max_bytes)
    elif not isinstance(source, PurePath) or hasattr(source, "protocol"):  # not a plain local path
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        from airflow_provider_riffusion.sources import object_storage

        # Before the path check: on Airflow 3.0 and 3.1 an ObjectStoragePath is a PurePath too.
        if isinstance(source, ObjectStoragePath):
            path = object_storage.with_conn_id(source, conn_id)
            return object_storage.prepare_object(path, file_name, content_type, max_bytes)
        if not isinstance(source, os.PathLike):
            raise RiffusionInputError(
                f"source of type {type(source).__name__} is not supported: pass a local path, a file:// URI, "
                "an object-storage URI or ObjectStoragePath, an http(s) URL, bytes or a binary file object."
            )
    return local.prepare_path(local.local_path(source), file_name, content_type, max_bytes, conn_id)


def _refuse_conn_id(conn_id: str | None, kind: str) -> None:
    if conn_id:
        raise RiffusionInputError(
            f"source_conn_id={conn_id!r} applies to object-storage sources only, and the source is {kind}: "
            "leave source_conn_id unset."
        )


def source_uri(source: Any) -> str | None:
    """Where a source's bytes come from, as a URI for lineage (None for bytes and file objects)."""
    if isinstance(source, (bytes, bytearray, memoryview)) or hasattr(source, "read"):
        return None
    text = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    if text is None or (hasattr(source, "protocol") and not isinstance(source, PurePath)):
        return f"{source.protocol}://{str(source.path).lstrip('/')}"
    if "://" in text and not text.startswith("file://"):
        from airflow_provider_riffusion.sources.http import redact

        return redact(text.strip()).split("?", 1)[0]
    return local.local_path(text).resolve().as_uri()
