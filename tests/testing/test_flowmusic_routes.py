"""Flow Music API v1 on the emulator (``testing/flowmusic_routes.py``) over real HTTP, beside Riffusion."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from airflow_provider_riffusion.sources.kinds import sniff_kind
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator, UploadRecord
from tests.testing._support import TOKEN, Factory, client, url, wait_for

ACCOUNT = "artist@example.com"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(54)
MP3_FRAME = b"\xff\xfb\x90\x64" + bytes(60)
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(48)
M4A = b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A isom" + bytes(40)
CAP = 40 * 1024 * 1024
JOBID = re.compile(
    r"job:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-user:777-(?P<email>.+)-bot:flowmusic"
)
CLIP_KEYS = {
    "clip",
    "title",
    "duration_s",
    "lyrics",
    "seed",
    "lyrics_timing",
    "created_at",
    "audio_url",
    "wav_url",
    "image_url",
}


def fm(start: Factory, **kwargs: Any) -> RiffusionEmulator:
    return start(service="flowmusic", **kwargs)


def upload(
    session: requests.Session, emu: RiffusionEmulator, data: Any = MP3, content_type: str = "audio/mpeg", **params: str
) -> requests.Response:
    return session.post(url(emu, "files"), params=params, data=data, headers={"Content-Type": content_type}, timeout=30)


def music(session: requests.Session, emu: RiffusionEmulator, **body: Any) -> requests.Response:
    return session.post(url(emu, "music"), json=body, timeout=10)


def job_url(emu: RiffusionEmulator, jobid: str) -> str:
    return url(emu, f"jobs/{quote(jobid, safe='')}")


def start_job(session: requests.Session, emu: RiffusionEmulator, **body: Any) -> dict[str, Any]:
    response = music(session, emu, prompt=body.pop("prompt", "ambient piano rain"), mode="async", **body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def poll(session: requests.Session, emu: RiffusionEmulator, jobid: str) -> dict[str, Any]:
    response = session.get(job_url(emu, jobid), timeout=10)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def completed(session: requests.Session, emu: RiffusionEmulator, **body: Any) -> dict[str, Any]:
    """A job polled to its end (``song_polls`` GETs pending first)."""
    jobid = start_job(session, emu, **body)["jobid"]
    for _ in range(emu.song_polls + 1):
        record = poll(session, emu, jobid)
    return record


def running(session: requests.Session, emu: RiffusionEmulator) -> list[str]:
    """The jobids ``GET jobs`` lists (the default, documented shape: keyed by email)."""
    body = session.get(url(emu, "jobs"), timeout=10).json()
    return [job["jobid"] for account in body.values() for job in account["jobs"]]


def raw(
    emu: RiffusionEmulator, method: str, target: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """A request with the target sent exactly as written (requests would normalise it)."""
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=30)
    try:
        connection.request(method, target, body=body, headers={"Authorization": f"Bearer {TOKEN}", **(headers or {})})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


# The emulator object: service, base URL, accounts -----------------------------------------------------


def test_one_server_serves_both_services_and_base_url_names_the_chosen_one(start: Factory) -> None:
    emu = fm(start, emails=("a@example.com", "b@example.com"))
    default = start()
    session = client()

    flowmusic = session.get(url(emu, "accounts"), timeout=10)
    riffusion = session.get(f"http://127.0.0.1:{emu.port}/v1/riffusion/accounts", timeout=10)

    assert (emu.service, default.service) == ("flowmusic", "riffusion")
    assert emu.base_url == f"http://127.0.0.1:{emu.port}/v1/flowmusic"
    assert default.base_url == f"http://127.0.0.1:{default.port}/v1/riffusion"
    assert emu.accounts == ("a@example.com", "b@example.com") and default.accounts == (ACCOUNT,)
    assert emu.user_ids == ("user-1",)
    assert list(flowmusic.json()) == ["a@example.com", "b@example.com"]
    assert list(riffusion.json()) == ["user-1"]
    assert "service=flowmusic" in repr(emu) and TOKEN not in repr(emu)


def test_constructor_checks_service_and_emails() -> None:
    with pytest.raises(ValueError, match="service"):
        RiffusionEmulator(service="suno")
    with pytest.raises(ValueError, match="emails"):
        RiffusionEmulator(emails="a@example.com")
    with pytest.raises(ValueError, match="emails"):
        RiffusionEmulator(emails=("not-an-email",))
    with pytest.raises(ValueError, match="distinct"):
        RiffusionEmulator(emails=("a@example.com", "a@example.com"))


# POST files -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("audio/mpeg", MP3),
        ("audio/mpeg", MP3_FRAME),
        ("audio/wav", WAV),
        ("audio/wave", WAV),
        ("audio/x-wav", WAV),
        ("audio/mp4", M4A),
        ("audio/x-m4a", M4A),
        ("audio/aac", M4A),
        ("Audio/MPEG; charset=binary", MP3),
    ],
)
def test_upload_answers_an_asset_and_records_it(start: Factory, content_type: str, data: bytes) -> None:
    emu = fm(start)

    response = upload(client(), emu, data, content_type)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {
        "id",
        "url",
        "kind",
        "assetType",
        "email",
        "metadata_stripped",
        "clip_id",
        "operation_id",
        "is_flagged",
        "duration_s",
    }
    assert re.fullmatch(r"user:777-asset:[0-9a-f]{32}", answer["id"])
    assert answer["url"].startswith("https://storage.emulator.invalid/")
    assert (answer["kind"], answer["assetType"], answer["email"]) == ("audio", "audio", ACCOUNT)
    assert answer["metadata_stripped"] is True and answer["is_flagged"] is False
    assert re.fullmatch(r"user:777-clip:[0-9a-f]{32}", answer["clip_id"]) and answer["operation_id"]
    assert isinstance(answer["duration_s"], float)
    assert emu.uploads == [
        UploadRecord(
            file_name="",
            content_type=content_type.split(";")[0].lower(),
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            user_id=ACCOUNT,
            job_id=answer["id"],
            audio_upload_id=answer["id"],
            chunked=False,
            service="flowmusic",
        )
    ]
    assert emu.uploads[0].to_dict()["service"] == "flowmusic"


def test_upload_account_flag_and_a_chunked_body(start: Factory) -> None:
    emu = fm(start, emails=("a@example.com", "b@example.com"))
    emu.flag_uploads = True
    session = client()
    pieces = [MP3[:2], MP3[2:], os.urandom(70_000)]

    first = upload(session, emu).json()
    chosen = upload(session, emu, email="b@example.com").json()
    status, body = raw(emu, "POST", "/v1/flowmusic/files", iter(pieces), {"Content-Type": "audio/mpeg"})

    assert (first["email"], chosen["email"]) == ("a@example.com", "b@example.com")
    assert first["is_flagged"] is True
    assert status == 200, body
    assert [record.user_id for record in emu.uploads] == ["a@example.com", "b@example.com", "a@example.com"]
    assert emu.uploads[-1].chunked is True
    assert emu.uploads[-1].sha256 == hashlib.sha256(b"".join(pieces)).hexdigest()


@pytest.mark.parametrize(
    ("content_type", "data", "says"),
    [
        ("application/octet-stream", MP3, "Content-Type"),
        ("image/png", MP3, "Content-Type"),
        ("audio/ogg", MP3, "Content-Type"),
        ("", MP3, "Content-Type"),
        ("audio/mpeg", b"", "empty"),
        ("audio/mpeg", WAV, "magic"),
        ("audio/wav", MP3, "magic"),
        ("audio/wav", b"RIFF\x00\x00\x00\x00AVI LIST", "magic"),
        ("audio/mp4", MP3, "magic"),
        ("audio/aac", WAV, "magic"),
    ],
)
def test_upload_refuses_bad_types_empty_bodies_and_wrong_magic(
    start: Factory, content_type: str, data: bytes, says: str
) -> None:
    emu = fm(start)

    response = upload(client(), emu, data, content_type)

    assert response.status_code == 400
    assert response.json()["code"] == 400 and says in response.json()["error"]
    assert emu.uploads == []


def test_upload_refuses_an_unknown_account(start: Factory) -> None:
    emu = fm(start)

    response = upload(client(), emu, email="ghost@example.com")

    assert response.status_code == 400 and "ghost@example.com" in response.json()["error"]
    assert emu.uploads == []


def test_upload_cap_is_40_mib(start: Factory) -> None:
    emu = fm(start)
    session = client()
    at_cap = MP3 + bytes(CAP - len(MP3))

    accepted = upload(session, emu, at_cap)
    refused = upload(session, emu, at_cap + b"\x00")

    assert accepted.status_code == 200
    assert refused.status_code == 413
    assert refused.json() == {"error": "File too large: the limit is 40 MB", "code": 413}
    assert [record.bytes for record in emu.uploads] == [CAP]


def test_a_chunked_upload_over_the_cap_is_refused(start: Factory) -> None:
    emu = fm(start)
    block = bytes(1024 * 1024)
    pieces = iter([MP3, *([block] * 40)])  # 40 MiB and a little more

    status, body = raw(emu, "POST", "/v1/flowmusic/files", pieces, {"Content-Type": "audio/mpeg"})

    assert status == 413
    assert json.loads(body) == {"error": "File too large: the limit is 40 MB", "code": 413}
    assert emu.uploads == []
    assert client().get(url(emu, "accounts"), timeout=10).status_code == 200


# POST music -------------------------------------------------------------------------------------------


def test_async_generation_answers_201_with_the_pending_record(start: Factory) -> None:
    emu = fm(start)
    body = {"prompt": "dream pop", "mode": "async", "lyrics": "la la", "replyRef": "r-1"}

    response = music(client(), emu, **body)

    assert response.status_code == 201
    record = response.json()
    assert set(record) == {"jobid", "email", "status", "created_at", "request"}
    match = JOBID.fullmatch(record["jobid"])
    assert match is not None and match["email"] == ACCOUNT
    assert (record["email"], record["status"]) == (ACCOUNT, "pending")
    assert record["request"] == body
    assert record["created_at"].endswith("Z")


def test_sync_generation_answers_200_with_two_clips_and_frees_its_slot(start: Factory) -> None:
    emu = fm(start, song_polls=5)
    session = client()

    response = music(session, emu, prompt="ambient piano rain", lyrics="hello rain")

    assert response.status_code == 200
    record = response.json()
    assert record["status"] == "completed" and record["request"] == {
        "prompt": "ambient piano rain",
        "lyrics": "hello rain",
    }
    assert {"completed_at", "duration_ms", "clips"} <= set(record) and "error" not in record
    assert len(record["clips"]) == 2 and record["clips"][0]["clip"] != record["clips"][1]["clip"]
    for clip in record["clips"]:
        assert set(clip) == CLIP_KEYS
        assert re.fullmatch(r"user:777-clip:[0-9a-f]{32}", clip["clip"])
        assert (clip["title"], clip["lyrics"], clip["lyrics_timing"], clip["image_url"]) == (
            "Ambient Piano Rain",
            "hello rain",
            None,
            None,
        )
        assert isinstance(clip["seed"], int) and isinstance(clip["duration_s"], float)
        public = f"http://127.0.0.1:{emu.port}/_public/flowmusic/{quote(clip['clip'], safe='')}"
        assert (clip["audio_url"], clip["wav_url"]) == (f"{public}.m4a", f"{public}.wav")
        assert "%3A" in clip["wav_url"]
    assert running(session, emu) == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "x" * 10_001}, "prompt"),
        ({"prompt": "x", "prompt_1": "x"}, "Unknown parameter prompt_1"),
        ({"prompt": "x", "user_id": "user-1"}, "Unknown parameter user_id"),
        ({"prompt": "x", "lyrics_strength": 50}, "Unknown parameter lyrics_strength"),
        ({"prompt": "x", "title": "T"}, "Unknown parameter title"),
        ({"prompt": "x", "refAudio11": "a"}, "Unknown parameter refAudio11"),
        ({"prompt": "x", "prompt_2": None}, "Unknown parameter prompt_2"),
        ({"prompt": "x", "instrumental": "yes"}, "instrumental"),
        ({"prompt": "x", "lyrics": "l" * 10_001}, "lyrics"),
        ({"prompt": "x", "lyrics": ["la"]}, "lyrics"),
        ({"prompt": "x", "ghostwriter": "max"}, "ghostwriter"),
        ({"prompt": "x", "mode": "later"}, "mode"),
        ({"prompt": "x", "model": "FUZZ-0.8"}, "model"),
        ({"prompt": "x", "replyUrl": "h" * 1025}, "replyUrl"),
        ({"prompt": "x", "replyRef": "r" * 1025}, "replyRef"),
        ({"prompt": "x", "refAudio1": "not-an-asset"}, "refAudio1"),
        ({"prompt": "x", "refAudio10": 7}, "refAudio10"),
        ({"prompt": "x", "refImage1": 5}, "refImage1"),
        ({"prompt": "x", "email": "ghost@example.com"}, "ghost@example.com"),
    ],
)
def test_generation_refuses_bad_parameters(start: Factory, body: dict[str, Any], says: str) -> None:
    emu = fm(start)

    response = music(client(), emu, **body)

    assert response.status_code == 400, body
    assert response.json()["code"] == 400 and says in response.json()["error"]
    assert running(client(), emu) == []


def test_unknown_parameter_message_is_exact(start: Factory) -> None:
    emu = fm(start)

    response = music(client(), emu, prompt="x", prompt_1_strength=50)

    assert response.json() == {"error": "Unknown parameter prompt_1_strength", "code": 400}


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"prompt"', b""])
def test_generation_refuses_a_body_that_is_not_a_json_object(start: Factory, data: bytes) -> None:
    emu = fm(start)

    response = client().post(url(emu, "music"), data=data, headers={"Content-Type": "application/json"}, timeout=10)

    assert response.status_code == 400 and response.json()["code"] == 400


def test_generation_accepts_every_parameter_at_its_bounds(start: Factory) -> None:
    emu = fm(start)
    session = client()
    asset = upload(session, emu).json()["id"]
    body: dict[str, Any] = {
        "prompt": "p" * 10_000,
        "email": ACCOUNT,
        "instrumental": False,
        "lyrics": "l" * 10_000,
        "ghostwriter": "pro",
        "mode": "async",
        "replyUrl": "h" * 1024,
        "replyRef": "r" * 1024,
        "model": "lyria-3.5",
        **{f"refAudio{n}": asset for n in range(1, 11)},
        **{f"refImage{n}": f"image-{n}" for n in range(1, 11)},
    }

    response = music(session, emu, **body)
    standard = music(session, emu, prompt="p", ghostwriter="standard", model="lyria-3-pro", mode="sync")

    assert response.status_code == 201, response.text
    assert response.json()["request"] == body
    assert standard.status_code == 200


def test_a_riffusion_upload_is_no_reference_for_flow_music(start: Factory) -> None:
    emu = fm(start)
    session = client()
    riffusion = session.post(
        f"http://127.0.0.1:{emu.port}/v1/riffusion/music/upload-audio",
        params={"file_name": "take"},
        data=MP3,
        headers={"Content-Type": "audio/mpeg"},
        timeout=10,
    ).json()

    response = music(session, emu, prompt="x", refAudio1=riffusion["audio_upload_id"])

    assert response.status_code == 400 and "refAudio1" in response.json()["error"]
    assert [record.service for record in emu.uploads] == ["riffusion"]


def test_a_moderated_prompt_is_refused(start: Factory) -> None:
    emu = fm(start)

    response = music(client(), emu, prompt="a FORBIDDEN chord", mode="async")

    assert response.status_code == 400
    assert "moderated" in response.json()["error"].lower()
    assert running(client(), emu) == []


def test_clip_lyrics_posted_generated_or_none_when_instrumental(start: Factory) -> None:
    emu = fm(start)
    session = client()

    posted = music(session, emu, prompt="neon rain", lyrics="my words").json()["clips"][0]["lyrics"]
    generated = music(session, emu, prompt="neon rain").json()["clips"][0]["lyrics"]
    again = music(session, emu, prompt="neon rain").json()["clips"][0]["lyrics"]
    instrumental = music(session, emu, prompt="neon rain", instrumental=True).json()["clips"][0]["lyrics"]

    assert posted == "my words"
    assert "neon rain" in generated and generated == again
    assert instrumental is None


# Capacity, 429 and credits ----------------------------------------------------------------------------


def test_a_named_account_without_a_free_slot_answers_429(start: Factory) -> None:
    emu = fm(start, emails=("a@example.com", "b@example.com"))
    emu.free_slots = 1
    session = client()
    start_job(session, emu, email="a@example.com")

    busy = music(session, emu, prompt="x", email="a@example.com", mode="async")
    other = music(session, emu, prompt="x", email="b@example.com", mode="async")

    assert busy.status_code == 429
    assert busy.json()["code"] == 429 and "a@example.com" in busy.json()["error"]
    assert "Retry-After" not in busy.headers
    assert other.status_code == 201


def test_without_an_email_the_first_account_with_a_free_slot_is_taken(start: Factory) -> None:
    emu = fm(start, emails=("a@example.com", "b@example.com"))
    emu.free_slots = 1
    session = client()

    first = start_job(session, emu)
    second = start_job(session, emu)
    none_left = music(session, emu, prompt="x", mode="async")

    assert (first["email"], second["email"]) == ("a@example.com", "b@example.com")
    assert none_left.status_code == 429
    assert none_left.json() == {"error": "All accounts are busy", "code": 429}
    assert "Retry-After" not in none_left.headers


def test_retry_after_comes_only_when_set(start: Factory) -> None:
    emu = fm(start)
    emu.free_slots = 0
    session = client()

    without = music(session, emu, prompt="x")
    emu.flowmusic_retry_after = 7
    with_header = music(session, emu, prompt="x")
    named = music(session, emu, prompt="x", email=ACCOUNT)
    emu.flowmusic_retry_after = None
    cleared = music(session, emu, prompt="x")

    assert [r.status_code for r in (without, with_header, named, cleared)] == [429, 429, 429, 429]
    assert "Retry-After" not in without.headers and "Retry-After" not in cleared.headers
    assert with_header.headers["Retry-After"] == named.headers["Retry-After"] == "7"


def test_a_job_holds_its_slot_until_it_ends(start: Factory) -> None:
    emu = fm(start, song_polls=1)
    emu.free_slots = 1
    session = client()
    jobid = start_job(session, emu)["jobid"]

    busy = music(session, emu, prompt="x", mode="async")
    pending = poll(session, emu, jobid)
    still_busy = music(session, emu, prompt="x", mode="async")
    done = poll(session, emu, jobid)
    free = music(session, emu, prompt="x", mode="async")

    assert (busy.status_code, still_busy.status_code, free.status_code) == (429, 429, 201)
    assert (pending["status"], done["status"]) == ("pending", "completed")


def test_concurrent_generations_never_exceed_max_jobs(start: Factory) -> None:
    emu = fm(start)
    emu.free_slots = 3
    statuses: list[int] = []
    lock = threading.Lock()

    def go() -> None:
        status = music(client(), emu, prompt="x", mode="async").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=go) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] * 3 + [429] * 9
    assert len(running(client(), emu)) == 3


def test_each_generation_costs_credits_and_402_when_too_few(start: Factory) -> None:
    emu = fm(start)
    session = client()
    account = url(emu, f"accounts/{quote(ACCOUNT, safe='')}")

    before = session.get(account, timeout=10).json()
    music(session, emu, prompt="x")
    after_one = session.get(account, timeout=10).json()
    emu.flowmusic_credits_per_job = 981
    refused = music(session, emu, prompt="x", mode="async")

    assert before["credits"] == {"balance": 1000} and before["credits_remaining"] == 1000
    assert after_one["credits"] == {"balance": 980} and after_one["tokens_remaining"] == 980 * 12
    assert refused.status_code == 402 and refused.json()["code"] == 402
    assert running(session, emu) == []


# GET jobs/{jobid}: progress, failure, percent-encoding ------------------------------------------------


def test_a_job_is_pending_for_song_polls_gets_then_completed(start: Factory) -> None:
    emu = fm(start, song_polls=2)
    session = client()
    jobid = start_job(session, emu, prompt="synthwave night drive")["jobid"]

    records = [poll(session, emu, jobid) for _ in range(4)]

    assert [record["status"] for record in records] == ["pending", "pending", "completed", "completed"]
    assert "clips" not in records[1] and "completed_at" not in records[1]
    assert records[2]["clips"] == records[3]["clips"] and len(records[2]["clips"]) == 2
    assert records[2]["clips"][0]["title"] == "Synthwave Night Drive"
    assert isinstance(records[2]["duration_ms"], int) and records[2]["completed_at"].endswith("Z")
    assert records[2]["request"] == {"prompt": "synthwave night drive", "mode": "async"}


def test_a_failed_job_carries_the_error_and_frees_its_slot(start: Factory) -> None:
    emu = fm(start, song_polls=0)
    emu.song_final_status = "failed"
    emu.free_slots = 1
    session = client()
    jobid = start_job(session, emu)["jobid"]

    record = poll(session, emu, jobid)
    download = session.get(url(emu, "music/download"), params={"id": jobid, "format": "mp3"}, timeout=10)
    synced = music(session, emu, prompt="x")

    assert record["status"] == "failed" and "clips" not in record
    assert record["error"] == {"code": "generation_failed", "message": "The model could not generate this song"}
    assert running(session, emu) == []
    assert download.status_code == 409
    assert synced.status_code == 200 and synced.json()["status"] == "failed"


def test_an_unknown_job_is_404(start: Factory) -> None:
    emu = fm(start)

    unknown = f"job:00000000-0000-4000-8000-000000000000-user:777-{ACCOUNT}-bot:flowmusic"

    response = client().get(job_url(emu, unknown), timeout=10)

    assert response.status_code == 404 and response.json()["code"] == 404


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("keep", [":@", "@", ":"])
def test_a_jobid_must_arrive_percent_encoded(start: Factory, method: str, keep: str) -> None:
    emu = fm(start)
    jobid = start_job(client(), emu)["jobid"]

    status, body = raw(emu, method, f"/v1/flowmusic/jobs/{quote(jobid, safe=keep)}")

    assert status == 400
    assert json.loads(body) == {"error": "jobid must be URL-encoded", "code": 400}
    assert running(client(), emu) == [jobid]


def test_a_jobid_with_every_byte_escaped_is_decoded(start: Factory) -> None:
    emu = fm(start, song_polls=3)
    jobid = start_job(client(), emu)["jobid"]
    escaped = "".join(f"%{byte:02X}" for byte in jobid.encode())

    status, body = raw(emu, "GET", f"/v1/flowmusic/jobs/{escaped}")

    assert status == 200 and json.loads(body)["jobid"] == jobid


# DELETE jobs/{jobid} ----------------------------------------------------------------------------------


def test_delete_stops_a_running_job_with_204_and_frees_its_slot(start: Factory) -> None:
    emu = fm(start, song_polls=1)
    emu.free_slots = 1
    session = client()
    jobid = start_job(session, emu)["jobid"]

    deleted = session.delete(job_url(emu, jobid), timeout=10)
    again = session.delete(job_url(emu, jobid), timeout=10)
    free = music(session, emu, prompt="x", mode="async")

    assert deleted.status_code == 204 and deleted.content == b""
    assert "Content-Type" not in deleted.headers
    assert again.status_code == 404 and again.json()["code"] == 404
    assert free.status_code == 201
    assert running(session, emu) == [free.json()["jobid"]]
    # The record stays, and its song still ends.
    assert [poll(session, emu, jobid)["status"] for _ in range(2)] == ["pending", "completed"]
    assert emu.requests[1] == {"method": "DELETE", "path": f"/v1/flowmusic/jobs/{jobid}", "query": {}, "status": 204}


def test_delete_of_an_ended_or_unknown_job_is_404(start: Factory) -> None:
    emu = fm(start)
    session = client()
    jobid = music(session, emu, prompt="x").json()["jobid"]

    ended = session.delete(job_url(emu, jobid), timeout=10)
    unknown = session.delete(job_url(emu, "job:nope"), timeout=10)

    assert ended.status_code == unknown.status_code == 404


# GET jobs: both shapes --------------------------------------------------------------------------------


def test_get_jobs_documented_shape_by_default(start: Factory) -> None:
    emu = fm(start, emails=("a@example.com", "b@example.com"))
    emu.free_slots = 4
    session = client()
    assert session.get(url(emu, "jobs"), timeout=10).json() == {}  # nothing runs
    first = start_job(session, emu, email="b@example.com")

    body = session.get(url(emu, "jobs"), timeout=10).json()

    job = {"jobid": first["jobid"], "status": "pending", "created_at": first["created_at"]}
    assert body == {"b@example.com": {"running": 1, "maxJobs": 4, "jobs": [job]}}


def test_get_jobs_accounts_shape(start: Factory) -> None:
    emu = fm(start, emails=("a@example.com", "b@example.com", "c@example.com"))
    emu.flowmusic_jobs_shape = "accounts"
    session = client()
    first = start_job(session, emu, email="b@example.com")["jobid"]
    second = start_job(session, emu, email="b@example.com")["jobid"]
    third = start_job(session, emu, email="c@example.com")["jobid"]

    body = session.get(url(emu, "jobs"), timeout=10).json()

    assert body == {
        "total": 3,
        "accounts": {
            "b@example.com": {
                "total": 2,
                "jobs": [{"jobid": first, "elapsed": "00:00"}, {"jobid": second, "elapsed": "00:00"}],
            },
            "c@example.com": {"total": 1, "jobs": [{"jobid": third, "elapsed": "00:00"}]},
        },
        "availableAccounts": ["a@example.com", "b@example.com", "c@example.com"],
    }


def test_get_jobs_list_shape(start: Factory) -> None:
    emu = fm(start)
    emu.flowmusic_jobs_shape = "list"
    session = client()
    record = start_job(session, emu)

    body = session.get(url(emu, "jobs"), timeout=10).json()

    assert body == [{"jobid": record["jobid"], "email": ACCOUNT, "started": record["created_at"], "elapsed": "00:00"}]


def test_get_jobs_when_nothing_runs(start: Factory) -> None:
    emu = fm(start)
    session = client()

    emu.flowmusic_jobs_shape = "accounts"
    accounts = session.get(url(emu, "jobs"), timeout=10).json()
    emu.flowmusic_jobs_shape = "list"
    listed = session.get(url(emu, "jobs"), timeout=10).json()

    assert accounts == {"total": 0, "accounts": {}, "availableAccounts": [ACCOUNT]}
    assert listed == []


# Accounts ---------------------------------------------------------------------------------------------


def test_get_accounts(start: Factory) -> None:
    emu = fm(start, emails=("a@example.com", "b@example.com"))
    emu.free_slots = 5
    session = client()

    everyone = session.get(url(emu, "accounts"), timeout=10).json()
    one = session.get(url(emu, "accounts/b@example.com"), timeout=10)
    encoded = session.get(url(emu, "accounts/b%40example.com/"), timeout=10)
    ghost = session.get(url(emu, "accounts/ghost@example.com"), timeout=10)

    assert list(everyone) == ["a@example.com", "b@example.com"]
    record = everyone["b@example.com"]
    assert {
        "email",
        "tier",
        "user_id",
        "maxJobs",
        "added",
        "refreshed_at",
        "refreshed_count",
        "access_token",
        "refresh_token",
        "session_id",
    } <= set(record)
    assert (record["email"], record["tier"], record["maxJobs"], record["refreshed_count"]) == (
        "b@example.com",
        "plus",
        5,
        0,
    )
    assert "redacted" in record["access_token"] and "redacted" in record["refresh_token"]
    assert "credits" not in record
    assert one.status_code == 200 and one.json() == encoded.json()
    assert one.json() == {**record, "credits": {"balance": 1000}, "credits_remaining": 1000, "tokens_remaining": 12_000}
    assert ghost.status_code == 404 and ghost.json()["code"] == 404


def test_no_accounts_configured(start: Factory) -> None:
    emu = fm(start, emails=())
    session = client()

    accounts = session.get(url(emu, "accounts"), timeout=10)
    generation = music(session, emu, prompt="x")
    uploaded = upload(session, emu)

    assert (accounts.status_code, accounts.json()) == (200, {})
    assert generation.status_code == 400 and "account" in generation.json()["error"]
    assert uploaded.status_code == 400


# Downloads: the mp3 through the API, the wav and m4a as public files -----------------------------------


def test_mp3_download_by_clip_or_by_jobid(start: Factory) -> None:
    emu = fm(start)
    emu.download_bytes = 200_000
    session = client()
    record = music(session, emu, prompt="ambient piano rain")
    assert record.status_code == 200
    first, second = record.json()["clips"]

    by_clip = session.get(url(emu, "music/download"), params={"id": second["clip"], "format": "mp3"}, timeout=10)
    by_job = session.get(url(emu, "music/download"), params={"id": record.json()["jobid"]}, timeout=10)

    for audio in (by_clip, by_job):
        assert audio.status_code == 200
        assert audio.headers["Content-Type"] == "audio/mpeg"
        assert audio.headers["Content-Disposition"] == 'attachment; filename="Ambient Piano Rain.mp3"'
        assert sniff_kind(audio.content[:16]) == "mp3"
        assert abs(len(audio.content) - 200_000) < 1024
    assert by_clip.content != by_job.content, "the jobid stands for its first clip"
    assert emu.downloads == [
        {"song_id": clip["clip"], "format": "mp3", "bytes": len(by_clip.content), "service": "flowmusic"}
        | {"authorization": True}
        for clip in (second, first)
    ]


def test_mp3_download_names_a_title_beyond_ascii(start: Factory) -> None:
    emu = fm(start)
    session = client()
    clip = music(session, emu, prompt='café "déjà" vu').json()["clips"][0]

    audio = session.get(url(emu, "music/download"), params={"id": clip["clip"]}, timeout=10)

    assert clip["title"] == 'Café "Déjà" Vu'
    assert audio.headers["Content-Disposition"] == (
        "attachment; filename=\"Caf_ _D_j__ Vu.mp3\"; filename*=UTF-8''" + quote('Café "Déjà" Vu.mp3', safe="")
    )


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"format": "wav"}, 400, "format must be mp3; wav and m4a are public URLs on each clip"),
        ({"format": "m4a"}, 400, "format must be mp3"),
        ({"id": None}, 400, "Invalid id"),
        ({"id": "user:777-clip:nope"}, 400, "Invalid id"),
        ({"id": "pending"}, 409, "not completed"),
    ],
)
def test_mp3_download_errors(start: Factory, params: dict[str, Any], status: int, says: str) -> None:
    emu = fm(start, song_polls=3)
    session = client()
    clip = music(session, emu, prompt="x").json()["clips"][0]["clip"]
    pending = start_job(session, emu)["jobid"]
    query = {"id": clip, **params}
    query["id"] = pending if query["id"] == "pending" else query["id"]

    response = session.get(url(emu, "music/download"), params=query, timeout=10)

    assert response.status_code == status
    assert says in response.json()["error"] and response.json()["code"] == status
    assert emu.downloads == []


def test_public_wav_and_m4a_need_no_token_and_record_whether_one_came(start: Factory) -> None:
    emu = fm(start)
    emu.download_bytes = 100_000
    clip = music(client(), emu, prompt="x").json()["clips"][0]

    wav = requests.get(clip["wav_url"], timeout=10)
    m4a = requests.get(clip["audio_url"], timeout=10)
    with_token = client().get(clip["wav_url"], timeout=10)

    assert wav.status_code == 200 and wav.headers["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(wav.content)) as track:
        assert track.getnframes() * track.getsampwidth() == len(wav.content) - 44
    assert abs(len(wav.content) - 100_000) < 1024
    assert m4a.status_code == 200 and m4a.headers["Content-Type"] == "audio/mp4"
    assert m4a.content[4:8] == b"ftyp" and sniff_kind(m4a.content[:16]) == "m4a"
    assert len(m4a.content) == 100_000
    assert with_token.status_code == 200 and with_token.content == wav.content
    assert [(entry["format"], entry["authorization"], entry["service"]) for entry in emu.downloads] == [
        ("wav", False, "flowmusic"),
        ("m4a", False, "flowmusic"),
        ("wav", True, "flowmusic"),
    ]
    assert {entry["song_id"] for entry in emu.downloads} == {clip["clip"]}
    public = f"/_public/flowmusic/{clip['clip']}"
    assert [entry["path"] for entry in emu.requests][-3:] == [f"{public}.wav", f"{public}.m4a", f"{public}.wav"]


def test_public_files_answer_while_the_account_is_in_error(start: Factory) -> None:
    emu = fm(start)
    clip = music(client(), emu, prompt="x").json()["clips"][0]
    emu.account_error = True

    assert requests.get(clip["wav_url"], timeout=10).status_code == 200
    assert client().get(url(emu, "accounts"), timeout=10).status_code == 596


def test_unknown_public_files(start: Factory) -> None:
    emu = fm(start)
    clip = music(client(), emu, prompt="x").json()["clips"][0]
    public = f"http://127.0.0.1:{emu.port}/_public/flowmusic"

    unknown = requests.get(f"{public}/{quote('user:777-clip:nope', safe='')}.wav", timeout=10)
    other_kind = requests.get(clip["wav_url"][: -len(".wav")] + ".mp3", timeout=10)
    posted = requests.post(clip["wav_url"], timeout=10)

    assert unknown.status_code == other_kind.status_code == 404
    assert posted.status_code == 405
    assert emu.downloads == []


# POST music/lyrics ------------------------------------------------------------------------------------


def test_lyrics_are_deterministic_and_follow_the_structure(start: Factory) -> None:
    emu = fm(start, emails=("a@example.com", "b@example.com"))
    session = client()

    first = session.post(url(emu, "music/lyrics"), json={"prompt": "rainy city love song"}, timeout=10)
    again = session.post(url(emu, "music/lyrics"), json={"prompt": "rainy city love song"}, timeout=10)
    shaped = session.post(
        url(emu, "music/lyrics"),
        json={"prompt": "rainy city", "structure": "intro, verse, bridge", "email": "b@example.com"},
        timeout=10,
    )

    assert first.status_code == 200
    assert set(first.json()) == {"email", "title", "lyrics", "sound_prompt"}
    assert first.json() == again.json()
    assert first.json()["email"] == "a@example.com" and "rainy city love song" in first.json()["lyrics"]
    assert shaped.json()["email"] == "b@example.com"
    assert [line for line in shaped.json()["lyrics"].splitlines() if line.startswith("[")] == [
        "[intro]",
        "[verse]",
        "[bridge]",
    ]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"prompt": "x", "structure": "s" * 2001}, "structure"),
        ({"prompt": "x", "structure": 3}, "structure"),
        ({"prompt": "x", "lyrics": "la"}, "Unknown parameter lyrics"),
        ({"prompt": "x", "user_id": "u"}, "Unknown parameter user_id"),
        ({"prompt": "x", "email": "ghost@example.com"}, "ghost@example.com"),
    ],
)
def test_lyrics_refuse_bad_parameters(start: Factory, body: dict[str, Any], says: str) -> None:
    emu = fm(start)

    response = client().post(url(emu, "music/lyrics"), json=body, timeout=10)

    assert response.status_code == 400 and says in response.json()["error"]


def test_lyrics_at_their_bounds_and_none_generated(start: Factory) -> None:
    emu = fm(start)
    session = client()

    bounds = session.post(url(emu, "music/lyrics"), json={"prompt": "p" * 2000, "structure": "s" * 2000}, timeout=10)
    none = session.post(url(emu, "music/lyrics"), json={"prompt": "a NoLyrics song"}, timeout=10)

    assert bounds.status_code == 200
    assert none.status_code == 422
    assert none.json() == {"error": {"code": "no_lyrics", "message": "No lyrics were generated for this prompt"}}


# GET music: the account's clips -----------------------------------------------------------------------


def test_list_clips_most_recent_first_in_pages(start: Factory) -> None:
    emu = fm(start)
    session = client()
    older = music(session, emu, prompt="older").json()["clips"]
    newer = music(session, emu, prompt="newer").json()["clips"]

    page = session.get(url(emu, "music"), params={"limit": 3}, timeout=10).json()
    rest = session.get(url(emu, "music"), params={"limit": 3, "offset": 3}, timeout=10).json()
    bad = session.get(url(emu, "music"), params={"limit": 101}, timeout=10)

    assert [clip["clip"] for clip in page["clips"]] == [clip["clip"] for clip in [*newer, *older][:3]]
    assert (page["email"], page["limit"], page["offset"], page["next"]) == (ACCOUNT, 3, 0, 3)
    assert [clip["clip"] for clip in rest["clips"]] == [older[1]["clip"]] and rest["next"] is None
    assert page["clips"][0] == newer[0]
    assert bad.status_code == 400


# Token, account error, routing, request log ------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "files"),
        ("POST", "music"),
        ("GET", "music"),
        ("GET", "jobs"),
        ("GET", "jobs/job%3Ax"),
        ("DELETE", "jobs/job%3Ax"),
        ("GET", "accounts"),
        ("GET", "accounts/artist@example.com"),
        ("GET", "music/download"),
        ("POST", "music/lyrics"),
    ],
)
def test_every_endpoint_wants_the_bearer_token(start: Factory, token: str | None, method: str, path: str) -> None:
    emu = fm(start)

    response = client(token).request(
        method, url(emu, path), data=MP3, headers={"Content-Type": "audio/mpeg"}, timeout=10
    )

    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "code": 401}
    assert emu.uploads == []


def test_account_error_answers_596_naming_the_account(start: Factory) -> None:
    emu = fm(start, emails=("a@example.com", "b@example.com"))
    session = client()
    emu.account_error = True

    answers = [
        session.get(url(emu, "accounts"), timeout=10),
        upload(session, emu),
        music(session, emu, prompt="x"),
        session.get(url(emu, "jobs"), timeout=10),
    ]
    named = upload(session, emu, email="b@example.com")
    wrong_token = client("wrong").get(url(emu, "accounts"), timeout=10)

    reason = "the session could not be refreshed, re-add the account with POST accounts"
    for answer in answers:
        assert answer.status_code == 596
        assert answer.json() == {"error": f"Account a@example.com in error state: {reason}", "code": 596}
    assert named.json()["error"].startswith("Account b@example.com in error state: ")
    assert wrong_token.status_code == 401
    assert emu.uploads == []
    emu.account_error = False
    assert session.get(url(emu, "accounts"), timeout=10).status_code == 200


def test_unknown_paths_and_wrong_methods(start: Factory) -> None:
    emu = fm(start)
    session = client()

    unknown = session.get(url(emu, "music/nothing-here"), timeout=10)
    riffusion_only = session.post(url(emu, "music/create-compose"), json={"prompt_1": "x"}, timeout=10)
    answers = {
        (method, path): session.request(method, url(emu, path), timeout=10).status_code
        for method, path in [
            ("DELETE", "music"),
            ("GET", "files"),
            ("POST", "jobs"),
            ("POST", "jobs/job%3Ax"),
            ("DELETE", "accounts/artist@example.com"),
            ("GET", "music/lyrics"),
            ("POST", "music/download"),
        ]
    }

    assert unknown.status_code == riffusion_only.status_code == 404
    assert unknown.json() == {"error": "No such endpoint: music/nothing-here", "code": 404}
    assert set(answers.values()) == {405}, answers


def test_requests_are_logged_with_their_full_path(start: Factory) -> None:
    emu = fm(start)
    session = client()

    session.get(url(emu, "accounts"), params={"x": "1"}, timeout=10)
    music(session, emu, prompt="x", bogus=1)

    assert emu.requests == [
        {"method": "GET", "path": "/v1/flowmusic/accounts", "query": {"x": "1"}, "status": 200},
        {"method": "POST", "path": "/v1/flowmusic/music", "query": {}, "status": 400},
    ]


# Faults, settings and reset ---------------------------------------------------------------------------


def test_a_fault_with_a_service_matches_only_that_service(start: Factory) -> None:
    emu = fm(start)
    session = client()
    riffusion = f"http://127.0.0.1:{emu.port}/v1/riffusion/accounts"
    emu.inject(Fault(method="GET", path="accounts", status=503, service="flowmusic"))
    emu.inject(Fault(method="GET", path="accounts", status=502, service="riffusion"))
    emu.inject(Fault(method="GET", path="accounts", status=500, times=2))

    answers = [
        session.get(riffusion, timeout=10).status_code,
        session.get(url(emu, "accounts"), timeout=10).status_code,
        session.get(url(emu, "accounts"), timeout=10).status_code,
        session.get(riffusion, timeout=10).status_code,
        session.get(riffusion, timeout=10).status_code,
        session.get(url(emu, "accounts"), timeout=10).status_code,
    ]

    assert answers == [502, 503, 500, 500, 200, 200]


def test_faults_on_a_job_and_on_a_public_file_match_their_decoded_paths(start: Factory) -> None:
    emu = fm(start)
    session = client()
    record = music(session, emu, prompt="x").json()
    clip = record["clips"][0]
    emu.inject(Fault(method="GET", path=f"jobs/{record['jobid']}", status=503, service="flowmusic"))
    emu.inject(Fault(method="GET", path=f"_public/flowmusic/{clip['clip']}.wav", kind="drop"))

    job = session.get(job_url(emu, record["jobid"]), timeout=10)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(clip["wav_url"], timeout=10)
    retried = requests.get(clip["wav_url"], timeout=10)

    assert job.status_code == 503 and job.json() == {"error": "Injected fault: Service Unavailable", "code": 503}
    assert retried.status_code == 200
    assert [entry["authorization"] for entry in emu.downloads] == [False]


def test_an_injected_596_on_flow_music_names_the_account(start: Factory) -> None:
    emu = fm(start)
    emu.inject(Fault(method="GET", path="jobs", status=596))

    response = client().get(url(emu, "jobs"), timeout=10)

    assert response.status_code == 596
    assert response.json()["error"].startswith(f"Account {ACCOUNT} in error state: ")
    assert response.json()["code"] == 596


def test_fault_service_field_in_json_and_checks() -> None:
    fault = Fault.from_dict({"method": "GET", "path": "accounts", "service": "flowmusic"})

    assert fault.service == "flowmusic" and fault.to_dict()["service"] == "flowmusic"
    assert Fault.from_dict(fault.to_dict()) == fault
    assert Fault(method="GET", path="accounts").service is None
    with pytest.raises(ValueError, match="service"):
        Fault(method="GET", path="accounts", service="suno")


def test_control_endpoints_take_flow_music_faults_and_settings(start: Factory) -> None:
    emu = fm(start)
    control = f"http://127.0.0.1:{emu.port}/_emulator"

    injected = requests.post(
        f"{control}/faults", json={"method": "GET", "path": "jobs", "status": 500, "service": "flowmusic"}, timeout=10
    )
    settings = requests.post(
        f"{control}/settings",
        json={"flowmusic_jobs_shape": "list", "flowmusic_retry_after": 3, "flowmusic_credits_per_job": 0},
        timeout=10,
    )
    faulted = client().get(url(emu, "jobs"), timeout=10)
    listed = client().get(url(emu, "jobs"), timeout=10)
    uploads = requests.get(f"{control}/uploads", timeout=10)

    assert injected.json()["injected"][0]["service"] == "flowmusic"
    assert settings.status_code == 200
    assert {key: settings.json()[key] for key in settings.json() if key.startswith("flowmusic_")} == {
        "flowmusic_jobs_shape": "list",
        "flowmusic_retry_after": 3,
        "flowmusic_credits_per_job": 0,
    }
    assert (faulted.status_code, listed.json()) == (500, [])
    assert (emu.flowmusic_jobs_shape, emu.flowmusic_retry_after, emu.flowmusic_credits_per_job) == ("list", 3, 0)
    assert uploads.json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"flowmusic_jobs_shape": "tree"},
        {"flowmusic_retry_after": -1},
        {"flowmusic_retry_after": "5"},
        {"flowmusic_retry_after": True},
        {"flowmusic_credits_per_job": -1},
        {"flowmusic_credits_per_job": 2.5},
    ],
)
def test_bad_flow_music_settings_are_refused(start: Factory, body: dict[str, Any]) -> None:
    emu = fm(start)

    response = requests.post(f"http://127.0.0.1:{emu.port}/_emulator/settings", json=body, timeout=10)

    assert response.status_code == 400 and next(iter(body)) in response.json()["error"]
    assert (emu.flowmusic_jobs_shape, emu.flowmusic_retry_after, emu.flowmusic_credits_per_job) == (
        "email",
        None,
        20,
    )


def test_reset_forgets_flow_music_assets_jobs_and_spent_credits(start: Factory) -> None:
    emu = fm(start, song_polls=3)
    session = client()
    asset = upload(session, emu).json()["id"]
    jobid = start_job(session, emu, refAudio1=asset)["jobid"]
    clip = music(session, emu, prompt="x").json()["clips"][0]
    emu.flowmusic_jobs_shape = "list"

    emu.reset()

    assert session.get(job_url(emu, jobid), timeout=10).status_code == 404
    assert session.get(url(emu, "jobs"), timeout=10).json() == []
    assert music(session, emu, prompt="x", refAudio1=asset).status_code == 400
    assert requests.get(clip["wav_url"], timeout=10).status_code == 404
    balance = session.get(url(emu, f"accounts/{ACCOUNT}"), timeout=10).json()["credits"]["balance"]
    assert balance == 1000
    assert emu.flowmusic_jobs_shape == "list", "settings stay"


# The command line and the pytest plugin ---------------------------------------------------------------


def test_cli_serves_flow_music_with_its_accounts(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    secret = "cli-SECRET-token-fm"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_riffusion.testing",
            "--port",
            "0",
            "--service",
            "flowmusic",
            "--email",
            "one@example.com",
            "--email",
            "two@example.com",
            "--ready-file",
            str(ready),
        ],
        env={**os.environ, "RIFFUSION_EMULATOR_TOKEN": secret},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: ready.exists() or process.poll() is not None, timeout=30)
        base_url = ready.read_text().strip()
        accounts = client(secret).get(f"{base_url}/accounts", timeout=10)
        riffusion = client(secret).get(base_url.replace("/v1/flowmusic", "/v1/riffusion/accounts"), timeout=10)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0
    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1/flowmusic")
    assert accounts.status_code == 200 and list(accounts.json()) == ["one@example.com", "two@example.com"]
    assert riffusion.status_code == 200 and list(riffusion.json()) == ["user-1"]
    assert f"Riffusion emulator listening on {base_url} (service flowmusic, token from $RIFFUSION_EMULATOR_TOKEN)" in (
        output
    )
    assert secret not in output


def test_cli_refuses_an_unknown_service() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_riffusion.testing", "--service", "suno"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2 and "--service" in result.stderr


@pytest.fixture
def flowmusic_connection_env(riffusion_connection: RiffusionEmulator) -> Iterator[dict[str, Any]]:
    yield json.loads(os.environ["AIRFLOW_CONN_RIFFUSION_DEFAULT"])


@pytest.mark.parametrize("riffusion_emulator", ["flowmusic"], indirect=True)
def test_pytest_plugin_serves_flow_music_when_parametrized(
    riffusion_emulator: RiffusionEmulator, flowmusic_connection_env: dict[str, Any]
) -> None:
    assert riffusion_emulator.service == "flowmusic"
    assert flowmusic_connection_env == {
        "conn_type": "riffusion",
        "password": riffusion_emulator.token,
        "host": riffusion_emulator.base_url,
        "extra": {"service": "flowmusic"},
    }
    assert riffusion_emulator.base_url.endswith("/v1/flowmusic")
    response = client(flowmusic_connection_env["password"]).get(
        f"{flowmusic_connection_env['host']}/accounts", timeout=10
    )
    assert response.status_code == 200 and list(response.json()) == [ACCOUNT]


@pytest.mark.parametrize("riffusion_emulator", ["riffusion"], indirect=True)
def test_pytest_plugin_keeps_the_riffusion_connection_as_it_was(
    riffusion_emulator: RiffusionEmulator, flowmusic_connection_env: dict[str, Any]
) -> None:
    assert riffusion_emulator.service == "riffusion"
    assert flowmusic_connection_env == {
        "conn_type": "riffusion",
        "password": riffusion_emulator.token,
        "host": riffusion_emulator.base_url,
    }
