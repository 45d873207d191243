"""http(s) URLs (``sources/http.py``) through the hook: a remote on 127.0.0.1 serves them, the emulator takes them."""

from __future__ import annotations

import socket
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators.riffusion import UploadAudioOperator
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from tests.sources._support import M4A_16KIB, MP3_1MIB, one_line, posts, sha256
from tests.support import TOKEN

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
    url = remote.add("/chunked/loop.mp3", body=MP3_1MIB, content_type="audio/mpeg", chunked=True)

    result = RiffusionHook().upload_audio(url)

    [record] = connection.uploads
    assert record.chunked
    assert record.sha256 == result["sha256"] == sha256(MP3_1MIB)
    assert record.bytes == len(MP3_1MIB)
    assert record.file_name == "loop"


def test_url_without_extension_takes_the_remotes_content_type(connection: RiffusionEmulator, remote: Remote) -> None:
    url = remote.add("/stream/track", body=M4A_16KIB, content_type="audio/x-m4a; charset=binary", chunked=True)

    result = RiffusionHook().upload_audio(url)

    [record] = connection.uploads
    assert record.file_name == result["file_name"] == "track"
    assert record.content_type == result["content_type"] == "audio/mp4"
    assert record.sha256 == sha256(M4A_16KIB)


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
    remote.add("/tracks/song.m4a", body=M4A_16KIB, content_type="audio/mp4")
    url = remote.add("/go/latest", status=302, location="/tracks/song.m4a")

    result = RiffusionHook().upload_audio(url)

    assert result["file_name"] == "song"
    assert result["content_type"] == "audio/mp4"
    assert [record.sha256 for record in connection.uploads] == [sha256(M4A_16KIB)]


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
    url = remote.add("/tracks/retry.mp3", body=MP3_1MIB, content_type="audio/mpeg", chunked=chunked)
    connection.inject(Fault(method="POST", path="music/upload-audio", kind="status", status=503, times=2))

    result = RiffusionHook().upload_audio(url)

    assert remote.gets["/tracks/retry.mp3"] == 3
    assert posts(connection) == 3
    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256(MP3_1MIB)
    assert record.chunked is chunked


def test_remote_breaking_mid_body_is_fetched_again_and_sent_whole(
    connection: RiffusionEmulator, remote: Remote
) -> None:
    url = remote.add("/tracks/flaky.mp3", body=MP3_1MIB * 4, content_type="audio/mpeg", break_first=1)

    result = RiffusionHook().upload_audio(url)

    assert remote.gets["/tracks/flaky.mp3"] == 2
    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256(MP3_1MIB * 4)
    assert not record.chunked


def test_remote_that_keeps_breaking_fails_naming_the_url(connection: RiffusionEmulator, remote: Remote) -> None:
    url = remote.add("/tracks/broken-body.mp3", body=MP3_1MIB * 4, content_type="audio/mpeg", break_first=99)

    with pytest.raises(exc.RiffusionNetworkError) as raised:
        RiffusionHook().upload_audio(url)

    message = one_line(raised.value)
    assert f"Reading {remote.url('/tracks/broken-body.mp3')} failed" in message
    assert "after 3 attempts" in message or "attempt 3" in message
    assert connection.uploads == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_url_over_max_bytes_is_refused(connection: RiffusionEmulator, remote: Remote, chunked: bool) -> None:
    url = remote.add("/tracks/long.mp3", body=MP3_1MIB, content_type="audio/mpeg", chunked=chunked)

    with pytest.raises(exc.RiffusionInputError, match="max_bytes=1000"):
        RiffusionHook().upload_audio(url, max_bytes=1000)

    assert connection.uploads == []
    assert remote.gets["/tracks/long.mp3"] == 1


def test_url_refuses_source_conn_id(connection: RiffusionEmulator, remote: Remote) -> None:
    url = remote.add("/tracks/a.mp3", body=MP3_1MIB, content_type="audio/mpeg")
    with pytest.raises(exc.RiffusionInputError, match="source_conn_id"):
        RiffusionHook().upload_audio(url, source_conn_id="aws_default")
    assert remote.gets["/tracks/a.mp3"] == 0


def test_operator_uploads_from_a_url(connection: RiffusionEmulator, remote: Remote) -> None:
    url = remote.add("/tracks/from operator.mp3", body=MP3_1MIB, content_type="audio/mpeg", chunked=True)

    result = UploadAudioOperator(task_id="up", source=url).execute({})

    assert result["file_name"] == "from operator"
    assert [record.sha256 for record in connection.uploads] == [sha256(MP3_1MIB)]
