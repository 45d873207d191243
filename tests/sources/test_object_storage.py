"""Object storage (``sources/object_storage.py``) through the hook: memory:// and file:// paths, refused schemes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators.riffusion import UploadAudioOperator
from airflow_provider_riffusion.sources import prepare_source as prepare_upload
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from tests.sources._support import (
    M4A_16KIB,
    MP3_1MIB,
    OBJECT_STORAGE_ON_AIRFLOW_2,
    one_line,
    posts,
    sha256,
)
from tests.support import refused

# --- object storage ------------------------------------------------------------------------


def _attach(protocol: str, fs: Any, conn_id: str | None = None) -> None:
    try:
        from airflow.sdk.io import attach
    except ImportError:  # Airflow 2.11
        from airflow.io import attach  # type: ignore[no-redef,attr-defined,unused-ignore]
    attach(protocol=protocol, conn_id=conn_id, fs=fs)


class StudioStore(MemoryFileSystem):
    """An in-memory store of its own, attached under a connection id, that counts how often it opens files."""

    store: ClassVar[dict[str, Any]] = {}
    pseudo_dirs: ClassVar[list[str]] = [""]
    opens = 0

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        type(self).opens += 1
        return super()._open(path, mode, **kwargs)


_buckets = itertools.count()


@pytest.fixture
def bucket() -> Iterator[str]:
    """A fresh bucket in the shared ``memory://`` store (attached to Airflow once)."""
    if OBJECT_STORAGE_ON_AIRFLOW_2.args[0]:
        pytest.skip(OBJECT_STORAGE_ON_AIRFLOW_2.kwargs["reason"])
    fs = MemoryFileSystem()
    _attach("memory", fs)
    name = f"bucket-{next(_buckets)}"
    yield name
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


@pytest.fixture
def studio() -> Iterator[StudioStore]:
    if OBJECT_STORAGE_ON_AIRFLOW_2.args[0]:
        pytest.skip(OBJECT_STORAGE_ON_AIRFLOW_2.kwargs["reason"])
    fs = StudioStore()
    _attach("memory", fs, conn_id="studio_store")
    yield fs
    StudioStore.store.clear()


@pytest.mark.parametrize("form", ["ObjectStoragePath", "uri"])
def test_memory_object_is_streamed_with_content_length(connection: RiffusionEmulator, bucket: str, form: str) -> None:
    path = ObjectStoragePath(f"memory://{bucket}/tracks/Take Two.mp3")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(MP3_1MIB)

    result = RiffusionHook().upload_audio(path if form == "ObjectStoragePath" else str(path))

    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256(MP3_1MIB)
    assert record.file_name == "Take Two"
    assert record.content_type == "audio/mpeg"
    assert not record.chunked


def test_file_object_storage_path(connection: RiffusionEmulator, tmp_path: Path, wav) -> None:
    local = tmp_path / "field recording.wav"
    local.write_bytes(wav)

    result = RiffusionHook().upload_audio(ObjectStoragePath(f"file://{local}"))  # not escaped

    assert result["file_name"] == "field recording"
    assert [(r.sha256, r.chunked) for r in connection.uploads] == [(sha256(wav), False)]


def test_connection_comes_from_the_path_or_source_conn_id(
    connection: RiffusionEmulator, studio: StudioStore, bucket: str
) -> None:
    # ``bucket`` attaches the default memory:// store, which has no such object.
    studio.pipe("/masters/mix.m4a", M4A_16KIB)
    uri = "memory://masters/mix.m4a"

    with pytest.raises(exc.RiffusionInputError, match="does not exist"):
        RiffusionHook().upload_audio(uri)  # the default memory store has no such object
    by_argument = RiffusionHook().upload_audio(uri, source_conn_id="studio_store")
    by_path = RiffusionHook().upload_audio(ObjectStoragePath(uri, conn_id="studio_store"))

    assert by_argument["sha256"] == by_path["sha256"] == sha256(M4A_16KIB)
    assert [record.file_name for record in connection.uploads] == ["mix", "mix"]


def test_operator_passes_source_conn_id_for_a_uri(connection: RiffusionEmulator, studio: StudioStore) -> None:
    studio.pipe("/masters/op-conn.m4a", M4A_16KIB)

    result = UploadAudioOperator(
        task_id="up", source="memory://masters/op-conn.m4a", source_conn_id="studio_store"
    ).execute({})

    assert result["sha256"] == sha256(M4A_16KIB)
    assert [record.file_name for record in connection.uploads] == ["op-conn"]


@OBJECT_STORAGE_ON_AIRFLOW_2
def test_path_and_source_conn_id_naming_different_connections_refused(connection: RiffusionEmulator) -> None:
    path = ObjectStoragePath("memory://masters/mix.m4a", conn_id="studio_store")
    with pytest.raises(exc.RiffusionInputError, match="names connection 'studio_store' but source_conn_id"):
        RiffusionHook().upload_audio(path, source_conn_id="other")


def test_every_upload_attempt_reopens_the_object(connection: RiffusionEmulator, studio: StudioStore) -> None:
    studio.pipe("/masters/retry.mp3", MP3_1MIB)
    StudioStore.opens = 0
    connection.inject(Fault(method="POST", path="music/upload-audio", kind="status", status=429, times=2))

    result = RiffusionHook().upload_audio(ObjectStoragePath("memory://masters/retry.mp3", conn_id="studio_store"))

    assert StudioStore.opens == 3  # the object opened to check it serves the first attempt
    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256(MP3_1MIB)


@pytest.mark.parametrize(
    ("key", "fragment"), [("tracks/none.mp3", "does not exist"), ("tracks", "directory or prefix")]
)
def test_missing_object_or_prefix_refused(connection: RiffusionEmulator, bucket: str, key: str, fragment: str) -> None:
    (ObjectStoragePath(f"memory://{bucket}/tracks") / "other.mp3").write_bytes(MP3_1MIB)

    with pytest.raises(exc.RiffusionInputError) as raised:
        RiffusionHook().upload_audio(f"memory://{bucket}/{key}")

    assert fragment in one_line(raised.value)
    assert posts(connection) == 0


def test_object_contradicting_its_extension_refused(connection: RiffusionEmulator, bucket: str, wav) -> None:
    ObjectStoragePath(f"memory://{bucket}/fake.m4a").write_bytes(wav)
    with pytest.raises(exc.RiffusionInputError, match="typed as m4a but its bytes are wav"):
        RiffusionHook().upload_audio(f"memory://{bucket}/fake.m4a")


def test_operator_uploads_an_object_storage_path(connection: RiffusionEmulator, bucket: str) -> None:
    path = ObjectStoragePath(f"memory://{bucket}/op.mp3")
    path.write_bytes(MP3_1MIB)

    result = UploadAudioOperator(task_id="up", source=path).execute({})

    assert result["sha256"] == sha256(MP3_1MIB)
    assert [record.file_name for record in connection.uploads] == ["op"]


# --- schemes refused before any request ----------------------------------------------------


@pytest.mark.parametrize(
    ("source", "provider"),
    [
        ("s3://bucket/song.mp3", "apache-airflow-providers-amazon"),
        ("gs://bucket/song.wav", "apache-airflow-providers-google"),
    ],
)
def test_object_storage_without_its_filesystem_refused(source: str, provider: str) -> None:
    # Object storage is read through Airflow (the tests above); a scheme whose provider is not
    # installed is refused before any request, naming what to install.
    scheme = source.split("://")[0]
    with refused(source, f"{scheme}://", provider):
        prepare_upload(source)


@OBJECT_STORAGE_ON_AIRFLOW_2
def test_unknown_scheme_refused() -> None:
    with refused("zzz://bucket/song.mp3", "object-storage URI"):
        prepare_upload("zzz://bucket/song.mp3")
