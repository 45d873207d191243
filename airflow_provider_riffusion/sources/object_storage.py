"""Sources in Airflow's object storage: an ``ObjectStoragePath``, or a URI such as ``s3://bucket/key``.

Airflow supplies the filesystem behind each scheme (``file`` built in; ``s3``, ``gs``, ``abfs`` ...
from the provider that registers it, or one attached with ``airflow.sdk.io.attach``) and the
connection it authenticates with: the path's ``conn_id``
(``ObjectStoragePath("s3://bucket/key", conn_id="aws_default")``, the URI form
``s3://aws_default@bucket/key``) or the caller's ``source_conn_id``. Each attempt opens the object
again; the stream opened to read its first bytes serves the first attempt.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, cast

from airflow_provider_riffusion.exceptions import (
    RiffusionInputError,
    RiffusionNetworkError,
    RiffusionSourceError,
    is_network_trouble,
)
from airflow_provider_riffusion.sources.kinds import (
    check_size,
    content_type_for,
    describe_error,
    resolve_file_name,
    resolve_kind,
)
from airflow_provider_riffusion.sources.model import Opened, PreparedUpload, Reopener, peek

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath
    from fsspec import AbstractFileSystem

PROVIDERS = {
    "s3": "apache-airflow-providers-amazon",
    "s3a": "apache-airflow-providers-amazon",
    "gs": "apache-airflow-providers-google",
    "gcs": "apache-airflow-providers-google",
    "abfs": "apache-airflow-providers-microsoft-azure",
    "abfss": "apache-airflow-providers-microsoft-azure",
    "adl": "apache-airflow-providers-microsoft-azure",
    "az": "apache-airflow-providers-microsoft-azure",
}
"""The provider that registers each common scheme's filesystem, for the error that asks for it."""


def object_path(uri: str, conn_id: str | None) -> ObjectStoragePath:
    """The ``ObjectStoragePath`` a URI names, with ``conn_id`` when given."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    try:
        path = ObjectStoragePath(uri)
    except (ValueError, TypeError) as error:
        raise RiffusionInputError(
            f"source {uri!r} is not an object-storage URI Airflow can read ({describe_error(error)}): "
            "check the scheme, or pass a local path or an http(s) URL."
        ) from None
    return with_conn_id(path, conn_id)


def path_conn_id(path: ObjectStoragePath) -> str | None:
    """The connection a path reads through (an attribute on Airflow 3.2+, a storage option before)."""
    conn_id = getattr(path, "conn_id", None)
    return conn_id if conn_id is not None else (getattr(path, "storage_options", None) or {}).get("conn_id")


def shown(path: ObjectStoragePath) -> str:
    """``scheme://bucket/key``, the same on every Airflow version, and never with the connection id in it."""
    return f"{path.protocol}://{str(path.path).lstrip('/')}"


def with_conn_id(path: ObjectStoragePath, conn_id: str | None) -> ObjectStoragePath:
    """``path`` read through ``conn_id``; a path that names another connection is refused."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    named = path_conn_id(path)
    if not conn_id or named == conn_id:
        return path
    if named:
        raise RiffusionInputError(
            f"source {shown(path)!r} names connection {named!r} but source_conn_id is {conn_id!r}: keep one."
        )
    return ObjectStoragePath(path, conn_id=conn_id)


def prepare_object(
    path: ObjectStoragePath, file_name: str | None, content_type: str | None, max_bytes: int | None
) -> PreparedUpload:
    """An object in storage, checked like a local file (exists, one file, type, size)."""
    where = shown(path)
    fs = _filesystem(path, where)
    first = _open(fs, path, where)
    head, stream = peek(first.stream)
    try:
        kind = resolve_kind(where, path.suffix, head, content_type)
        check_size(where, first.size, max_bytes)
        name = resolve_file_name(file_name, path.name)
    except RiffusionInputError:
        stream.close()
        raise

    reopener = Reopener(where, kind, Opened(stream, first.size), lambda: _open(fs, path, where))
    return PreparedUpload(
        file_name=name,
        content_type=content_type_for(kind, content_type),
        size=first.size,
        description=where,
        uri=where,
        opener=reopener,
        max_bytes=max_bytes,
        release=reopener.release,
    )


def _filesystem(path: ObjectStoragePath, where: str) -> AbstractFileSystem:
    protocol = path.protocol or "file"
    try:
        return path.fs
    except ValueError:
        provider = PROVIDERS.get(protocol)
        remedy = (
            f"install {provider} on the workers"
            if provider
            else "install the Airflow provider that registers it, or attach one (airflow.sdk.io.attach)"
        )
        raise RiffusionInputError(
            f"source {where!r} is an object-storage URI whose scheme {protocol}:// has no filesystem "
            f"registered: {remedy}."
        ) from None
    except Exception as error:
        raise RiffusionInputError(
            f"source {where!r} cannot be opened through connection {path_conn_id(path)!r} "
            f"({describe_error(error)}): check the connection."
        ) from None


def _open(fs: AbstractFileSystem, path: ObjectStoragePath, where: str) -> Opened:
    """Stat and open the object. Only network trouble is worth a retry; a missing object, a refused
    credential or permission, or anything the store says it will not do, is a source error."""
    try:
        info = fs.info(path.path)
        if info.get("type") == "directory":
            raise IsADirectoryError(path.path)
        stream = fs.open(path.path, "rb")
    except FileNotFoundError:
        raise RiffusionSourceError(
            f"source {where!r} does not exist: check the bucket, the key and the connection."
        ) from None
    except IsADirectoryError:
        raise RiffusionInputError(f"source {where!r} is a directory or prefix: pass one audio file.") from None
    except Exception as error:
        if is_network_trouble(error):
            raise RiffusionNetworkError(
                f"Could not read {where} ({describe_error(error)}). Check the connection and the network.",
            ) from None
        raise RiffusionSourceError(
            f"source {where!r} cannot be read ({describe_error(error)}): check the connection's "
            "credentials and permissions."
        ) from None
    size = info.get("size")
    return Opened(cast(IO[bytes], stream), size if isinstance(size, int) else None)
