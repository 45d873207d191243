"""Every kind of source, uploaded through the hook to the emulator: what arrives is what the source held.

Remote sources are served by a small HTTP server on 127.0.0.1 (with and without Content-Length,
redirects, errors, a connection that breaks mid-body); object storage by fsspec's in-memory
filesystem attached to Airflow, and by ``file://``.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import socket
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

import pytest
import requests
from airflow.providers.common.compat.sdk import ObjectStoragePath
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.audio import HashingReader, SourceReadError
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators.riffusion import UploadAudioOperator
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from tests.support import TOKEN, write_wav

OBJECT_STORAGE_ON_AIRFLOW_2 = pytest.mark.skipif(
    int(version("apache-airflow").split(".")[0]) < 3,
    reason="object-storage sources are supported and tested on Airflow 3 (2.11's ObjectStoragePath differs)",
)

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 4096  # 1 MiB and a bit
M4A = b"\x00\x00\x00\x20ftypM4A " + bytes(range(256)) * 64


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def posts(emulator: RiffusionEmulator) -> int:
    return sum(1 for r in emulator.requests if r["method"] == "POST" and "upload-audio" in r["path"])


def one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message
    return message


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_wav(tmp_path_factory.mktemp("wav") / "tone.wav", seconds=1.0).read_bytes()


# --- a remote to fetch from ----------------------------------------------------------------


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/octet-stream"
    status: int = 200
    chunked: bool = False
    location: str | None = None
    break_first: int = 0
    """How many GETs stop halfway through the body (after announcing all of it)."""


class Remote:
    """Files served over HTTP/1.1 on 127.0.0.1; counts GETs and keeps the headers it received."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.gets: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        self._server = _QuietServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.remote = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, path: str, userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"http://{at}127.0.0.1:{self._server.server_address[1]}{quote(path, safe='/?=&')}"

    def add(self, path: str, **route: Any) -> str:
        self.routes[path] = Route(**route)
        return self.url(path)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _QuietServer(ThreadingHTTPServer):
    """Drops a connection the client reset without printing a traceback (tests break them on purpose)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        remote: Remote = self.server.remote  # type: ignore[attr-defined]
        path = unquote(urlsplit(self.path).path)
        remote.gets[path] += 1
        remote.headers.append(dict(self.headers))
        route = remote.routes.get(path, Route(status=404))
        self.send_response(route.status)
        if route.location:
            self.send_header("Location", route.location)
        self.send_header("Content-Type", route.content_type)
        if route.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(route.body), 65536):
                piece = route.body[start : start + 65536]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.break_first and remote.gets[path] <= route.break_first:
            self.wfile.write(route.body[: len(route.body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(route.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def remote() -> Iterator[Remote]:
    server = Remote()
    yield server
    server.close()


# --- http(s) URLs --------------------------------------------------------------------------


def test_url_with_content_length_is_streamed_with_content_length(connection: RiffusionEmulator, remote: Remote, wav):
    url = remote.add("/tracks/take one.wav", body=wav, content_type="audio/wav")

    result = RiffusionHook().upload_audio(url)

    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256(wav)
    assert record.bytes == result["bytes"] == len(wav)
    assert not record.chunked
    assert record.file_name == result["file_name"] == "take one"
    assert record.content_type == "audio/wav"
    assert remote.gets["/tracks/take one.wav"] == 1  # the response that was checked is the one sent
    assert all("Authorization" not in headers and TOKEN not in str(headers) for headers in remote.headers)


def test_url_without_content_length_is_sent_chunked(connection: RiffusionEmulator, remote: Remote) -> None:
    url = remote.add("/chunked/loop.mp3", body=MP3, content_type="audio/mpeg", chunked=True)

    result = RiffusionHook().upload_audio(url)

    [record] = connection.uploads
    assert record.chunked
    assert record.sha256 == result["sha256"] == sha256(MP3)
    assert record.bytes == len(MP3)
    assert record.file_name == "loop"


def test_url_without_extension_takes_the_remotes_content_type(connection: RiffusionEmulator, remote: Remote) -> None:
    url = remote.add("/stream/track", body=M4A, content_type="audio/x-m4a; charset=binary", chunked=True)

    result = RiffusionHook().upload_audio(url)

    [record] = connection.uploads
    assert record.file_name == result["file_name"] == "track"
    assert record.content_type == result["content_type"] == "audio/mp4"
    assert record.sha256 == sha256(M4A)


def test_url_without_extension_or_audio_type_is_sniffed(connection: RiffusionEmulator, remote: Remote, wav) -> None:
    url = remote.add("/download", body=wav, content_type="application/octet-stream")

    result = RiffusionHook().upload_audio(url + "?id=7")

    assert result["content_type"] == "audio/wav"
    assert result["file_name"] == "download"
    assert [record.sha256 for record in connection.uploads] == [sha256(wav)]


@pytest.mark.parametrize(
    ("path", "content_type", "fragments"),
    [
        ("/stream/liar", "audio/mpeg", ("served as audio/mpeg", "bytes are wav", "content_type")),
        ("/tracks/fake.mp3", "audio/mpeg", ("typed as mp3", "bytes are wav", "fix the extension")),
    ],
)
def test_url_whose_name_or_type_contradicts_its_bytes_is_refused(
    connection: RiffusionEmulator, remote: Remote, wav, path: str, content_type: str, fragments: tuple[str, ...]
) -> None:
    url = remote.add(path, body=wav, content_type=content_type)

    with pytest.raises(exc.RiffusionInputError) as raised:
        RiffusionHook().upload_audio(url)

    message = one_line(raised.value)
    assert all(fragment in message for fragment in fragments), message
    assert posts(connection) == 0


def test_redirect_is_followed_and_names_the_track(connection: RiffusionEmulator, remote: Remote) -> None:
    remote.add("/tracks/song.m4a", body=M4A, content_type="audio/mp4")
    url = remote.add("/go/latest", status=302, location="/tracks/song.m4a")

    result = RiffusionHook().upload_audio(url)

    assert result["file_name"] == "song"
    assert result["content_type"] == "audio/mp4"
    assert [record.sha256 for record in connection.uploads] == [sha256(M4A)]


def test_404_is_refused_naming_the_url_without_credentials(connection: RiffusionEmulator, remote: Remote) -> None:
    url = remote.url("/missing.mp3?signature=s3cr3t-sig", userinfo="dj:hunter2")

    with pytest.raises(exc.RiffusionInputError) as raised:
        RiffusionHook().upload_audio(url)

    message = one_line(raised.value)
    assert f"{remote.url('/missing.mp3')}?..." in message
    assert "404 Not Found" in message
    assert "hunter2" not in message and "s3cr3t" not in message and "dj:" not in message
    assert remote.gets["/missing.mp3"] == 1  # refusals are not retried
    assert posts(connection) == 0


def test_remote_server_error_is_retried_then_a_network_error(connection: RiffusionEmulator, remote: Remote) -> None:
    url = remote.add("/broken.mp3", status=503)

    with pytest.raises(exc.RiffusionNetworkError) as raised:
        RiffusionHook().upload_audio(url)

    message = one_line(raised.value)
    assert remote.url("/broken.mp3") in message and "503" in message
    assert remote.gets["/broken.mp3"] == 3  # the connection's max_attempts
    assert posts(connection) == 0


def test_unreachable_remote_is_a_network_error_naming_the_url(connection: RiffusionEmulator) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    url = f"http://user:hunter2@127.0.0.1:{port}/a.mp3"

    with pytest.raises(exc.RiffusionNetworkError) as raised:
        RiffusionHook().upload_audio(url)

    message = one_line(raised.value)
    assert f"Could not fetch http://127.0.0.1:{port}/a.mp3" in message
    assert "hunter2" not in message
    assert posts(connection) == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_every_upload_attempt_fetches_the_url_again(
    connection: RiffusionEmulator, remote: Remote, chunked: bool
) -> None:
    url = remote.add("/tracks/retry.mp3", body=MP3, content_type="audio/mpeg", chunked=chunked)
    connection.inject(Fault(method="POST", path="music/upload-audio", kind="status", status=503, times=2))

    result = RiffusionHook().upload_audio(url)

    assert remote.gets["/tracks/retry.mp3"] == 3
    assert posts(connection) == 3
    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256(MP3)
    assert record.chunked is chunked


def test_remote_breaking_mid_body_is_fetched_again_and_sent_whole(
    connection: RiffusionEmulator, remote: Remote
) -> None:
    url = remote.add("/tracks/flaky.mp3", body=MP3 * 4, content_type="audio/mpeg", break_first=1)

    result = RiffusionHook().upload_audio(url)

    assert remote.gets["/tracks/flaky.mp3"] == 2
    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256(MP3 * 4)
    assert not record.chunked


def test_remote_that_keeps_breaking_fails_naming_the_url(connection: RiffusionEmulator, remote: Remote) -> None:
    url = remote.add("/tracks/broken-body.mp3", body=MP3 * 4, content_type="audio/mpeg", break_first=99)

    with pytest.raises(exc.RiffusionNetworkError) as raised:
        RiffusionHook().upload_audio(url)

    message = one_line(raised.value)
    assert f"Reading {remote.url('/tracks/broken-body.mp3')} failed" in message
    assert not raised.value.body_sent
    assert "after 3 attempts" in message or "attempt 3" in message
    assert connection.uploads == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_url_over_max_bytes_is_refused(connection: RiffusionEmulator, remote: Remote, chunked: bool) -> None:
    url = remote.add("/tracks/long.mp3", body=MP3, content_type="audio/mpeg", chunked=chunked)

    with pytest.raises(exc.RiffusionInputError, match="max_bytes=1000"):
        RiffusionHook().upload_audio(url, max_bytes=1000)

    assert connection.uploads == []
    assert remote.gets["/tracks/long.mp3"] == 1


def test_url_refuses_source_conn_id(connection: RiffusionEmulator, remote: Remote) -> None:
    url = remote.add("/tracks/a.mp3", body=MP3, content_type="audio/mpeg")
    with pytest.raises(exc.RiffusionInputError, match="source_conn_id"):
        RiffusionHook().upload_audio(url, source_conn_id="aws_default")
    assert remote.gets["/tracks/a.mp3"] == 0


def test_operator_uploads_from_a_url(connection: RiffusionEmulator, remote: Remote) -> None:
    url = remote.add("/tracks/from operator.mp3", body=MP3, content_type="audio/mpeg", chunked=True)

    result = UploadAudioOperator(task_id="up", source=url).execute({})

    assert result["file_name"] == "from operator"
    assert [record.sha256 for record in connection.uploads] == [sha256(MP3)]


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
    path.write_bytes(MP3)

    result = RiffusionHook().upload_audio(path if form == "ObjectStoragePath" else str(path))

    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256(MP3)
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
    studio.pipe("/masters/mix.m4a", M4A)
    uri = "memory://masters/mix.m4a"

    with pytest.raises(exc.RiffusionInputError, match="does not exist"):
        RiffusionHook().upload_audio(uri)  # the default memory store has no such object
    by_argument = RiffusionHook().upload_audio(uri, source_conn_id="studio_store")
    by_path = RiffusionHook().upload_audio(ObjectStoragePath(uri, conn_id="studio_store"))

    assert by_argument["sha256"] == by_path["sha256"] == sha256(M4A)
    assert [record.file_name for record in connection.uploads] == ["mix", "mix"]


def test_operator_passes_source_conn_id_for_a_uri(connection: RiffusionEmulator, studio: StudioStore) -> None:
    studio.pipe("/masters/op-conn.m4a", M4A)

    result = UploadAudioOperator(
        task_id="up", source="memory://masters/op-conn.m4a", source_conn_id="studio_store"
    ).execute({})

    assert result["sha256"] == sha256(M4A)
    assert [record.file_name for record in connection.uploads] == ["op-conn"]


@OBJECT_STORAGE_ON_AIRFLOW_2
def test_path_and_source_conn_id_naming_different_connections_refused(connection: RiffusionEmulator) -> None:
    path = ObjectStoragePath("memory://masters/mix.m4a", conn_id="studio_store")
    with pytest.raises(exc.RiffusionInputError, match="names connection 'studio_store' but source_conn_id"):
        RiffusionHook().upload_audio(path, source_conn_id="other")


def test_every_upload_attempt_reopens_the_object(connection: RiffusionEmulator, studio: StudioStore) -> None:
    studio.pipe("/masters/retry.mp3", MP3)
    StudioStore.opens = 0
    connection.inject(Fault(method="POST", path="music/upload-audio", kind="status", status=429, times=2))

    result = RiffusionHook().upload_audio(ObjectStoragePath("memory://masters/retry.mp3", conn_id="studio_store"))

    assert StudioStore.opens == 3  # the object opened to check it serves the first attempt
    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256(MP3)


@pytest.mark.parametrize(
    ("key", "fragment"), [("tracks/none.mp3", "does not exist"), ("tracks", "directory or prefix")]
)
def test_missing_object_or_prefix_refused(connection: RiffusionEmulator, bucket: str, key: str, fragment: str) -> None:
    (ObjectStoragePath(f"memory://{bucket}/tracks") / "other.mp3").write_bytes(MP3)

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
    path.write_bytes(MP3)

    result = UploadAudioOperator(task_id="up", source=path).execute({})

    assert result["sha256"] == sha256(MP3)
    assert [record.file_name for record in connection.uploads] == ["op"]


# --- local sources (the hook's older forms), for completeness ------------------------------


@pytest.mark.parametrize("form", ["path", "str", "file_uri", "bytes", "file_object"])
def test_local_sources_are_sent_with_content_length(
    connection: RiffusionEmulator, tmp_path: Path, wav, form: str
) -> None:
    local = tmp_path / "local take.wav"
    local.write_bytes(wav)
    with local.open("rb") as handle:
        source: Any = {
            "path": local,
            "str": str(local),
            "file_uri": local.as_uri(),
            "bytes": wav,
            "file_object": handle,
        }[form]
        result = RiffusionHook().upload_audio(source, file_name="local take.wav")

    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256(wav)
    assert record.file_name == "local take"
    assert not record.chunked


@pytest.mark.parametrize("source", [b"ID3\x04" + bytes(64), io.BytesIO(b"ID3\x04" + bytes(64))])
def test_in_memory_sources_refuse_source_conn_id(connection: RiffusionEmulator, source: Any) -> None:
    with pytest.raises(exc.RiffusionInputError, match="source_conn_id"):
        RiffusionHook().upload_audio(source, file_name="a.mp3", source_conn_id="aws_default")


# --- the body as requests sends it ---------------------------------------------------------


def _prepared_headers(reader: HashingReader) -> dict[str, str]:
    request = requests.Request("POST", "http://127.0.0.1/upload", data=reader).prepare()
    return dict(request.headers)


def test_reader_of_known_size_gets_a_content_length() -> None:
    headers = _prepared_headers(HashingReader(io.BytesIO(MP3), len(MP3)))
    assert headers.get("Content-Length") == str(len(MP3))
    assert "Transfer-Encoding" not in headers


def test_reader_of_unknown_size_is_sent_chunked_and_has_no_len() -> None:
    reader = HashingReader(io.BytesIO(MP3), None)
    assert not hasattr(reader, "__len__")  # requests calls len() whenever __len__ exists
    headers = _prepared_headers(reader)
    assert headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in headers


def test_sized_reader_that_runs_short_fails_before_the_body_is_complete() -> None:
    reader = HashingReader(io.BytesIO(MP3[:100]), 200, where="the source")
    with pytest.raises(SourceReadError, match="ended after 100 of 200 bytes"):
        b"".join(reader)
    assert not reader.complete  # so the upload may be retried: the API cannot have taken it


def test_sized_reader_never_sends_more_than_it_announced(caplog: pytest.LogCaptureFixture) -> None:
    reader = HashingReader(io.BytesIO(MP3[:300]), 200, where="the source")

    with caplog.at_level("WARNING", logger="airflow_provider_riffusion.audio"):
        body = b"".join(reader)

    assert body == MP3[:200]
    assert reader.complete  # the announced body went out whole: no retry, so no duplicate
    assert reader.sha256 == sha256(MP3[:200])
    assert "grew while it was sent" in caplog.text
