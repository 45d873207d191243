"""Servers that misbehave on purpose, over real HTTP on loopback, against both clients.

Each case is checked on the sync path (the hook, as operators use it on workers) and on the
deferrable path (a trigger, polled with aiohttp on an event loop), and ends in one line from
the provider's exception family: no partial token, no hang past the timeout, no duplicate
upload or compose, no ``RecursionError`` or ``LookupError`` escaping.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger, UploadCompletedTrigger
from tests.support import FAST_RETRIES, TOKEN, connection_json, one_event

STATUS = ("GET", "music/upload-audio")
SONGS = ("GET", "music")
UPLOAD = ("POST", "music/upload-audio")
COMPOSE = ("POST", "music/create-compose")


def reconnect(monkeypatch: pytest.MonkeyPatch, emu: RiffusionEmulator, **extra: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, **extra))


def status_trigger(job_id: str, **kwargs: Any) -> UploadCompletedTrigger:
    return UploadCompletedTrigger(job_id=job_id, poll_interval=0.01, deadline=time.time() + 20, **kwargs)


def requests_to(emu: RiffusionEmulator, target: tuple[str, str]) -> int:
    method, path = target
    return sum(
        1 for r in emu.requests if r["method"] == method and r["path"].removeprefix("/v1/riffusion").strip("/") == path
    )


def token_parts(text: str, width: int = 6) -> list[str]:
    """Every piece of the token at least ``width`` characters long that ``text`` shows."""
    return [TOKEN[i : i + width] for i in range(len(TOKEN) - width + 1) if TOKEN[i : i + width] in text]


# -- 1. no partial token ------------------------------------------------------------------------

ECHOES = {
    "whole, past the cut-off": {"error": "x" * 400 + f" Bearer {TOKEN}"},
    "split by the cut": {"error": "y" * 190 + TOKEN + " and more"},
    "inside HTML tags": f"<html><b>{'z' * 185}</b>{TOKEN}<i>end</i></html>",
    "JSON-escaped": json.dumps({"error": "w" * 195 + "".join(f"\\u{ord(c):04x}" for c in TOKEN)}),
}


@pytest.mark.parametrize("echo", list(ECHOES), ids=list(ECHOES))
@pytest.mark.parametrize("status", [500, 400])
def test_no_part_of_an_echoed_token_shows_on_the_sync_path(
    emu: RiffusionEmulator, echo: str, status: int, wav_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
    body = ECHOES[echo]
    emu.inject(Fault(method="GET", path=STATUS[1], status=status, body=body, times=5))

    with caplog.at_level("WARNING"), pytest.raises(exc.RiffusionError) as raised:
        RiffusionHook().get_upload_status(job_id)

    shown = " ".join([str(raised.value), str(raised.value.api_error), repr(raised.value), caplog.text])
    assert token_parts(shown) == []
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("echo", list(ECHOES), ids=list(ECHOES))
def test_no_part_of_an_echoed_token_shows_in_a_one_event(
    emu: RiffusionEmulator, echo: str, wav_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
    emu.inject(Fault(method="GET", path=STATUS[1], status=503, body=ECHOES[echo], times=1000))

    with caplog.at_level("WARNING"):
        event = one_event(status_trigger(job_id, max_consecutive_errors=1))

    assert event["status"] == "error"
    assert token_parts(json.dumps(event) + caplog.text) == []
    assert "retrying in" in caplog.text  # the retry warnings were written, and scrubbed


# -- 2. a lost answer is not task-retryable ------------------------------------------------------


def test_an_upload_whose_answer_is_lost_is_unconfirmed_and_stored_once(emu: RiffusionEmulator, wav_file: Path) -> None:
    emu.inject(Fault(method="POST", path=UPLOAD[1], kind="drop_after_body"))

    with pytest.raises(exc.RiffusionUnconfirmedError) as raised:
        RiffusionHook().upload_audio(wav_file)

    assert isinstance(raised.value, AirflowFailException)  # Airflow's task retries do not upload again
    assert len(emu.uploads) == 1  # the server stored it: a retry would have paid twice
    assert requests_to(emu, UPLOAD) == 1
    assert "may have been stored" in str(raised.value)


def test_a_compose_whose_answer_is_lost_is_unconfirmed_and_sent_once(emu: RiffusionEmulator) -> None:
    emu.inject(Fault(method="POST", path=COMPOSE[1], kind="drop_after_body"))

    with pytest.raises(exc.RiffusionUnconfirmedError) as raised:
        RiffusionHook().create_compose("dub techno", title="Lost")

    assert isinstance(raised.value, AirflowFailException)
    assert requests_to(emu, COMPOSE) == 1
    assert "Songs may have been started" in str(raised.value)


def test_a_read_whose_answer_is_lost_is_retried(emu: RiffusionEmulator, wav_file: Path) -> None:
    job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
    emu.inject(Fault(method="GET", path=STATUS[1], kind="drop_after_body"))

    assert RiffusionHook().get_upload_status(job_id)["job_id"] == job_id
    assert requests_to(emu, STATUS) == 2


# -- 3. the timeout bounds each whole answer ----------------------------------------------------

TRICKLE_TIMEOUT = 1.0


@pytest.mark.parametrize("target", [STATUS, COMPOSE], ids=["status GET", "compose POST"])
def test_a_trickling_server_holds_a_sync_call_no_longer_than_its_timeout(
    emu: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch, wav_file: Path, target: tuple[str, str]
) -> None:
    job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
    reconnect(monkeypatch, emu, timeout=TRICKLE_TIMEOUT, max_attempts=2)
    # One byte every 0.2 s: each read succeeds well within the timeout, the whole answer never would.
    emu.inject(Fault(method=target[0], path=target[1], kind="trickle", seconds=0.2, times=5))

    started = time.monotonic()
    with pytest.raises(exc.RiffusionError) as raised:
        if target == STATUS:
            RiffusionHook().get_upload_status(job_id)
        else:
            RiffusionHook().create_compose("slow jazz")
    held = time.monotonic() - started

    attempts = 2 if target == STATUS else 1  # the compose request left whole: unconfirmed, never repeated
    backoff = FAST_RETRIES["retry_max_delay"] * (attempts - 1)
    assert held < attempts * TRICKLE_TIMEOUT + backoff + 1.5, f"held the call for {held:.1f} s"
    assert f"did not answer {'the status' if target == STATUS else 'the compose request'}" in str(raised.value)
    assert requests_to(emu, target) == attempts
    if target == COMPOSE:
        assert isinstance(raised.value, exc.RiffusionUnconfirmedError)


def test_a_trickling_server_holds_a_trigger_poll_no_longer_than_its_timeout(
    emu: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch, wav_file: Path
) -> None:
    job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
    reconnect(monkeypatch, emu, timeout=TRICKLE_TIMEOUT, max_attempts=1)
    emu.inject(Fault(method="GET", path=STATUS[1], kind="trickle", seconds=0.2, times=1000))

    started = time.monotonic()
    event = one_event(status_trigger(job_id, max_consecutive_errors=1))
    held = time.monotonic() - started

    assert event["status"] == "error" and "did not answer" in event["message"]
    assert requests_to(emu, STATUS) == 2  # two polls of one attempt each: 1 blip ridden out, then the end
    assert held < 2 * TRICKLE_TIMEOUT + 1.5, f"held the wait for {held:.1f} s"


# -- 4. hostile JSON --------------------------------------------------------------------------

HOSTILE: dict[str, dict[str, Any]] = {
    "nested 100k levels": {"kind": "nested"},
    "charset=utf8mb4": {"kind": "charset", "charset": "utf8mb4"},
    "charset that is no encoding": {"kind": "charset", "charset": "x-klingon"},
    "50 MB body": {"kind": "huge"},
}


@pytest.mark.parametrize("hostile", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_json_is_a_response_error_on_the_sync_path(
    emu: RiffusionEmulator, hostile: str, wav_file: Path
) -> None:
    job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
    emu.inject(Fault(method="GET", path=STATUS[1], **HOSTILE[hostile]))

    with pytest.raises(exc.RiffusionResponseError) as raised:
        RiffusionHook().get_upload_status(job_id)

    assert type(raised.value) is exc.RiffusionResponseError
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 600


@pytest.mark.parametrize("hostile", list(HOSTILE), ids=list(HOSTILE))
def test_a_trigger_rides_out_hostile_json(emu: RiffusionEmulator, hostile: str, wav_file: Path) -> None:
    job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
    emu.inject(Fault(method="GET", path=STATUS[1], **HOSTILE[hostile]))

    event = one_event(status_trigger(job_id))

    assert event["status"] == "success"  # one bad answer is a blip, not the end of the wait
    assert event["result"]["status"] == "complete"


@pytest.mark.parametrize("hostile", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_json_answering_an_upload_is_unconfirmed(emu: RiffusionEmulator, hostile: str, wav_file: Path) -> None:
    emu.inject(Fault(method="POST", path=UPLOAD[1], **HOSTILE[hostile]))

    with pytest.raises(exc.RiffusionUnconfirmedError):
        RiffusionHook().upload_audio(wav_file)
    assert requests_to(emu, UPLOAD) == 1


def test_a_trigger_event_stays_small_when_the_answer_is_big(emu: RiffusionEmulator, wav_file: Path) -> None:
    job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
    big = {"status": "complete", "lyrics": "la la", "audio_upload_id": job_id.split(":")[0], "pad": "p" * 900_000}
    emu.inject(Fault(method="GET", path=STATUS[1], status=200, body=big))

    event = one_event(status_trigger(job_id))

    assert event["status"] == "success" and event["result"]["lyrics"] == "la la"
    assert len(json.dumps(event)) < 2048  # what the triggerer writes to the database
    assert "omitted" in event["result"]["response"]


# -- 5. ids are strings -----------------------------------------------------------------------

BAD_IDS = {"an object": {"x": 1}, "a list": ["a"], "a boolean": True, "empty": "", "a number": 7}


@pytest.mark.parametrize("bad", list(BAD_IDS), ids=list(BAD_IDS))
@pytest.mark.parametrize("revision_body", ["job_id", "id"])
def test_an_upload_answered_with_a_bad_id_is_unconfirmed(
    emu: RiffusionEmulator, bad: str, revision_body: str, wav_file: Path
) -> None:
    value = BAD_IDS[bad]
    body = {"job_id": value} if revision_body == "job_id" else {"id": value, "audio_upload_id": value}
    emu.inject(Fault(method="POST", path=UPLOAD[1], status=200, body=body))

    with pytest.raises(exc.RiffusionUnconfirmedError) as raised:
        RiffusionHook().upload_audio(wav_file)
    assert "not an id string" in str(raised.value) or "no job id" in str(raised.value)  # never stringified


@pytest.mark.parametrize("bad", list(BAD_IDS), ids=list(BAD_IDS))
def test_a_compose_answered_with_a_bad_id_is_unconfirmed(emu: RiffusionEmulator, bad: str) -> None:
    emu.inject(Fault(method="POST", path=COMPOSE[1], status=200, body={"jobs": [{"id": BAD_IDS[bad]}]}))

    with pytest.raises(exc.RiffusionUnconfirmedError):
        RiffusionHook().create_compose("ambient")


@pytest.mark.parametrize("bad", list(BAD_IDS), ids=list(BAD_IDS))
def test_songs_with_a_bad_id_are_a_bad_answer_on_both_paths(emu: RiffusionEmulator, bad: str) -> None:
    job_ids = RiffusionHook().create_compose("ambient")["job_ids"]
    songs = [{"id": BAD_IDS[bad], "status": "completed", "title": "t"}]
    emu.inject(Fault(method="GET", path=SONGS[1], status=200, body=songs, times=1000))

    with pytest.raises(exc.RiffusionResponseError):
        RiffusionHook().get_songs(job_ids[0])
    event = one_event(SongsCompletedTrigger(job_ids=job_ids, poll_interval=0.01, max_consecutive_errors=1))
    assert event["status"] == "error" and event["error_class"] == "RiffusionResponseError"


# -- 10. undocumented statuses are fatal --------------------------------------------------------


@pytest.mark.parametrize("status", [403, 409, 413])
def test_an_undocumented_4xx_is_fatal_at_once_on_both_paths(
    emu: RiffusionEmulator, status: int, wav_file: Path
) -> None:
    job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
    emu.inject(Fault(method="GET", path=STATUS[1], status=status, times=1000))

    with pytest.raises(exc.RiffusionUnexpectedStatusError) as raised:
        RiffusionHook().get_upload_status(job_id)
    assert isinstance(raised.value, AirflowFailException) and f"HTTP {status}" in str(raised.value)
    assert requests_to(emu, STATUS) == 1

    event = one_event(status_trigger(job_id))
    assert event["error_class"] == "RiffusionUnexpectedStatusError"
    assert requests_to(emu, STATUS) == 2  # one more poll, no retry, no blip ridden out
