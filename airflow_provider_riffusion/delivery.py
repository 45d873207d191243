"""Where downloaded songs go: a local folder or any object store, never half a file under the final name.

A destination is a local path, a ``file://`` URI, an ``ObjectStoragePath`` or an object-storage URI
(``s3://bucket/songs/``, ``memory://...``), read through Airflow's object storage with its
``conn_id`` (or ``destination_conn_id``). File names are made from the song's title and id, with
safe characters only, so a retry writes the same name. A local file is written under a temporary
name and renamed into place (atomic); an object store shows an object only once its write completed
(an S3 or GCS upload, a memory file on close), so its final key is written directly; any other
filesystem gets a temporary name and a move.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airflow_provider_riffusion.exceptions import RiffusionDestinationError, RiffusionError, RiffusionInputError

FORMATS = {"mp3": ("mp3", "audio/mpeg"), "wav": ("wav", "audio/wav"), "stems": ("stems.json", "application/json")}
"""``download_format`` -> (file extension, the Content-Type expected)."""
ATOMIC_ON_CLOSE = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "memory"})
"""Object stores that make an object visible only when its write completes."""
CHUNK = 1024 * 1024


def check_format(download_format: str) -> str:
    if download_format not in FORMATS:
        raise RiffusionInputError(
            f"download_format {download_format!r} is not one the API serves: use mp3, wav or stems."
        )
    return download_format


def song_file_name(song_id: str, title: Any, download_format: str) -> str:
    """``<title>-<song id>.<ext>``: lower-case ASCII letters, digits and dashes only; the id keeps it unique."""
    plain = unicodedata.normalize("NFKD", str(title or "")).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:60].rstrip("-")
    safe_id = re.sub(r"[^A-Za-z0-9_.-]+", "-", song_id).strip("-.") or "song"
    extension = FORMATS[download_format][0]
    return f"{slug}-{safe_id}.{extension}" if slug else f"{safe_id}.{extension}"


@dataclass(frozen=True)
class Target:
    """One file to write: a local path, or an object-storage path."""

    local: Path | None
    remote: Any = None

    @property
    def uri(self) -> str:
        """What the file is called in lineage and asset events: ``file:///abs/path`` or ``scheme://bucket/key``."""
        if self.local is not None:
            return self.local.resolve().as_uri()
        return f"{self.remote.protocol}://{str(self.remote.path).lstrip('/')}"

    @property
    def shown(self) -> str:
        """The path as outputs show it: a local path, or the object's URI (without any connection id)."""
        return str(self.local) if self.local is not None else self.uri

    def size(self) -> int | None:
        """The size of what is already there, or None."""
        try:
            if self.local is not None:
                return self.local.stat().st_size if self.local.is_file() else None
            return int(self.remote.stat()["size"]) if self.remote.is_file() else None
        except (OSError, KeyError, TypeError, ValueError):
            return None

    def sha256(self) -> str:
        """The sha256 of what is already there, read in chunks."""
        digest = hashlib.sha256()
        with self.local.open("rb") if self.local is not None else self.remote.open("rb") as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    @contextlib.contextmanager
    def writer(self) -> Iterator[IO[bytes]]:
        """A stream to write the whole file to; only a write that finished shows under the final name."""
        if self.local is not None:
            self.local.parent.mkdir(parents=True, exist_ok=True)
            partial = self.local.with_name(f".{self.local.name}.partial-{uuid.uuid4().hex[:8]}")
            try:
                with partial.open("wb") as stream:
                    yield stream
                os.replace(partial, self.local)
            finally:
                partial.unlink(missing_ok=True)
            return
        if self.remote.protocol in ATOMIC_ON_CLOSE:
            with self.remote.open("wb") as stream:
                yield stream
            return
        partial = self.remote.with_name(f".{self.remote.name}.partial-{uuid.uuid4().hex[:8]}")
        try:
            with partial.open("wb") as stream:
                yield stream
            partial.fs.mv(partial.path, self.remote.path)
        finally:
            with contextlib.suppress(Exception):
                if partial.exists():
                    partial.unlink()


def folder(destination: Any, conn_id: str | None = None) -> Any:
    """The destination as a local ``Path`` or an ``ObjectStoragePath``, checked before anything is fetched."""
    from urllib.parse import unquote, urlsplit

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
            f"({type(error).__name__}): install the provider of its scheme, or check the connection."
        ) from None
    return path


@contextlib.contextmanager
def writing_to(target: Target) -> Iterator[IO[bytes]]:
    """``target.writer()``, with the storage's own errors (permissions, a full disk) as one line of the family."""
    try:
        with target.writer() as stream:
            yield stream
    except RiffusionError:
        raise
    except Exception as error:
        import requests

        if isinstance(error, (requests.RequestException, ConnectionError, TimeoutError)):
            raise  # network trouble while the answer streams: the transport's to report, and retry
        raise RiffusionDestinationError(
            f"Could not write {target.shown} ({type(error).__name__}: {' '.join(str(error).split())[:200]}): "
            "check the destination and its permissions."
        ) from None


def target(root: Any, name: str) -> Target:
    # A plain pathlib.Path is local; an ObjectStoragePath (a Path subclass on Airflow 3.0 and 3.1) is not, and
    # has a protocol. (pathlib's classes live in pathlib._local from Python 3.13: their module is no test.)
    if isinstance(root, Path) and not hasattr(root, "protocol"):
        return Target(local=root / name)
    return Target(local=None, remote=root / name)
