"""Both HTTP clients (the hook's requests, the triggers' aiohttp) take the proxy from the environment alike.

A forwarding proxy on loopback stands between them and the emulator; NO_PROXY bypasses it.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger
from tests.support import one_event


class ForwardingProxy(ThreadingHTTPServer):
    """A plain-HTTP proxy: takes absolute-form requests, records them, forwards them, relays the answer."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: ForwardingProxy
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        target = urlsplit(self.path)
        if not target.scheme:  # origin-form: a client that did not use the proxy as one
            self.send_error(400, "absolute-form request expected")
            return
        self.server.seen.append(f"{self.command} {target.path}")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name: value for name, value in self.headers.items() if name.lower() != "proxy-connection"}
        upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            upstream.close()

    do_GET = do_POST = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardingProxy]:
    server = ForwardingProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _upload_and_wait(wav_file: Path) -> dict:
    uploaded = RiffusionHook().upload_audio(wav_file)
    return one_event(UploadCompletedTrigger(job_id=uploaded["job_id"], poll_interval=0.01))


def test_hook_and_trigger_go_through_the_environment_proxy(
    proxy: ForwardingProxy, connection: RiffusionEmulator, wav_file: Path
) -> None:
    event = _upload_and_wait(wav_file)

    assert event["status"] == "success"
    upload_path = urlsplit(connection.base_url).path + "/music/upload-audio/"
    assert proxy.seen[0] == f"POST {upload_path}"  # the hook's upload
    assert proxy.seen[1:] and set(proxy.seen[1:]) == {f"GET {upload_path}"}  # every poll of the trigger
    assert proxy.seen == [f"{entry['method']} {entry['path']}" for entry in connection.requests]  # nothing went direct


def test_no_proxy_sends_both_clients_direct(
    proxy: ForwardingProxy, connection: RiffusionEmulator, wav_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    event = _upload_and_wait(wav_file)

    assert event["status"] == "success"
    assert proxy.seen == []
