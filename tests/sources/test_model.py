"""The upload's stream (``sources/model.py``): HashingReader's chunks, hash, length and end, as requests sends it."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sized

import pytest
import requests

from airflow_provider_riffusion.sources import model
from airflow_provider_riffusion.sources import prepare_source as prepare_upload
from airflow_provider_riffusion.sources.model import HashingReader, SourceReadError, hashing_reader
from tests.sources._support import M4A, MP3, MP3_1MIB, WAV, sha256

# --- HashingReader -------------------------------------------------------------------------


def test_hashing_reader_counts_hashes_and_completes_only_at_eof(write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "CHUNK_SIZE", 1000)
    data = MP3 * 40
    path = write("song.mp3", data)
    upload = prepare_upload(path)
    reader = hashing_reader(upload.opener().stream, upload.size)
    assert isinstance(reader, Sized)
    assert len(reader) == len(data)

    chunks = iter(reader)
    received = b""
    while len(received) < len(data):
        chunk = next(chunks)
        assert 0 < len(chunk) <= 1000
        received += chunk
        assert not reader.complete  # every byte read, but EOF not yet seen
    assert reader.bytes_read == len(data)

    assert next(chunks, None) is None
    assert reader.complete
    assert received == data
    assert reader.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    reader.close()


def test_hashing_reader_iterates_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "CHUNK_SIZE", 100)
    reader = hashing_reader(io.BytesIO(WAV), len(WAV))

    chunks = list(reader)

    assert len(chunks) == -(-len(WAV) // 100)
    assert all(len(chunk) <= 100 for chunk in chunks)
    assert b"".join(chunks) == WAV
    assert reader.complete
    assert reader.bytes_read == len(WAV)
    assert reader.sha256 == hashlib.sha256(WAV).hexdigest()


def test_hashing_reader_partial_read_is_not_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "CHUNK_SIZE", 10)
    reader = hashing_reader(io.BytesIO(M4A), len(M4A))
    next(iter(reader))
    assert reader.bytes_read == 10
    assert not reader.complete
    assert reader.sha256 == hashlib.sha256(M4A[:10]).hexdigest()


def test_hashing_reader_without_size_has_no_length() -> None:
    reader = hashing_reader(io.BytesIO(MP3), None)
    assert not isinstance(reader, Sized)  # requests sends it chunked


# --- the body as requests sends it ---------------------------------------------------------


def _prepared_headers(reader: HashingReader) -> dict[str, str]:
    request = requests.Request("POST", "http://127.0.0.1/upload", data=reader).prepare()
    return dict(request.headers)


def test_reader_of_known_size_gets_a_content_length() -> None:
    headers = _prepared_headers(hashing_reader(io.BytesIO(MP3_1MIB), len(MP3_1MIB)))
    assert headers.get("Content-Length") == str(len(MP3_1MIB))
    assert "Transfer-Encoding" not in headers


def test_reader_of_unknown_size_is_sent_chunked_and_has_no_len() -> None:
    reader = hashing_reader(io.BytesIO(MP3_1MIB), None)
    assert not hasattr(reader, "__len__")  # requests calls len() whenever __len__ exists
    headers = _prepared_headers(reader)
    assert headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in headers


def test_sized_reader_that_runs_short_fails_before_the_body_is_complete() -> None:
    reader = hashing_reader(io.BytesIO(MP3_1MIB[:100]), 200, where="the source")
    with pytest.raises(SourceReadError, match="ended after 100 of 200 bytes"):
        b"".join(reader)
    assert not reader.complete  # so the upload may be retried: the API cannot have taken it


def test_sized_reader_never_sends_more_than_it_announced(caplog: pytest.LogCaptureFixture) -> None:
    reader = hashing_reader(io.BytesIO(MP3_1MIB[:300]), 200, where="the source")

    with caplog.at_level("WARNING", logger="airflow_provider_riffusion.sources.model"):
        body = b"".join(reader)

    assert body == MP3_1MIB[:200]
    assert reader.complete  # the announced body went out whole: no retry, so no duplicate
    assert reader.sha256 == sha256(MP3_1MIB[:200])
    assert "grew while it was sent" in caplog.text
