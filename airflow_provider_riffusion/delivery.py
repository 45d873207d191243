"""Where downloaded songs go: a local folder or any object store, never half a file under the final name.

A destination is a local path, a ``file://`` URI, an ``ObjectStoragePath`` or an object-storage URI
(``s3://bucket/songs/``, ``memory://...``), read through Airflow's object storage with its
``conn_id`` (or ``destination_conn_id``). File names are made from the song's title and id, with
safe characters only, so a retry writes the same name, and two songs never share one. A local file
is written under a temporary name and renamed into place (atomic); an object store shows an object
only once its write completed (an S3 or GCS upload, a memory file on close), so its final key is
written directly; any other filesystem gets a temporary name and a move. Each stored song gets a
record of its sha256 beside it (:attr:`Target.record`), which is what lets a retry keep it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from airflow_provider_riffusion.exceptions import (
    RiffusionDestinationError,
    RiffusionError,
    RiffusionInputError,
    RiffusionStorageError,
    error_chain,
    is_network_trouble,
)

FORMATS = {"mp3": ("mp3", "audio/mpeg"), "wav": ("wav", "audio/wav"), "stems": ("stems.json", "application/json")}
"""``download_format`` -> (file extension, the Content-Type expected)."""
ATOMIC_ON_CLOSE = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "memory"})
"""Object stores that make an object visible only when its write completes."""
CHUNK = 1024 * 1024
MAX_ID_IN_NAME = 120
"""Longer ids are cut (and so get a digest): a name stays well under the 255 bytes filesystems allow."""
DIGEST_MARK = re.compile(r"-h[0-9a-f]{12}$", re.IGNORECASE)
"""How a name made unique by a digest ends; an id that already ends so gets a digest too, so no id can
borrow another's name."""
TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO})
"""Storage errors that may pass (a full disk or quota, an I/O error): the task's retry may succeed."""


def check_format(download_format: str) -> str:
    if download_format not in FORMATS:
        raise RiffusionInputError(
            f"download_format {download_format!r} is not one the API serves: use mp3, wav or stems."
        )
    return download_format


def song_file_name(song_id: str, title: Any, download_format: str) -> str:
    """``<title>-<song id>.<ext>``: lower-case ASCII letters, digits and dashes in the title, safe characters only.

    An id made only of ``A-Z a-z 0-9 _ . -`` (as the API's UUIDs are) is used as it is, so files stored by
    release 0.2.0 are still found. Any other id is sanitised and followed by ``-h`` and 12 hex digits of the
    sha256 of the whole id: ``a/b`` and ``a?b`` both sanitise to ``a-b``, and must not share (and so lose)
    one file. An id that already ends like such a digest, or is too long, gets one too.
    """
    plain = unicodedata.normalize("NFKD", str(title or "")).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:60].rstrip("-")
    safe_id = re.sub(r"[^A-Za-z0-9_.-]+", "-", song_id).strip("-.") or "song"
    if safe_id != song_id or len(song_id) > MAX_ID_IN_NAME or DIGEST_MARK.search(song_id):
        digest = hashlib.sha256(song_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        safe_id = f"{safe_id[:MAX_ID_IN_NAME].rstrip('-.') or 'song'}-h{digest}"
    extension = FORMATS[download_format][0]
    return f"{slug}-{safe_id}.{extension}" if slug else f"{safe_id}.{extension}"


@dataclass(frozen=True)
class Target:
    """One file to write: a local ``Path``, or an ``ObjectStoragePath``."""

    path: Any

    @property
    def local(self) -> bool:
        # A plain pathlib.Path is local; an ObjectStoragePath (a Path subclass on Airflow 3.0 and 3.1) is not, and
        # has a protocol. (pathlib's classes live in pathlib._local from Python 3.13: their module is no test.)
        return isinstance(self.path, Path) and not hasattr(self.path, "protocol")

    @property
    def uri(self) -> str:
        """What the file is called in lineage and asset events: ``file:///abs/path`` or ``scheme://bucket/key``."""
        if self.local:
            return self.path.resolve().as_uri()
        return f"{self.path.protocol}://{str(self.path.path).lstrip('/')}"

    @property
    def shown(self) -> str:
        """The path as outputs show it: a local path, or the object's URI (without any connection id)."""
        return str(self.path) if self.local else self.uri

    def size(self) -> int | None:
        """The size of what is already there, or None."""
        try:
            if self.local:
                return self.path.stat().st_size if self.path.is_file() else None
            return int(self.path.stat()["size"]) if self.path.is_file() else None
        except (OSError, KeyError, TypeError, ValueError):
            return None

    @property
    def name(self) -> str:
        return str(self.path.name)

    @property
    def record(self) -> Target:
        """Where a stored song's sha256 is recorded: ``.<name>.sha256`` beside it, as ``sha256sum`` writes it.

        Written only once the song was stored whole and checked, so a record means a complete song of
        the id its name holds. A file beside the song, because it works alike on a local disk and on
        every object store (object metadata does not), and ``sha256sum -c`` reads it. A size alone is
        no proof: songs of one length share it, and so did the files of two ids 0.2.0 named alike.
        """
        return Target(self.path.with_name(f".{self.name}.sha256"))

    def kept(self, length: int | None) -> tuple[int, str] | None:
        """Size and sha256 of the song already here, when it is the one recorded: the record names this file, the
        file has ``length`` bytes (the answer's Content-Length, when it has one) and still hashes to the record.
        None, and so a fresh download, whenever any of that is missing or cannot be read."""
        try:
            with self.record.path.open("rb") as stream:
                recorded, _, name = stream.read(200).decode("ascii").strip().partition("  ")
            size = self.size()
            if name != self.name or not re.fullmatch(r"[0-9a-f]{64}", recorded) or size is None:
                return None
            if length is not None and size != length:
                return None
            return (size, recorded) if self.sha256() == recorded else None
        except Exception:  # no record, an unreadable one, a store that refuses: fetch the song again
            return None

    def write_record(self, sha256: str) -> None:
        """Record the sha256 of the song just stored (after it is in place: a crash between leaves no record)."""
        with self.record.writer() as stream:
            stream.write(f"{sha256}  {self.name}\n".encode("ascii"))

    def sha256(self) -> str:
        """The sha256 of what is already there, read in chunks."""
        digest = hashlib.sha256()
        with self.path.open("rb") as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    @contextlib.contextmanager
    def writer(self) -> Iterator[IO[bytes]]:
        """A stream to write the whole file to; only a write that finished shows under the final name."""
        if not self.local and self.path.protocol in ATOMIC_ON_CLOSE:
            with self.path.open("wb") as stream:
                yield stream
            return
        partial = self.path.with_name(f".{self.name}.partial-{uuid.uuid4().hex[:8]}")
        if self.local:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                with partial.open("wb") as stream:
                    yield stream
                os.replace(partial, self.path)
            finally:
                partial.unlink(missing_ok=True)
            return
        try:
            with partial.open("wb") as stream:
                yield stream
            partial.fs.mv(partial.path, self.path.path)
        finally:
            with contextlib.suppress(Exception):
                if partial.exists():
                    partial.unlink()


def folder(destination: Any, conn_id: str | None = None) -> Any:
    """The destination as a local ``Path`` or an ``ObjectStoragePath``, checked before anything is fetched."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    if isinstance(destination, ObjectStoragePath):
        path = destination
    else:
        text = os.fspath(destination).strip() if isinstance(destination, (str, os.PathLike)) else ""
        if not text:
            raise RiffusionInputError(f"destination {destination!r} is not a folder or an object-storage URI.")
        scheme = text.split("://", 1)[0].lower() if "://" in text else ""
        if scheme in ("", "file"):
            return Path(unquote(urlsplit(text).path) if scheme else text).expanduser()
        path = ObjectStoragePath(text, conn_id=conn_id)
    if path.protocol in ("file", "local"):
        return Path(path.path)
    try:
        path.fs  # noqa: B018 - the filesystem must exist for the scheme, before any song is fetched
    except Exception as error:
        raise RiffusionDestinationError(
            f"destination {path.protocol}://{path.path} cannot be written through Airflow's object storage "
            f"({type(error).__name__}): install the provider of its scheme, or attach a filesystem for it "
            "(airflow.sdk.io.attach, README: DownloadSongsOperator), or check the connection."
        ) from None
    return path


@contextlib.contextmanager
def writing_to(target: Target) -> Iterator[IO[bytes]]:
    """``target.writer()``, with the storage's own errors as one line of the family.

    A full disk or quota, an I/O error, or an object store out of reach may pass: the retryable
    :class:`RiffusionStorageError`. Refused permissions, a missing or wrong path, anything else: the
    fatal :class:`RiffusionDestinationError`, since a retry would meet it again.
    """
    try:
        with target.writer() as stream:
            yield stream
    except RiffusionError:
        raise
    except Exception as error:
        import requests

        if isinstance(error, requests.RequestException):
            raise  # the answer broke while it streamed: the transport's to report, and retry
        transient = any(isinstance(inner, OSError) and inner.errno in TRANSIENT_ERRNOS for inner in error_chain(error))
        if transient or is_network_trouble(error):
            raise RiffusionStorageError(
                f"Could not store {target.shown} for now ({_reason(error)}): free space on the destination or "
                "let the storage recover; the task's retry downloads the song again."
            ) from None
        raise RiffusionDestinationError(
            f"Could not write {target.shown} ({_reason(error)}): check the destination and its permissions."
        ) from None


def _reason(error: BaseException) -> str:
    """The OS's words and code for an OS error ('No space left on device, ENOSPC'); else the error, cut."""
    code = error.errno if isinstance(error, OSError) else None
    if isinstance(code, int) and code in errno.errorcode:
        return f"{type(error).__name__}: {os.strerror(code)}, {errno.errorcode[code]}"
    return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"


def target(root: Any, name: str) -> Target:
    return Target(root / name)
