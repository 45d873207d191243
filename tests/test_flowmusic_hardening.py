"""Hostile servers and careless input on Flow Music (a connection whose extra says ``service: flowmusic``).

The rules ``tests/test_hostile_servers.py`` and ``tests/test_hostile_inputs.py`` hold Riffusion to, on Flow
Music's endpoints, over real HTTP against the emulator:

- the token shows nowhere (logs, XCom, exception messages), and never goes to a clip's public ``wav_url``;
- a ``wav_url`` is fetched over https or from loopback only: plain http elsewhere, credentials in it, or a
  redirect to such a URL is refused before anything is fetched, in one line, and nothing is stored;
- only audio is stored: a body at the ``wav_url`` (or ``music/download``) that is not the format is refused;
- a lost answer of ``POST music`` or ``POST files`` is ``RiffusionUnconfirmedError`` (fatal, sent once);
- every wait is bounded: a stalled ``jobs/{jobid}`` or a stalled wav ends as a timeout;
- a track over Flow Music's 40 MiB is refused before a byte is sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators.riffusion import (
    CreateComposeOperator,
    DownloadSongsOperator,
    GenerateLyricsOperator,
    UploadAudioOperator,
)
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger
from tests.support import TOKEN, RecordingTI, connection_json, one_event, pushed, task_context

FLOW = "flowmusic"
CAP = 40 * 1024 * 1024


def reconnect(monkeypatch: pytest.MonkeyPatch, emu: RiffusionEmulator, **extra: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, service=FLOW, **extra))


def token_parts(text: str, width: int = 6) -> list[str]:
    """Every piece of the token at least ``width`` characters long that ``text`` shows."""
    return [TOKEN[i : i + width] for i in range(len(TOKEN) - width + 1) if TOKEN[i : i + width] in text]


def requests_to(emu: RiffusionEmulator, method: str, prefix: str) -> int:
    """Requests to a path of Flow Music (relative to its base; public files by their whole path) starting so."""
    return sum(
        1
        for r in emu.requests
        if r["method"] == method and r["path"].removeprefix("/v1/flowmusic").strip("/").startswith(prefix)
    )


def a_song(hook: RiffusionHook | None = None) -> dict[str, Any]:
    """A completed song (the emulator ends a job on its first poll), with its ``wav_url``."""
    hook = hook or RiffusionHook()
    [job_id] = hook.create_compose("ambient drones")["job_ids"]
    songs = hook.get_songs(job_id)
    assert songs, "the job did not end on its first poll"
    return songs[0]


def everything_logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """What the tasks, hooks, triggers and libraries logged or printed (structlog writes to stdout on Airflow 3)."""
    printed = capsys.readouterr()
    return caplog.text + printed.out + printed.err


def files_in(folder: Path) -> list[str]:
    """Everything under ``folder``, the hidden records and partial files included."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")) if folder.exists() else []


# -- 1. the token shows nowhere, and never goes to a public wav_url ----------------------------------


def test_a_whole_flow_music_run_leaves_the_token_nowhere(
    flowmusic: RiffusionEmulator,
    wav_file: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Upload, lyrics, compose with its wav stored, mp3 stored apart: XCom, outputs and logs without the token;
    the API's calls carried it, the public wav never did."""
    songs_dir = tmp_path / "songs"
    ti = RecordingTI()
    context = task_context(ti)
    with caplog.at_level("DEBUG"):
        upload = UploadAudioOperator(task_id="upload", source=str(wav_file), wait_for_completion=True).execute(context)
        lyrics = GenerateLyricsOperator(task_id="lyrics", prompt="rain on the window").execute(context)
        compose = CreateComposeOperator(
            task_id="compose",
            prompt_1="ambient drones",
            lyrics=lyrics["lyrics"],
            audio_upload_id=upload["audio_upload_id"],
            wait_for_completion=True,
            poll_interval=0.01,
            download_to=str(songs_dir / "wav"),
            download_format="wav",
        ).execute(context)
        mp3 = DownloadSongsOperator(task_id="mp3", songs=compose, destination=str(songs_dir / "mp3")).execute(context)
    logged = everything_logged(caplog, capsys)

    shown = json.dumps([upload, lyrics, compose, mp3, pushed(context)], default=str) + logged
    assert token_parts(shown) == []
    assert "Song " in logged and "stored at" in logged  # the logs were captured, and scrubbed
    downloads = flowmusic.downloads
    assert sorted((d["format"], d["authorization"]) for d in downloads) == [
        ("mp3", True),
        ("mp3", True),
        ("wav", False),
        ("wav", False),
    ]
    assert len(compose["files"]) == len(mp3["files"]) == 2


@pytest.mark.parametrize(
    "echo",
    [{"error": f"bad Bearer {TOKEN}"}, {"error": {"code": "x", "message": "y" * 190 + TOKEN}}],
    ids=["whole", "cut, nested as the 422s are"],
)
def test_an_echoed_token_shows_in_no_message_log_or_event(
    flowmusic: RiffusionEmulator, echo: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    [job_id] = RiffusionHook().create_compose("ambient drones")["job_ids"]
    flowmusic.inject(Fault(method="GET", path=f"jobs/{job_id}", status=500, body=echo, times=1000))

    with caplog.at_level("WARNING"), pytest.raises(exc.RiffusionServerError) as raised:
        RiffusionHook().get_songs(job_id)
    event = one_event(SongsCompletedTrigger(job_ids=[job_id], poll_interval=0.01, max_consecutive_errors=1))
    logged = everything_logged(caplog, capsys)

    assert event["status"] == "error" and "HTTP 500" in event["message"]
    shown = " ".join([str(raised.value), repr(raised.value), str(raised.value.api_error), json.dumps(event), logged])
    assert token_parts(shown) == []
    assert "retrying in" in logged  # the retry warnings were written, and scrubbed


def test_a_token_bearing_download_redirected_to_another_host_does_not_carry_it(
    flowmusic: RiffusionEmulator, tmp_path: Path
) -> None:
    """``music/download`` goes with the token; redirected to another host (localhost, not 127.0.0.1), it must not
    follow: the emulator records whether the public file's request carried an Authorization header."""
    song = a_song()
    elsewhere = song["wav_url"].replace("127.0.0.1", "localhost")
    flowmusic.inject(Fault(method="GET", path="music/download", status=302, headers={"Location": elsewhere}))

    with pytest.raises(exc.RiffusionResponseError, match="not with mp3 audio"):  # it is a wav: refused, too
        RiffusionHook().download_song(song["id"], tmp_path, "mp3")

    [fetched] = flowmusic.downloads
    assert fetched["format"] == "wav" and fetched["authorization"] is False
    assert files_in(tmp_path) == []


# -- 2. a wav_url is fetched over https or from loopback only ------------------------------------------

UNSAFE_URLS = {
    "plain http elsewhere": "http://cdn.example.com/{clip}.wav",
    "credentials on loopback": "http://user:pa55word@127.0.0.1:{port}/_public/flowmusic/{clip}.wav",
    "credentials over https": "https://user:pa55word@cdn.example.com/{clip}.wav",
    "a user alone": "https://user@cdn.example.com/{clip}.wav",
    "ftp": "ftp://127.0.0.1/{clip}.wav",
    "a local file": "file:///etc/passwd",
    "no host": "/_public/flowmusic/{clip}.wav",
}


@pytest.mark.parametrize("name", list(UNSAFE_URLS), ids=list(UNSAFE_URLS))
@pytest.mark.parametrize("through", ["hook", "operator"])
def test_an_unsafe_wav_url_is_refused_before_it_is_fetched(
    flowmusic: RiffusionEmulator, tmp_path: Path, name: str, through: str
) -> None:
    song = a_song()
    url = UNSAFE_URLS[name].format(clip=song["id"], port=flowmusic.port)
    since = len(flowmusic.requests)

    with pytest.raises(exc.RiffusionResponseError) as raised:
        if through == "hook":
            RiffusionHook().download_song(song["id"], tmp_path, "wav", url=url)
        else:
            DownloadSongsOperator(
                task_id="wav", songs=[{**song, "wav_url": url}], destination=str(tmp_path), download_format="wav"
            ).execute(task_context(RecordingTI()))

    message = str(raised.value)
    assert "neither https nor on this host" in message and "it is not fetched" in message
    assert "pa55word" not in message and "\n" not in message
    assert flowmusic.requests[since:] == [] and flowmusic.downloads == []
    assert files_in(tmp_path) == []


REDIRECTS = {
    "to plain http elsewhere": "http://cdn.example.com/x.wav",
    "to credentials": "http://user:pa55word@127.0.0.1:1/x.wav",
    "to ftp": "ftp://cdn.example.com/x.wav",
}


@pytest.mark.parametrize("name", list(REDIRECTS), ids=list(REDIRECTS))
def test_a_wav_url_redirecting_somewhere_unsafe_is_refused_at_once(
    flowmusic: RiffusionEmulator, tmp_path: Path, name: str
) -> None:
    song = a_song()
    public = f"_public/flowmusic/{song['id']}.wav"
    flowmusic.inject(Fault(method="GET", path=public, status=302, headers={"Location": REDIRECTS[name]}, times=9))

    with pytest.raises(exc.RiffusionResponseError) as raised:
        RiffusionHook().download_song(song["id"], tmp_path, "wav", url=song["wav_url"])

    message = str(raised.value)
    assert "with a redirect to" in message and "it is not followed, and nothing was stored" in message
    assert "pa55word" not in message
    assert requests_to(flowmusic, "GET", "_public/") == 1  # the server's choice: no retry meets another answer
    assert flowmusic.downloads == [] and files_in(tmp_path) == []


def test_a_wav_url_redirecting_to_loopback_is_followed_without_the_token(
    flowmusic: RiffusionEmulator, tmp_path: Path
) -> None:
    song = a_song()
    public = f"_public/flowmusic/{song['id']}.wav"
    moved = song["wav_url"].replace("127.0.0.1", "localhost")
    flowmusic.inject(Fault(method="GET", path=public, status=307, headers={"Location": moved}))

    stored = RiffusionHook().download_song(song["id"], tmp_path, "wav", url=song["wav_url"])

    assert Path(stored["path"]).read_bytes()[:4] == b"RIFF"
    assert [(d["format"], d["authorization"]) for d in flowmusic.downloads] == [("wav", False)]


# -- 3. only audio is stored ---------------------------------------------------------------------------

NOT_AUDIO = {
    "a login page": {"kind": "html", "status": 200},
    "JSON typed as the format": {"status": 200, "body": {"error": "sign in"}, "headers": {"Content-Type": "{type}"}},
    "JSON typed as a download": {
        "status": 200,
        "body": {"error": "sign in"},
        "headers": {"Content-Type": "application/octet-stream"},
    },
    "an empty body": {"status": 200, "body": "", "headers": {"Content-Type": "{type}"}},
}
FORMATS = {"wav": "audio/wav", "mp3": "audio/mpeg"}


@pytest.mark.parametrize("answer", list(NOT_AUDIO), ids=list(NOT_AUDIO))
@pytest.mark.parametrize("download_format", list(FORMATS))
def test_a_body_that_is_not_the_format_is_never_stored(
    flowmusic: RiffusionEmulator, tmp_path: Path, answer: str, download_format: str
) -> None:
    song = a_song()
    shape = json.loads(json.dumps(NOT_AUDIO[answer]).replace("{type}", FORMATS[download_format]))
    path = f"_public/flowmusic/{song['id']}.wav" if download_format == "wav" else "music/download"
    flowmusic.inject(Fault(method="GET", path=path, times=9, **shape))

    with pytest.raises(exc.RiffusionResponseError) as raised:
        RiffusionHook().download_song(song["id"], tmp_path, download_format, url=song["wav_url"])

    message = str(raised.value)
    assert f"but not with {download_format} audio" in message and "nothing was stored" in message
    assert not isinstance(raised.value, AirflowFailException)  # Airflow's retry may find the API again
    assert requests_to(flowmusic, "GET", path) == 1  # the hook does not ask the same server again at once
    assert files_in(tmp_path) == []


# -- 4. a lost answer of a create call is unconfirmed, never repeated ------------------------------------


def test_an_upload_whose_answer_is_lost_is_unconfirmed_and_stored_once(
    flowmusic: RiffusionEmulator, wav_file: Path
) -> None:
    flowmusic.inject(Fault(method="POST", path="files", kind="drop_after_body"))

    with pytest.raises(exc.RiffusionUnconfirmedError) as raised:
        UploadAudioOperator(task_id="upload", source=str(wav_file)).execute(task_context(RecordingTI()))

    assert isinstance(raised.value, AirflowFailException)  # Airflow's task retries do not upload again
    assert len(flowmusic.uploads) == 1  # the server stored it: a retry would have stored it twice
    assert requests_to(flowmusic, "POST", "files") == 1
    assert "The track may have been stored" in str(raised.value)


def test_a_compose_whose_answer_is_lost_is_unconfirmed_and_sent_once(flowmusic: RiffusionEmulator) -> None:
    flowmusic.inject(Fault(method="POST", path="music", kind="drop_after_body"))

    with pytest.raises(exc.RiffusionUnconfirmedError) as raised:
        CreateComposeOperator(task_id="compose", prompt_1="ambient drones").execute(task_context(RecordingTI()))

    assert isinstance(raised.value, AirflowFailException)
    assert requests_to(flowmusic, "POST", "music") == 1
    assert "Songs may have been started" in str(raised.value)
    assert RiffusionHook().free_slots() == 2  # the job runs upstream: one of the account's 3 slots is taken


UNREADABLE: dict[str, dict[str, Any]] = {
    "nested 100k levels": {"kind": "nested"},
    "charset that is no encoding": {"kind": "charset", "charset": "x-klingon"},
    "50 MB body": {"kind": "huge"},
    "HTML page": {"kind": "html", "status": 200},
    "an id that is a number": {"status": 200, "body": {"id": 7, "jobid": 7}},
    "an id that is an object": {"status": 200, "body": {"id": {"x": 1}, "jobid": {"x": 1}}},
    "an id that is a boolean": {"status": 200, "body": {"id": True, "jobid": True}},
    "an empty id": {"status": 200, "body": {"id": "", "jobid": ""}},
    "no id": {"status": 200, "body": {}},
}
CREATE_CALLS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "files": ("files", lambda wav: RiffusionHook().upload_audio(wav)),
    "music": ("music", lambda wav: RiffusionHook().create_compose("ambient drones")),
    "music (prompt)": ("music", lambda wav: RiffusionHook().create_prompt("ambient drones")),
}


@pytest.mark.parametrize("answer", list(UNREADABLE), ids=list(UNREADABLE))
@pytest.mark.parametrize("call", list(CREATE_CALLS), ids=list(CREATE_CALLS))
def test_an_unreadable_answer_to_a_create_call_is_unconfirmed(
    flowmusic: RiffusionEmulator, wav_file: Path, answer: str, call: str
) -> None:
    path, create = CREATE_CALLS[call]
    flowmusic.inject(Fault(method="POST", path=path, **UNREADABLE[answer]))

    with pytest.raises(exc.RiffusionUnconfirmedError) as raised:
        create(wav_file)

    assert requests_to(flowmusic, "POST", path) == 1
    message = str(raised.value)
    assert "may have been" in message and "\n" not in message and len(message) < 700


# -- 5. every wait is bounded ---------------------------------------------------------------------------

STALL_TIMEOUT = 0.5
STALLS: dict[str, dict[str, Any]] = {
    "hang": {"kind": "hang", "seconds": 10},
    "trickle": {"kind": "trickle", "seconds": 0.2},  # every read in time, the whole answer never
}


@pytest.mark.parametrize("stall", list(STALLS), ids=list(STALLS))
def test_a_stalled_job_ends_as_a_timeout_on_both_paths(
    flowmusic: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch, stall: str
) -> None:
    [job_id] = RiffusionHook().create_compose("ambient drones")["job_ids"]
    reconnect(monkeypatch, flowmusic, timeout=STALL_TIMEOUT, max_attempts=2)
    flowmusic.inject(Fault(method="GET", path=f"jobs/{job_id}", times=1000, **STALLS[stall]))

    started = time.monotonic()
    with pytest.raises(exc.RiffusionNetworkError) as raised:
        RiffusionHook().get_songs(job_id)
    held = time.monotonic() - started
    event = one_event(SongsCompletedTrigger(job_ids=[job_id], poll_interval=0.01, max_consecutive_errors=1))
    waited = time.monotonic() - started - held

    assert f"did not answer the songs of job {job_id} within {STALL_TIMEOUT} s after 2 attempts" in str(raised.value)
    assert held < 2 * STALL_TIMEOUT + 1.5, f"held the call for {held:.1f} s"
    assert event["status"] == "error" and "did not answer" in event["message"]
    assert waited < 4 * STALL_TIMEOUT + 2.0, f"held the wait for {waited:.1f} s"  # 2 polls of 2 attempts


def test_a_stalled_wav_ends_as_a_timeout_and_nothing_is_stored(
    flowmusic: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    song = a_song()
    reconnect(monkeypatch, flowmusic, timeout=STALL_TIMEOUT, max_attempts=2)
    public = f"_public/flowmusic/{song['id']}.wav"
    flowmusic.inject(Fault(method="GET", path=public, kind="slow_body", seconds=30, size=1000, times=9))

    started = time.monotonic()
    with pytest.raises(exc.RiffusionNetworkError) as raised:
        RiffusionHook().download_song(song["id"], tmp_path, "wav", url=song["wav_url"])
    held = time.monotonic() - started

    assert "did not send the wav of song" in str(raised.value) and "then nothing for 0.5 s" in str(raised.value)
    origin = song["wav_url"].split("/_public/")[0]
    assert str(raised.value).startswith(f"{origin} did not send")  # the file's host, not the API's base URL
    assert "/_public/" not in str(raised.value)
    assert held < 2 * STALL_TIMEOUT + 1.5, f"held the download for {held:.1f} s"
    assert requests_to(flowmusic, "GET", "_public/") == 2
    assert files_in(tmp_path) == []  # the partial file is gone too


# -- 6. over 40 MiB is refused before a byte is sent ---------------------------------------------------


@pytest.fixture
def over_the_cap(tmp_path: Path) -> Path:
    """A sparse 'mp3' one byte over 40 MiB (ID3 header): costs no disk."""
    path = tmp_path / "long take.mp3"
    with path.open("wb") as out:
        out.write(b"ID3\x04\x00\x00\x00\x00\x00\x00")
        out.truncate(CAP + 1)
    return path


@pytest.mark.parametrize("max_bytes", [None, 100 * 1024 * 1024], ids=["no max_bytes", "max_bytes above the cap"])
def test_a_track_over_40_mib_is_refused_before_any_request(
    flowmusic: RiffusionEmulator, over_the_cap: Path, max_bytes: int | None
) -> None:
    operator = UploadAudioOperator(task_id="upload", source=str(over_the_cap), max_bytes=max_bytes)

    with pytest.raises(exc.RiffusionInputError) as raised:
        operator.execute(task_context(RecordingTI()))

    assert flowmusic.requests == [] and flowmusic.uploads == []
    assert f"is {CAP + 1} bytes, over the 40 MiB that Flow Music takes: nothing was sent" in str(raised.value)


def test_a_track_of_exactly_40_mib_is_sent(flowmusic: RiffusionEmulator, over_the_cap: Path) -> None:
    with over_the_cap.open("r+b") as out:
        out.truncate(CAP)

    assert RiffusionHook().upload_audio(over_the_cap)["bytes"] == CAP
    assert [record.bytes for record in flowmusic.uploads] == [CAP]


# -- the upload's own flag --------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_on_flagged", [True, False])
def test_a_flagged_upload_stays_flagged_through_the_wait(
    flowmusic: RiffusionEmulator, wav_file: Path, fail_on_flagged: bool
) -> None:
    """Flow Music says is_flagged only in the upload's answer (no status to read): the wait keeps it."""
    flowmusic.flag_uploads = True
    operator = UploadAudioOperator(
        task_id="upload", source=str(wav_file), wait_for_completion=True, fail_on_flagged=fail_on_flagged
    )
    if fail_on_flagged:
        with pytest.raises(exc.RiffusionUploadFailedError, match="is flagged"):
            operator.execute(task_context(RecordingTI()))
    else:
        result = operator.execute(task_context(RecordingTI()))
        assert result["is_flagged"] is True and result["status"] == "complete"
    assert [request["path"] for request in flowmusic.requests] == ["/v1/flowmusic/files"]
