"""The emulator's HTTP server (``testing/server.py``): big and chunked bodies, keep-alive, concurrency, stop."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.testing._support import TOKEN, Factory, client, upload, url

# Big and chunked bodies, connections, concurrency -----------------------------------------------------


def test_chunked_upload_is_recorded_with_the_right_hash_and_keeps_the_connection(start: Factory) -> None:
    emu = start()
    pieces = [os.urandom(size) for size in (1, 70_000, 3, 1_200_000, 517)]
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "audio/x-m4a"}
    try:
        connection.request(
            "POST", "/v1/riffusion/music/upload-audio/?file_name=chunky", body=iter(pieces), headers=headers
        )
        first = connection.getresponse()
        first_body = json.loads(first.read())
        connection.request("GET", "/v1/riffusion/accounts", headers=headers)
        second = connection.getresponse()
        second.read()
    finally:
        connection.close()

    assert first.status == 200, first_body
    assert second.status == 200
    [record] = emu.uploads
    assert record.chunked is True
    assert record.bytes == sum(len(piece) for piece in pieces)
    assert record.sha256 == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert emu.connections == 1


def test_20_mb_upload_is_streamed_and_recorded(start: Factory, tmp_path: Path) -> None:
    emu = start()
    path = tmp_path / "big.mp3"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for index in range(20):
            block = bytes([index]) * 1024 * 1024
            digest.update(block)
            out.write(block)

    with path.open("rb") as body:
        response = upload(client(), emu, body, file_name="big")

    assert response.status_code == 200
    [record] = emu.uploads
    assert record.bytes == 20 * 1024 * 1024
    assert record.sha256 == digest.hexdigest()
    assert record.chunked is False


def test_a_refused_big_upload_leaves_the_connection_usable(start: Factory) -> None:
    emu = start()
    session = client()

    refused = upload(session, emu, b"\0" * (3 * 1024 * 1024), content_type="text/plain")
    accepted = upload(session, emu, b"fine")

    assert refused.status_code == 400
    assert accepted.status_code == 200
    assert emu.connections == 1
    assert [record.bytes for record in emu.uploads] == [4]


def test_one_session_is_one_connection(start: Factory) -> None:
    emu = start()
    session = client()

    statuses = [session.get(url(emu, "accounts"), timeout=10).status_code for _ in range(10)]
    client().get(url(emu, "accounts"), timeout=10)

    assert statuses == [200] * 10
    assert emu.connections == 2


def test_concurrent_uploads_are_all_recorded(start: Factory) -> None:
    emu = start()
    results: list[int] = []

    def send(index: int) -> None:
        results.append(upload(client(), emu, bytes([index]) * 300_000, file_name=f"take {index}").status_code)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert results == [200] * 8
    assert sorted(record.file_name for record in emu.uploads) == sorted(f"take {index}" for index in range(8))
    assert emu.connections == 8


# Stopping ---------------------------------------------------------------------------------------------


def test_stop_closes_keep_alive_connections_promptly(start: Factory) -> None:
    emu = start()
    session = client()
    assert session.get(url(emu, "accounts"), timeout=10).status_code == 200
    base = emu.base_url

    began = time.monotonic()
    emu.stop()
    emu.stop()  # idempotent

    assert time.monotonic() - began < 1
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{base}/accounts", timeout=2)
    with pytest.raises(RuntimeError):
        _ = emu.base_url
