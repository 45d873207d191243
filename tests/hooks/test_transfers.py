"""A download stores songs only, one song per file, within a bounded time (``hooks/_transfers.download``,
``delivery.py``, ``client/sync_transport.stream`` with ``client/deadline.py``), against the emulator over HTTP.

1. A 200 that is not the format asked for (a proxy's page, a JSON error, a lying Content-Type) is a
   ``RiffusionResponseError`` naming what came, token scrubbed, and nothing is written.
2. Ids that sanitise alike get distinct names; a file already there is kept only when its record proves it.
3. Header values are checked before they reach an output or a log.
4. A body is due within ``timeout`` plus its size at ``download_min_rate``.
5. A full disk or an I/O error is retryable; a refused path is not.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_riffusion import delivery
from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.hooks.transfers import first_bytes, shown_type
from airflow_provider_riffusion.operators.riffusion import DownloadSongsOperator
from airflow_provider_riffusion.settings import RiffusionSettings
from airflow_provider_riffusion.sources.kinds import sniff_kind
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from tests.support import FAST_RETRIES, TOKEN, RecordingTI, connection_json, task_context

DOWNLOAD = "music/download"


@pytest.fixture
def song_ids(emu: RiffusionEmulator) -> list[str]:
    """Two songs the emulator can serve (a compose makes two)."""
    return list(RiffusionHook().create_compose("bossa nova", title="Ipanema")["job_ids"])


def reconnect(monkeypatch: pytest.MonkeyPatch, emu: RiffusionEmulator, **extra: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, **extra))


def token_parts(text: str, width: int = 6) -> list[str]:
    """Every piece of the token at least ``width`` characters long that ``text`` shows."""
    return [TOKEN[i : i + width] for i in range(len(TOKEN) - width + 1) if TOKEN[i : i + width] in text]


def everything_in(folder: Path) -> list[str]:
    """Every file left in ``folder`` (songs, records, temporary files), by name."""
    return sorted(path.name for path in folder.rglob("*") if path.is_file())


def downloads_sent(emu: RiffusionEmulator) -> int:
    return sum(1 for r in emu.requests if r["path"].rstrip("/").endswith(DOWNLOAD))


# -- 1. only songs are stored -----------------------------------------------------------------------

JSON_ERROR = {"error": f"Unauthorized: token {TOKEN} is not valid here", "code": 401}
NOT_SONGS: dict[str, tuple[dict[str, Any], str, str]] = {
    # name: (fault, the Content-Type the message shows, what its first bytes start with)
    "login page as text/html": ({"kind": "html", "status": 200}, "'text/html", "'<html><head><title>200 OK"),
    "html typed audio/mpeg": (
        {"kind": "html", "status": 200, "headers": {"Content-Type": "audio/mpeg"}},
        "'audio/mpeg'",
        "'<html>",
    ),
    "json error as application/json": (
        {"kind": "status", "status": 200, "body": JSON_ERROR},
        "'application/json'",
        '\'{"error": "Unauthorized: token *** is not valid here"',
    ),
    "json error typed audio/mpeg": (
        {"kind": "status", "status": 200, "body": JSON_ERROR, "headers": {"Content-Type": "audio/mpeg"}},
        "'audio/mpeg'",
        '\'{"error": "Unauthorized',
    ),
    "a JSON empty string typed audio/mpeg": (
        {"kind": "status", "status": 200, "body": "", "headers": {"Content-Type": "audio/mpeg"}},
        "'audio/mpeg'",
        "'\"\"'",
    ),
}


@pytest.mark.parametrize("case", list(NOT_SONGS))
def test_a_200_that_is_not_a_song_is_never_stored(
    emu: RiffusionEmulator, song_ids: list[str], tmp_path: Path, case: str
) -> None:
    fault, content_type, starts = NOT_SONGS[case]
    emu.inject(Fault(method="GET", path=DOWNLOAD, **fault))

    with pytest.raises(exc.RiffusionResponseError) as raised:
        RiffusionHook().download_song(song_ids[0], tmp_path / "songs", title="Ipanema")

    message = str(raised.value)
    assert f"the download of song {song_ids[0]} but not with mp3 audio" in message
    assert f"Content-Type {content_type}" in message and f"first bytes {starts}" in message
    assert "\n" not in message and token_parts(message) == []
    assert not isinstance(raised.value, AirflowFailException)  # a task retry may find the API again
    assert downloads_sent(emu) == 1  # a response error is not retried in the hook (the read rule)
    assert not (tmp_path / "songs").exists() or everything_in(tmp_path / "songs") == []


def test_a_song_of_another_kind_is_refused_by_its_type(
    emu: RiffusionEmulator, song_ids: list[str], tmp_path: Path
) -> None:
    emu.inject(Fault(method="GET", path=DOWNLOAD, kind="headers", headers={"Content-Type": "audio/mpeg"}))
    with pytest.raises(exc.RiffusionResponseError) as raised:
        RiffusionHook().download_song(song_ids[0], tmp_path, "wav")
    assert "not with wav audio (it is typed audio/mpeg;" in str(raised.value)
    assert re.search(r"first bytes [\"']RIFF", str(raised.value)), raised.value  # quoted either way by repr
    assert everything_in(tmp_path) == []


def test_the_next_try_stores_the_song_once_the_api_answers_again(
    emu: RiffusionEmulator, song_ids: list[str], tmp_path: Path
) -> None:
    emu.inject(Fault(method="GET", path=DOWNLOAD, kind="html", status=200))
    with pytest.raises(exc.RiffusionResponseError):
        RiffusionHook().download_song(song_ids[0], tmp_path)
    stored = RiffusionHook().download_song(song_ids[0], tmp_path)  # what Airflow's task retry does
    assert sniff_kind(Path(stored["path"]).read_bytes()[:16]) == "mp3"


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ({"kind": "html", "status": 200}, "it is typed text/html"),
        ({"kind": "status", "status": 200, "body": "stems are not ready"}, "not a JSON object or array"),
        ({"kind": "malformed"}, "not a JSON object or array"),
    ],
    ids=["html", "a JSON string", "cut JSON"],
)
def test_stems_must_be_a_json_object_or_array(
    emu: RiffusionEmulator, song_ids: list[str], tmp_path: Path, fault: dict[str, Any], problem: str
) -> None:
    emu.inject(Fault(method="GET", path=DOWNLOAD, **fault))
    with pytest.raises(exc.RiffusionResponseError, match=problem) as raised:
        RiffusionHook().download_song(song_ids[0], tmp_path, "stems")
    assert "not with JSON about the stems" in str(raised.value)
    assert everything_in(tmp_path) == []


def test_stems_typed_as_plain_bytes_are_stored_when_they_are_json(
    emu: RiffusionEmulator, song_ids: list[str], tmp_path: Path
) -> None:
    emu.inject(Fault(method="GET", path=DOWNLOAD, kind="headers", headers={"Content-Type": "application/octet-stream"}))
    stored = RiffusionHook().download_song(song_ids[0], tmp_path, "stems")
    assert stored["content_type"] == "application/json"
    assert json.loads(Path(stored["path"]).read_text())["stems"]


def test_first_bytes_never_show_a_token_cut_where_the_read_stopped() -> None:
    settings = RiffusionSettings(base_url="http://x", token=TOKEN)
    for cut in range(1, len(TOKEN)):
        head = b"x" * 40 + TOKEN[:cut].encode()  # the rest of the token is in the part not read
        assert first_bytes(settings, head, ended=False) == repr("x" * (40 + cut - len(TOKEN) + 1))
    assert first_bytes(settings, b"<p>" + TOKEN.encode() + b"</p>", ended=True) == "'<p>***</p>'"
    long = "text/html; a=" + "b" * 50 + TOKEN
    assert token_parts(shown_type(settings, long)) == [] and shown_type(settings, long).endswith("...'")


# -- 2. one song, one file --------------------------------------------------------------------------


def test_ids_that_sanitise_alike_get_distinct_names() -> None:
    ids = ["a/b", "a?b", "a-b", "a b", "a//b", "/a-b", "///", "???", "x" * 200, "x" * 201, "a-b-h0123456789ab"]
    names = [delivery.song_file_name(song_id, "Title", "mp3") for song_id in ids]
    assert len(set(names)) == len(ids), names
    assert all(len(name) < 200 and "/" not in name for name in names)
    digest = hashlib.sha256(b"a/b").hexdigest()[:12]
    assert delivery.song_file_name("a/b", "Title", "mp3") == f"title-a-b-h{digest}.mp3"
    # An id that looks like a digested name cannot take that name: it gets a digest of its own.
    for lookalike in (f"a-b-h{digest}", f"a-b-h{digest.upper()}"):
        own = hashlib.sha256(lookalike.encode()).hexdigest()[:12]
        assert delivery.song_file_name(lookalike, "Title", "mp3") == f"title-{lookalike}-h{own}.mp3"


def test_safe_ids_keep_the_names_release_0_2_0_gave_them() -> None:
    uuid = "0f8b6c1e-3d2a-4b5c-9e7f-a1b2c3d4e5f6"
    assert delivery.song_file_name(uuid, "Girl From Ipanema", "mp3") == f"girl-from-ipanema-{uuid}.mp3"
    assert delivery.song_file_name("Song_1.v2", None, "stems") == "Song_1.v2.stems.json"


def test_a_stored_song_is_recorded_and_kept_on_a_retry(
    emu: RiffusionEmulator, song_ids: list[str], tmp_path: Path
) -> None:
    first = RiffusionHook().download_song(song_ids[0], tmp_path, title="Ipanema")
    path = Path(first["path"])
    record = path.with_name(f".{path.name}.sha256")
    assert record.read_text() == f"{first['sha256']}  {path.name}\n"  # sha256sum -c reads it
    before = path.stat()

    again = RiffusionHook().download_song(song_ids[0], tmp_path, title="Ipanema")

    assert again == first and (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize("how", ["no record (as 0.2.0 left it)", "changed since", "record of another file"])
def test_a_file_of_the_same_size_is_not_trusted_without_its_record(
    emu: RiffusionEmulator, song_ids: list[str], tmp_path: Path, how: str
) -> None:
    hook = RiffusionHook()
    other = hook.download_song(song_ids[0], tmp_path / "other")
    name = delivery.song_file_name(song_ids[1], None, "mp3")
    impostor = tmp_path / name
    impostor.write_bytes(Path(other["path"]).read_bytes())  # another song, of exactly the same size
    other_record = Path(other["path"]).with_name(f".{Path(other['path']).name}.sha256")
    if how == "changed since":
        (tmp_path / f".{name}.sha256").write_text(f"{hashlib.sha256(b'what was stored').hexdigest()}  {name}\n")
    elif how == "record of another file":
        (tmp_path / f".{name}.sha256").write_text(other_record.read_text())

    stored = hook.download_song(song_ids[1], tmp_path)

    data = impostor.read_bytes()
    assert len(data) == other["bytes"] and hashlib.sha256(data).hexdigest() == stored["sha256"] != other["sha256"]
    assert (tmp_path / f".{name}.sha256").read_text() == f"{stored['sha256']}  {name}\n"
    assert [d["song_id"] for d in emu.downloads] == [song_ids[0], song_ids[1]]


# -- 3. headers are data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [f"audio/mpeg; name={TOKEN}", TOKEN, f"audio/mpeg;{TOKEN}", "application/octet-stream"],
    ids=["token as a parameter", "token as the type", "token glued on", "plain bytes"],
)
def test_a_content_type_reaches_no_output_or_log_unchecked(
    emu: RiffusionEmulator,
    song_ids: list[str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    content_type: str,
) -> None:
    emu.inject(Fault(method="GET", path=DOWNLOAD, kind="headers", headers={"Content-Type": content_type}))
    ti = RecordingTI()
    result = DownloadSongsOperator(task_id="store", songs=song_ids[0], destination=str(tmp_path)).execute(
        task_context(ti)
    )

    assert result["files"][0]["content_type"] == "audio/mpeg"
    logs = caplog.text + capsys.readouterr().out
    assert token_parts(json.dumps(result, default=str) + json.dumps(ti.pushed, default=str) + logs) == []
    if content_type.partition(";")[0] != "audio/mpeg":
        assert "dropped, reported as audio/mpeg" in logs


def test_a_content_type_of_another_kind_with_the_token_is_refused_scrubbed(
    emu: RiffusionEmulator, song_ids: list[str], tmp_path: Path
) -> None:
    emu.inject(Fault(method="GET", path=DOWNLOAD, kind="headers", headers={"Content-Type": f"text/{TOKEN}"}))
    with pytest.raises(exc.RiffusionResponseError) as raised:
        RiffusionHook().download_song(song_ids[0], tmp_path)
    assert "it is typed text/***" in str(raised.value) and token_parts(str(raised.value)) == []


# -- 4. a body is due within timeout plus its size at download_min_rate ------------------------------

TIMEOUT = 1.5
SLOW: dict[str, dict[str, Any]] = {
    "trickle, sized": {"kind": "slow_body", "size": 1, "seconds": 0.01},
    "trickle, unsized": {"kind": "unsized", "size": 1, "seconds": 0.01},
    "stall, sized": {"kind": "slow_body", "size": 20_000, "seconds": 60},
    "stall, unsized": {"kind": "unsized", "size": 20_000, "seconds": 60},
}


@pytest.mark.parametrize("case", list(SLOW))
def test_a_body_that_does_not_keep_up_ends_as_a_retried_network_error(
    emu: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch, song_ids: list[str], tmp_path: Path, case: str
) -> None:
    reconnect(monkeypatch, emu, timeout=TIMEOUT, max_attempts=2)
    emu.inject(Fault(method="GET", path=DOWNLOAD, times=2, **SLOW[case]))  # 64 KiB: 1 s more at 64 KiB/s

    started = time.monotonic()
    with pytest.raises(exc.RiffusionNetworkError) as raised:
        RiffusionHook().download_song(song_ids[0], tmp_path)
    held = time.monotonic() - started

    # Two attempts of at most 1.5 s + 1 s each, the backoff, and slack; a trickle at 100 bytes a second
    # would take 11 minutes per attempt, and the stall a minute.
    assert held < 2 * (TIMEOUT + 1) + FAST_RETRIES["retry_max_delay"] + 3, f"held the download for {held:.1f} s"
    message = str(raised.value)
    assert f"did not send the download of song {song_ids[0]} in time" in message and "after 2 attempts" in message
    assert "download_min_rate" in message and "\n" not in message
    assert downloads_sent(emu) == 2 and everything_in(tmp_path) == []


@pytest.mark.parametrize("kind", ["slow_body", "unsized"])
def test_a_song_slower_than_the_timeout_but_above_the_rate_completes(
    emu: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch, song_ids: list[str], tmp_path: Path, kind: str
) -> None:
    reconnect(monkeypatch, emu, timeout=0.5, max_attempts=1, download_min_rate=100_000)
    emu.download_bytes = 600_000
    # 60 kB every 0.2 s: 300 kB a second, three times the minimum rate; the whole takes about 2 s.
    emu.inject(Fault(method="GET", path=DOWNLOAD, kind=kind, size=60_000, seconds=0.2))

    started = time.monotonic()
    stored = RiffusionHook().download_song(song_ids[0], tmp_path)
    held = time.monotonic() - started

    data = Path(stored["path"]).read_bytes()
    assert len(data) == stored["bytes"] == emu.downloads[-1]["bytes"] and sniff_kind(data[:16]) == "mp3"
    assert held > 1.5, f"the fault did not slow the body ({held:.1f} s)"  # so the timeout alone would have cut it


# -- 5. storage errors ------------------------------------------------------------------------------


def failing_writes(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """Every song write fails with ``error`` after its first bytes, through the real writer (which cleans up)."""
    real = delivery.Target.writer

    class Failing:
        def __init__(self, stream: IO[bytes]) -> None:
            self.stream, self.calls = stream, 0

        def write(self, data: bytes) -> int:
            self.calls += 1
            if self.calls > 1:
                raise error
            return self.stream.write(data)

    @contextlib.contextmanager
    def writer(self: delivery.Target) -> Iterator[Any]:
        with real(self) as stream:
            yield Failing(stream) if not self.name.endswith(".sha256") else stream

    monkeypatch.setattr(delivery.Target, "writer", writer)


@pytest.mark.parametrize(
    ("error", "retryable", "shown"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), True, "No space left on device, ENOSPC"),
        (OSError(errno.EIO, "Input/output error"), True, "EIO"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True, "EDQUOT"),
        (ConnectionError("the store went away"), True, "the store went away"),
        (PermissionError(errno.EACCES, "Permission denied"), False, "EACCES"),
        (OSError(errno.EROFS, "Read-only file system"), False, "EROFS"),
    ],
    ids=["ENOSPC", "EIO", "EDQUOT", "object store unreachable", "EACCES", "EROFS"],
)
def test_a_storage_error_that_may_pass_is_retryable_and_a_refusal_is_not(
    emu: RiffusionEmulator,
    monkeypatch: pytest.MonkeyPatch,
    song_ids: list[str],
    tmp_path: Path,
    error: BaseException,
    retryable: bool,
    shown: str,
) -> None:
    emu.download_bytes = 3 * 1024 * 1024  # more than one read: the write fails mid-song
    failing_writes(monkeypatch, error)

    with pytest.raises(exc.RiffusionError) as raised:
        RiffusionHook().download_song(song_ids[0], tmp_path)

    failure = raised.value
    if retryable:
        assert isinstance(failure, exc.RiffusionStorageError) and not isinstance(failure, AirflowFailException)
        assert "the task's retry downloads the song again" in str(failure)
    else:
        assert isinstance(failure, exc.RiffusionDestinationError) and isinstance(failure, AirflowFailException)
    assert shown in str(failure) and "\n" not in str(failure)
    assert downloads_sent(emu) == 1  # not fetched again at once onto the same disk
    assert everything_in(tmp_path) == []
