"""Sources on the worker itself: a local path or ``file://`` URI, bytes, a seekable file object."""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path, PurePosixPath
from typing import IO, cast
from urllib.parse import unquote, urlsplit

from airflow_provider_riffusion.exceptions import RiffusionInputError, RiffusionSourceError
from airflow_provider_riffusion.sources.kinds import (
    HEAD_BYTES,
    check_size,
    content_type_for,
    describe_error,
    resolve_file_name,
    resolve_kind,
)
from airflow_provider_riffusion.sources.model import Opened, PreparedUpload

log = logging.getLogger(__name__)


def local_path(source: str | os.PathLike[str]) -> Path:
    """The path a string, ``file://`` URI or path-like names on this machine."""
    text = os.fspath(source).strip()
    if not text:
        raise RiffusionInputError("source is empty: pass the path of an mp3, m4a or wav file.")
    parts = urlsplit(text)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return Path(text).expanduser()


def prepare_path(
    path: Path, file_name: str | None, content_type: str | None, max_bytes: int | None, conn_id: str | None = None
) -> PreparedUpload:
    """A local file; it is opened again (and measured again) for every attempt."""
    if conn_id:
        log.info("source_conn_id=%r is not used for the local file %s.", conn_id, path)
    size = _regular_file_size(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(HEAD_BYTES)
    except OSError as error:
        raise RiffusionSourceError(f"source {str(path)!r} cannot be read ({describe_error(error)}).") from None
    kind = resolve_kind(str(path), path.suffix, head, content_type)
    check_size(str(path), size, max_bytes)

    def reopen() -> Opened:
        _regular_file_size(path)  # still a regular file: a FIFO swapped in would block the open
        stream = path.open("rb")
        return Opened(cast(IO[bytes], stream), os.fstat(stream.fileno()).st_size)

    return PreparedUpload(
        file_name=resolve_file_name(file_name, path.name),
        content_type=content_type_for(kind, content_type),
        size=size,
        description=str(path),
        uri=path.resolve().as_uri(),
        opener=reopen,
        max_bytes=max_bytes,
    )


def _regular_file_size(path: Path) -> int:
    """The size of a regular file; anything else is refused before it is opened (a FIFO would block)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise RiffusionSourceError(f"source {str(path)!r} does not exist: check the path on the worker.") from None
    except OSError as error:
        raise RiffusionSourceError(f"source {str(path)!r} cannot be read ({describe_error(error)}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise RiffusionInputError(f"source {str(path)!r} is a directory: pass one audio file.")
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "a device"
        raise RiffusionInputError(f"source {str(path)!r} is {kind}, not a regular file: pass one audio file.")
    return info.st_size


def prepare_bytes(
    data: bytes, file_name: str | None, content_type: str | None, max_bytes: int | None
) -> PreparedUpload:
    """Bytes in memory (hook users); ``file_name`` is required, its extension counts as the source's."""
    if not file_name:
        raise RiffusionInputError("file_name is required when source is bytes: the API needs a name.")
    suffix = PurePosixPath(file_name).suffix
    kind = resolve_kind("the bytes", suffix, data[:HEAD_BYTES], content_type)
    check_size("the bytes", len(data), max_bytes)
    return PreparedUpload(
        file_name=resolve_file_name(file_name, file_name),
        content_type=content_type_for(kind, content_type),
        size=len(data),
        description=f"{len(data)} bytes in memory",
        opener=lambda: Opened(io.BytesIO(data), len(data)),
        max_bytes=max_bytes,
    )


def prepare_file_object(
    stream: IO[bytes], file_name: str | None, content_type: str | None, max_bytes: int | None
) -> PreparedUpload:
    """A caller's seekable binary file object, sent from its current position; the caller keeps it open."""
    name = file_name or os.path.basename(str(getattr(stream, "name", "") or ""))
    if not name:
        raise RiffusionInputError("file_name is required when source is a file object without a name.")
    if not (hasattr(stream, "seek") and hasattr(stream, "tell")) or not stream.seekable():
        raise RiffusionInputError(
            "source is a file object that cannot seek: a retried upload must re-send it from the start. "
            "Pass a path, bytes or a seekable binary file."
        )
    if isinstance(stream, io.TextIOBase) or "b" not in getattr(stream, "mode", "b"):
        raise RiffusionInputError("source is a text file object: open the file in binary mode ('rb').")
    start = stream.tell()
    head = stream.read(HEAD_BYTES)
    end = stream.seek(0, os.SEEK_END)
    stream.seek(start)
    size = end - start
    kind = resolve_kind(name, PurePosixPath(name).suffix, head, content_type)
    check_size(name, size, max_bytes)

    def reopen() -> Opened:
        end = stream.seek(0, os.SEEK_END)
        stream.seek(start)
        return Opened(cast(IO[bytes], _Unclosable(stream)), end - start)

    return PreparedUpload(
        file_name=resolve_file_name(file_name, name),
        content_type=content_type_for(kind, content_type),
        size=size,
        description=f"file object {name!r}",
        opener=reopen,
        max_bytes=max_bytes,
    )


class _Unclosable(io.RawIOBase):
    """Lets the hook close what it opened without closing a caller's own file object."""

    def __init__(self, stream: IO[bytes]):
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def close(self) -> None:  # the caller owns the stream
        pass
