"""The emulator's API (``testing/routes.py``) over HTTP: the shapes of both revisions, the service's checks."""

from __future__ import annotations

import hashlib
import http.client
import time
from typing import Any
from urllib.parse import quote

import pytest
import requests

from airflow_provider_riffusion.sources.kinds import sniff_kind
from airflow_provider_riffusion.testing import RiffusionEmulator, UploadRecord
from tests.testing._support import MP3, TOKEN, UPLOAD, Factory, client, compose, status_of, upload, url, wait_for

# Uploads and their status, in both revisions ----------------------------------------------------------


def test_upload_and_status_shapes_in_revision_2025_02_25(start: Factory) -> None:
    emu = start(revision="2025-02-25", pending_polls=1)
    session = client()

    answer = upload(session, emu, b"RIFF....WAVE", file_name="morning tone", content_type="audio/wav").json()

    assert set(answer) == {"is_flagged", "id", "audio_upload_id", "transcription_job_id"}
    assert answer["id"] == f"{answer['audio_upload_id']}:{answer['transcription_job_id']}"
    assert answer["is_flagged"] is False
    pending = status_of(session, emu, answer["id"])
    done = status_of(session, emu, answer["id"])
    expected_keys = {
        "status",
        "lyrics",
        "id",
        "audio_upload_id",
        "transcription_job_id",
        "created_at",
        "user_id",
        "name",
        "type",
        "storage_name",
        "audible_magic_response",
        "is_flagged",
    }
    assert set(pending) == set(done) == expected_keys
    assert (pending["status"], pending["lyrics"]) == ("pending", "")
    assert done["status"] == "complete"
    assert "morning tone" in done["lyrics"] and "\n" in done["lyrics"]
    assert done["name"] == "morning tone.wav"
    assert done["type"] == "audio/wav"
    assert done["user_id"] == "user-1"
    assert done["audible_magic_response"]["statusCode"] == 2005
    assert done["created_at"].endswith("Z") and "T" in done["created_at"]
    assert emu.uploads == [
        UploadRecord(
            file_name="morning tone",
            content_type="audio/wav",
            bytes=12,
            sha256=hashlib.sha256(b"RIFF....WAVE").hexdigest(),
            user_id="user-1",
            job_id=answer["id"],
            audio_upload_id=answer["audio_upload_id"],
            chunked=False,
        )
    ]


def test_upload_and_status_shapes_in_revision_2025_02_17(start: Factory) -> None:
    emu = start(revision="2025-02-17", pending_polls=1)
    session = client()

    answer = upload(session, emu, file_name="demo").json()

    assert set(answer) == {"job_id"}
    pending = status_of(session, emu, answer["job_id"])
    done = status_of(session, emu, answer["job_id"])
    assert pending == {"is_flagged": False, "transcribed_lyrics": "", "status": "pending"}
    assert set(done) == {"is_flagged", "transcribed_lyrics", "status"}
    assert done["status"] == "complete"
    assert "demo" in done["transcribed_lyrics"]
    [record] = emu.uploads
    assert record.job_id == record.audio_upload_id == answer["job_id"]
    # The same file name always transcribes to the same lyrics.
    again = upload(session, emu, file_name="demo").json()["job_id"]
    assert [status_of(session, emu, again)["transcribed_lyrics"] for _ in range(2)][1] == done["transcribed_lyrics"]


def test_upload_stays_pending_for_polls_and_seconds(start: Factory) -> None:
    emu = start(pending_polls=2, pending_seconds=0.3)
    session = client()
    started = time.monotonic()
    upload_id = upload(session, emu).json()["id"]

    statuses = [status_of(session, emu, upload_id)["status"] for _ in range(2)]
    wait_for(lambda: status_of(session, emu, upload_id)["status"] != "pending")

    assert statuses == ["pending", "pending"]
    assert time.monotonic() - started >= 0.3


def test_pending_polls_zero_is_complete_at_once(start: Factory) -> None:
    emu = start(pending_polls=0)
    session = client()
    upload_id = upload(session, emu).json()["id"]

    assert status_of(session, emu, upload_id)["status"] == "complete"


@pytest.mark.parametrize("revision", ["2025-02-17", "2025-02-25"])
def test_final_status_and_flag_change_at_runtime(start: Factory, revision: str) -> None:
    emu = start(revision=revision, pending_polls=0)
    session = client()
    emu.upload_final_status = "weird-word"
    emu.flag_uploads = True

    answer = upload(session, emu).json()
    upload_id = answer.get("id", answer.get("job_id"))
    status = status_of(session, emu, upload_id)

    assert status["status"] == "weird-word"
    assert status["is_flagged"] is True
    if revision == "2025-02-25":
        assert answer["is_flagged"] is True
    emu.upload_final_status = "failed"
    assert status_of(session, emu, upload_id)["status"] == "failed"


def test_status_of_unknown_or_missing_id(start: Factory) -> None:
    emu = start()
    session = client()

    unknown = session.get(url(emu, UPLOAD), params={"id": "nope:nope"}, timeout=10)
    missing = session.get(url(emu, UPLOAD), timeout=10)

    assert unknown.status_code == 404 and unknown.json()["code"] == 404
    assert missing.status_code == 400 and missing.json()["code"] == 400


# Authentication and the account error -----------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "accounts"), ("POST", UPLOAD), ("GET", "music"), ("POST", "music/create-compose")]
)
def test_every_endpoint_wants_the_bearer_token(start: Factory, token: str | None, method: str, path: str) -> None:
    emu = start()

    response = client(token).request(method, url(emu, path), params={"file_name": "x", "id": "x"}, timeout=10)

    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "code": 401}
    assert emu.uploads == []


def test_basic_auth_with_the_token_is_refused(start: Factory) -> None:
    emu = start()

    response = requests.get(url(emu, "accounts"), headers={"Authorization": f"Basic {TOKEN}"}, timeout=10)

    assert response.status_code == 401


def test_account_error_answers_596_on_every_endpoint(start: Factory) -> None:
    emu = start()
    session = client()
    emu.account_error = True

    responses = [
        session.get(url(emu, "accounts"), timeout=10),
        upload(session, emu),
        compose(session, emu, prompt_1="x"),
    ]

    for response in responses:
        assert response.status_code == 596
        assert response.json() == {
            "error": "Your Riffusion account has pending error. Please re-add the account with POST accounts."
        }
    assert emu.uploads == []
    assert client("wrong").get(url(emu, "accounts"), timeout=10).status_code == 401  # the token is checked first
    emu.account_error = False
    assert session.get(url(emu, "accounts"), timeout=10).status_code == 200


# Upload parameter rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["audio/mpeg", "audio/mp4", "audio/x-m4a", "audio/wav", "audio/wave", "audio/mpeg; charset=binary", "Audio/MPEG"],
)
def test_accepted_content_types(start: Factory, content_type: str) -> None:
    emu = start()

    response = upload(client(), emu, content_type=content_type)

    assert response.status_code == 200
    assert emu.uploads[0].content_type == content_type.split(";")[0].lower()


@pytest.mark.parametrize("content_type", ["application/octet-stream", "audio/ogg", "multipart/form-data", ""])
def test_refused_content_types(start: Factory, content_type: str) -> None:
    emu = start()

    response = upload(client(), emu, content_type=content_type)

    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert "Content-Type" in response.json()["error"]
    assert emu.uploads == []


@pytest.mark.parametrize("file_name", ["", "song.mp3", "song.M4A", "take.wav", "clip.mp4"])
def test_refused_file_names(start: Factory, file_name: str) -> None:
    emu = start()

    response = upload(client(), emu, file_name=file_name)

    assert response.status_code == 400
    assert "file_name" in response.json()["error"]
    assert emu.uploads == []


def test_missing_file_name_and_empty_body_are_refused(start: Factory) -> None:
    emu = start()
    session = client()

    no_name = session.post(url(emu, UPLOAD), data=b"abc", headers=MP3, timeout=10)
    empty = upload(session, emu, data=b"")

    assert no_name.status_code == 400 and "file_name" in no_name.json()["error"]
    assert empty.status_code == 400 and empty.json()["code"] == 400
    assert emu.uploads == []


@pytest.mark.parametrize("file_name", ["my song", "rock & roll", "track #1", "100% pure+", "Café déjà vu ♪", "a/b?c=d"])
def test_file_names_are_recorded_decoded_exactly(start: Factory, file_name: str) -> None:
    emu = start()

    response = upload(client(), emu, file_name=file_name)

    assert response.status_code == 200
    assert [record.file_name for record in emu.uploads] == [file_name]


def test_user_id_with_one_account(start: Factory) -> None:
    emu = start(user_ids=("solo",))
    session = client()

    implicit = upload(session, emu)
    explicit = upload(session, emu, user_id="solo")
    unknown = upload(session, emu, user_id="ghost")

    assert implicit.status_code == explicit.status_code == 200
    assert unknown.status_code == 400 and "ghost" in unknown.json()["error"]
    assert [record.user_id for record in emu.uploads] == ["solo", "solo"]


def test_user_id_is_required_with_several_accounts(start: Factory) -> None:
    emu = start(user_ids=("alice", "bob"), pending_polls=0)
    session = client()

    refused = upload(session, emu)
    accepted = upload(session, emu, user_id="bob")
    upload_id = accepted.json()["id"]
    status_without = session.get(url(emu, UPLOAD), params={"id": upload_id}, timeout=10)
    status_with = session.get(url(emu, UPLOAD), params={"id": upload_id, "user_id": "bob"}, timeout=10)
    composed = compose(session, emu, prompt_1="lofi beats")
    song_id = composed.json()["jobs"][0]["id"]
    music_without = session.get(url(emu, "music"), params={"id": song_id}, timeout=10)
    music_with = session.get(url(emu, "music"), params={"id": song_id, "user_id": "alice"}, timeout=10)
    compose_unknown = compose(session, emu, prompt_1="lofi beats", user_id="carol")

    assert refused.status_code == 400 and "user_id" in refused.json()["error"]
    assert accepted.status_code == 200
    assert status_without.status_code == 400 and "user_id" in status_without.json()["error"]
    assert status_with.status_code == 200 and status_with.json()["user_id"] == "bob"
    assert composed.status_code == 200, "create calls pick an account themselves"
    assert music_without.status_code == 400
    assert music_with.status_code == 200 and len(music_with.json()) == 1
    assert compose_unknown.status_code == 400 and "carol" in compose_unknown.json()["error"]
    assert [record.user_id for record in emu.uploads] == ["bob"]


# Create compose ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"prompt_1": ""},
        {"prompt_1": "   "},
        {"prompt_1": 5},
        {"prompt_1": "x", "prompt_1_strength": 19},
        {"prompt_1": "x", "prompt_1_strength": 101},
        {"prompt_1": "x", "prompt_1_strength": True},
        {"prompt_1": "x", "prompt_1_strength": "50"},
        {"prompt_1": "x", "prompt_1_strength": 50.5},
        {"prompt_1": "x", "prompt_2": "y", "prompt_2_start": -1},
        {"prompt_1": "x", "prompt_3": "y", "prompt_3_end": 101},
        {"prompt_1": "x", "prompt_2_strength": 10},
        {"prompt_1": "x", "lyrics_strength": 101},
        {"prompt_1": "x", "lyrics_weirdness": -1},
        {"prompt_1": "x", "maxJobs": 0},
        {"prompt_1": "x", "maxJobs": 11},
        {"prompt_1": "x", "replyUrl": "h" * 1025},
        {"prompt_1": "x", "replyRef": "r" * 1025},
        {"prompt_1": "x", "title": 7},
        {"prompt_1": "x", "lyrics": ["la"]},
    ],
)
def test_compose_refuses_bad_fields(start: Factory, body: dict[str, Any]) -> None:
    emu = start()

    response = compose(client(), emu, **body)

    assert response.status_code == 400, body
    assert response.json()["code"] == 400


def test_compose_accepts_boundary_values(start: Factory) -> None:
    emu = start()
    body = {
        "prompt_1": "dream pop",
        "prompt_1_strength": 20,
        "prompt_1_start": 0,
        "prompt_1_end": 100,
        "prompt_2": "shoegaze",
        "prompt_2_strength": 100,
        "prompt_3": "tape hiss",
        "prompt_3_start": 100,
        "prompt_3_end": 0,
        "lyrics": "la la",
        "lyrics_strength": 0,
        "lyrics_weirdness": 100,
        "maxJobs": 10,
        "model": "FUZZ-0.8",
        "replyUrl": "h" * 1024,
        "replyRef": "r" * 1024,
        "title": "Boundary",
        "audio_upload_id": None,
    }

    response = compose(client(), emu, **body)

    assert response.status_code == 200, response.text
    assert len(response.json()["jobs"]) == 2


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"prompt"', b""])
def test_compose_refuses_a_body_that_is_not_a_json_object(start: Factory, raw: bytes) -> None:
    emu = start()

    response = client().post(
        url(emu, "music/create-compose"), data=raw, headers={"Content-Type": "application/json"}, timeout=10
    )

    assert response.status_code == 400
    assert response.json()["code"] == 400


@pytest.mark.parametrize("field", ["prompt_1", "prompt_2", "prompt_3"])
def test_compose_moderation_answers_422(start: Factory, field: str) -> None:
    emu = start()
    body = {"prompt_1": "jazz", field: "a FORBIDDEN chord"}

    response = compose(client(), emu, **body)

    assert response.status_code == 422
    assert response.json() == {"is_flagged": True, "reason": "moderation", "error": "Prompt moderated"}


def test_compose_checks_the_chained_upload_id_in_2025_02_17(start: Factory) -> None:
    emu = start(revision="2025-02-17")
    session = client()
    job_id = upload(session, emu).json()["job_id"]

    good = compose(session, emu, prompt_1="jazz", audio_upload_id=job_id)
    bad = compose(session, emu, prompt_1="jazz", audio_upload_id="not-an-upload")

    assert good.status_code == 200
    assert bad.status_code == 400 and "job_id" in bad.json()["error"]


def test_compose_checks_the_chained_upload_id_in_2025_02_25(start: Factory) -> None:
    emu = start(revision="2025-02-25")
    session = client()
    answer = upload(session, emu).json()

    good = compose(session, emu, prompt_1="jazz", audio_upload_id=answer["audio_upload_id"])
    composite = compose(session, emu, prompt_1="jazz", audio_upload_id=answer["id"])
    transcription = compose(session, emu, prompt_1="jazz", audio_upload_id=answer["transcription_job_id"])

    assert good.status_code == 200
    assert composite.status_code == transcription.status_code == 400
    assert "audio_upload_id" in composite.json()["error"]
    song_id = good.json()["jobs"][0]["id"]
    [song] = client().get(url(emu, "music"), params={"id": song_id}, timeout=10).json()
    assert song["audio_upload_id"] == answer["audio_upload_id"]


def test_compose_jobs_shape_creates_two_songs(start: Factory) -> None:
    emu = start(compose_shape="jobs")
    session = client()

    answer = compose(session, emu, prompt_1="synthwave night drive").json()

    assert list(answer) == ["jobs"]
    ids = [job["id"] for job in answer["jobs"]]
    assert len(set(ids)) == 2
    for song_id in ids:
        [song] = session.get(url(emu, "music"), params={"id": song_id}, timeout=10).json()
        assert song["id"] == song_id


def test_compose_job_id_shape(start: Factory) -> None:
    emu = start(compose_shape="job_id", user_ids=("acct-9",))
    session = client()

    answer = compose(session, emu, prompt_1="synthwave").json()

    assert set(answer) == {"job_id", "user_id"}
    assert answer["user_id"] == "acct-9"
    [song] = session.get(url(emu, "music"), params={"id": answer["job_id"]}, timeout=10).json()
    assert song["id"] == answer["job_id"]


# Songs ------------------------------------------------------------------------------------------------


def test_songs_progress_to_completed_and_download(start: Factory) -> None:
    emu = start(song_polls=2)
    session = client()
    song_id = compose(session, emu, prompt_1="ambient piano rain", lyrics="hello rain").json()["jobs"][0]["id"]

    polls = [session.get(url(emu, "music/"), params={"id": song_id}, timeout=10).json() for _ in range(4)]

    assert [songs[0]["status"] for songs in polls] == ["queued", "generating_audio", "completed", "completed"]
    song = polls[-1][0]
    assert {
        "id",
        "title",
        "status",
        "download_url",
        "image_url",
        "share_url",
        "duration_s",
        "lyrics",
        "audio_upload_id",
        "created_at",
    } <= set(song)
    assert song["title"] == "Ambient Piano Rain"
    assert song["lyrics"] == "hello rain"
    assert song["audio_upload_id"] is None
    assert song["download_url"] == f"{emu.base_url}/music/download?id={song_id}"
    audio = session.get(song["download_url"], timeout=10)
    assert audio.status_code == 200
    assert audio.headers["Content-Type"] == "audio/mpeg"
    assert sniff_kind(audio.content[:16]) == "mp3"  # real MPEG audio frames
    assert int(audio.headers["Content-Length"]) == len(audio.content) == emu.downloads[-1]["bytes"]


@pytest.mark.parametrize(("download_format", "kind"), [("mp3", "mp3"), ("wav", "wav")])
def test_downloads_are_real_audio_of_the_configured_size(start: Factory, download_format: str, kind: str) -> None:
    import io
    import wave

    emu = start(song_polls=0)
    emu.download_bytes = 300_000
    session = client()
    compose = session.post(url(emu, "music/create-compose"), json={"prompt_1": "jazz"}, timeout=10).json()
    song_id = compose["jobs"][0]["id"]
    audio = session.get(
        url(emu, "music/download"), params={"id": song_id, "download_format": download_format}, timeout=10
    )

    assert audio.status_code == 200 and sniff_kind(audio.content[:16]) == kind
    assert abs(len(audio.content) - 300_000) < 1024
    if kind == "wav":
        with wave.open(io.BytesIO(audio.content)) as track:
            assert track.getnframes() * track.getsampwidth() == len(audio.content) - 44
    assert emu.downloads == [
        {
            "song_id": song_id,
            "format": download_format,
            "bytes": len(audio.content),
            "service": "riffusion",
            "authorization": True,
        }
    ]


def test_song_title_and_unknown_song(start: Factory) -> None:
    emu = start(song_polls=0)
    session = client()
    song_id = compose(session, emu, prompt_1="x", title="My Title").json()["jobs"][1]["id"]

    [song] = session.get(url(emu, "music"), params={"id": song_id}, timeout=10).json()
    unknown = session.get(url(emu, "music"), params={"id": "no-such-job"}, timeout=10)

    assert (song["title"], song["status"]) == ("My Title", "completed")
    assert unknown.status_code == 200 and unknown.json() == []
    assert session.get(url(emu, "music"), timeout=10).status_code == 400
    assert session.get(url(emu, "music/download"), params={"id": "no-such-job"}, timeout=10).status_code == 404


# The scheduler: running jobs, free slots, and DELETE scheduler/{job_id} --------------------------------


def running_jobs(session: requests.Session, emu: RiffusionEmulator) -> list[str]:
    """The job ids ``GET scheduler`` lists."""
    response = session.get(url(emu, "scheduler"), timeout=10)
    assert response.status_code == 200, response.text
    return [job["job_id"] for job in response.json()["executing"]]


def free_slots(session: requests.Session, emu: RiffusionEmulator) -> dict[str, int]:
    """Each account's free slots, as ``GET scheduler/available`` reports them."""
    response = session.get(url(emu, "scheduler/available"), timeout=10)
    assert response.status_code == 200, response.text
    return {account["user_id"]: account["available"] for account in response.json()["available"]}


def cancel(session: requests.Session, emu: RiffusionEmulator, job_id: str) -> requests.Response:
    return session.delete(url(emu, f"scheduler/{quote(job_id, safe='')}"), timeout=10)


def test_a_running_job_is_listed_and_takes_a_slot_of_its_account(start: Factory) -> None:
    emu = start(user_ids=("alice", "bob"))
    session = client()

    composed = compose(session, emu, prompt_1="jazz", user_id="bob", replyUrl="https://hook.invalid", replyRef="r-1")
    [job] = session.get(url(emu, "scheduler"), timeout=10).json()["executing"]
    available = session.get(url(emu, "scheduler/available"), timeout=10).json()

    assert composed.status_code == 200
    assert job["job_id"] == composed.json()["jobs"][0]["id"]
    assert (job["user_id"], job["elapsed"]) == ("bob", "00:00")
    assert (job["replyUrl"], job["replyRef"]) == ("https://hook.invalid", "r-1")
    assert job["started"].endswith("Z")
    assert available["executing"] == [job]
    slots = {account["user_id"]: (account["executing"], account["available"]) for account in available["available"]}
    assert slots == {"alice": (0, 3), "bob": (1, 2)}


def test_delete_scheduler_job_answers_204_and_frees_the_slot(start: Factory) -> None:
    emu = start(song_polls=1)
    session = client()
    first = compose(session, emu, prompt_1="jazz").json()["jobs"]
    other = compose(session, emu, prompt_1="funk").json()["jobs"][0]["id"]
    job_id = first[0]["id"]
    before = free_slots(session, emu)["user-1"]

    response = cancel(session, emu, job_id)

    assert response.status_code == 204
    assert response.content == b""
    assert "Content-Type" not in response.headers and "Content-Length" not in response.headers
    assert before == 1
    assert free_slots(session, emu) == {"user-1": before + 1}
    assert running_jobs(session, emu) == [other]
    assert emu.requests[-3] == {
        "method": "DELETE",
        "path": f"/v1/riffusion/scheduler/{job_id}",
        "query": {},
        "status": 204,
    }
    # The songs of a cancelled job go on being made.
    for song in first:
        statuses = [session.get(url(emu, "music"), params={"id": song["id"]}, timeout=10).json()[0] for _ in range(2)]
        assert [entry["status"] for entry in statuses] == ["queued", "completed"]
    assert running_jobs(session, emu) == [other]


def test_a_cancelled_job_frees_a_slot_to_compose_in(start: Factory) -> None:
    emu = start()
    emu.free_slots = 1
    session = client()
    job_id = compose(session, emu, prompt_1="jazz").json()["jobs"][0]["id"]

    busy = compose(session, emu, prompt_1="funk")
    cancelled = cancel(session, emu, job_id)
    again = compose(session, emu, prompt_1="funk")

    assert busy.status_code == 429
    assert cancelled.status_code == 204
    assert again.status_code == 200


def test_a_second_delete_of_the_same_job_is_404(start: Factory) -> None:
    emu = start()
    session = client()
    job_id = compose(session, emu, prompt_1="jazz").json()["jobs"][0]["id"]

    first = cancel(session, emu, job_id)
    second = cancel(session, emu, job_id)

    assert first.status_code == 204
    assert second.status_code == 404
    assert second.headers["Content-Type"] == "application/json"
    assert second.json() == {"error": f"Unable to locate running job_id {job_id}", "code": 404}
    assert free_slots(session, emu) == {"user-1": 3}


@pytest.mark.parametrize("job_id", ["no-such-job", "3f2b8c1e-0000-4000-8000-000000000000", "available"])
def test_delete_of_an_unknown_job_is_404(start: Factory, job_id: str) -> None:
    emu = start()
    session = client()
    running = compose(session, emu, prompt_1="jazz").json()["jobs"][0]["id"]

    response = cancel(session, emu, job_id)

    assert response.status_code == 404
    assert response.json() == {"error": f"Unable to locate running job_id {job_id}", "code": 404}
    assert running_jobs(session, emu) == [running]


def test_a_finished_job_no_longer_runs(start: Factory) -> None:
    emu = start(song_polls=1, compose_shape="job_id")
    session = client()
    job_id = compose(session, emu, prompt_1="jazz").json()["job_id"]

    generating = session.get(url(emu, "music"), params={"id": job_id}, timeout=10).json()[0]["status"]
    listed_while_generating = running_jobs(session, emu)
    done = session.get(url(emu, "music"), params={"id": job_id}, timeout=10).json()[0]["status"]

    assert (generating, done) == ("queued", "completed")
    assert listed_while_generating == [job_id]
    assert running_jobs(session, emu) == []
    assert free_slots(session, emu) == {"user-1": 3}
    assert cancel(session, emu, job_id).status_code == 404


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_delete_scheduler_job_wants_the_bearer_token(start: Factory, token: str | None) -> None:
    emu = start()
    session = client()
    job_id = compose(session, emu, prompt_1="jazz").json()["jobs"][0]["id"]

    response = cancel(client(token), emu, job_id)

    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "code": 401}
    assert running_jobs(session, emu) == [job_id]
    assert emu.requests[-2]["method"] == "DELETE" and emu.requests[-2]["status"] == 401


def test_delete_scheduler_job_answers_596_while_the_account_has_an_error(start: Factory) -> None:
    emu = start()
    session = client()
    job_id = compose(session, emu, prompt_1="jazz").json()["jobs"][0]["id"]
    emu.account_error = True

    response = cancel(session, emu, job_id)

    assert response.status_code == 596
    emu.account_error = False
    assert running_jobs(session, emu) == [job_id]


@pytest.mark.parametrize("job_id", ["user:alice/job:7", "a b?c#d%e", "Café ♪"])
def test_a_job_id_is_one_percent_encoded_path_segment(start: Factory, job_id: str) -> None:
    emu = start()
    encoded = quote(job_id, safe="")

    response = client().delete(url(emu, f"scheduler/{encoded}"), timeout=10)

    assert response.status_code == 404
    assert response.json()["error"] == f"Unable to locate running job_id {job_id}"  # decoded, and whole


def test_a_bare_slash_is_no_part_of_the_job_id(start: Factory) -> None:
    emu = start()

    response = client().delete(url(emu, "scheduler/user:alice/job:7"), timeout=10)

    assert response.status_code == 404
    assert response.json()["error"] == "No such endpoint: scheduler/user:alice/job:7"


def test_a_running_job_id_sent_percent_encoded_is_decoded(start: Factory) -> None:
    """Every character escaped (``%66%33...``): sent with http.client, as requests would unescape letters."""
    emu = start()
    session = client()
    job_id = compose(session, emu, prompt_1="jazz").json()["jobs"][0]["id"]
    target = "/v1/riffusion/scheduler/" + "".join(f"%{byte:02X}" for byte in job_id.encode())
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    try:
        connection.request("DELETE", target, headers={"Authorization": f"Bearer {TOKEN}"})
        answer = connection.getresponse()
        status, body = answer.status, answer.read()
    finally:
        connection.close()

    assert (status, body) == (204, b"")
    assert running_jobs(session, emu) == []


def test_create_calls_without_a_user_id_pick_an_account_with_a_free_slot(start: Factory) -> None:
    emu = start(user_ids=("alice", "bob"))
    emu.free_slots = 1
    session = client()

    alice = compose(session, emu, prompt_1="jazz", user_id="alice")
    picked = compose(session, emu, prompt_1="funk")
    none_left = compose(session, emu, prompt_1="soul")

    assert alice.status_code == picked.status_code == 200
    assert none_left.status_code == 429
    assert free_slots(session, emu) == {"alice": 0, "bob": 0}


# Accounts and routing ---------------------------------------------------------------------------------


def test_accounts(start: Factory) -> None:
    emu = start(user_ids=("alice", "bob"))
    session = client()

    everyone = session.get(url(emu, "accounts"), timeout=10)
    alice = session.get(url(emu, "accounts/alice/"), timeout=10)
    ghost = session.get(url(emu, "accounts/ghost"), timeout=10)

    assert everyone.status_code == 200
    assert set(everyone.json()) == {"alice", "bob"}
    assert everyone.json()["bob"]["user_id"] == "bob"
    assert everyone.json()["bob"]["maxJobs"] == 3
    assert alice.json()["user_id"] == "alice"
    assert ghost.status_code == 404 and ghost.json()["code"] == 404


def test_no_accounts_configured(start: Factory) -> None:
    emu = start(user_ids=())
    session = client()

    accounts = session.get(url(emu, "accounts"), timeout=10)
    refused = upload(session, emu)

    assert accounts.status_code == 404
    assert refused.status_code == 400 and "account" in refused.json()["error"]
    assert emu.uploads == []


def test_unknown_paths_and_methods(start: Factory) -> None:
    emu = start()
    session = client()

    unknown = session.get(url(emu, "music/nothing-here"), timeout=10)
    outside = session.get(f"http://127.0.0.1:{emu.port}/elsewhere", timeout=10)
    wrong_method = session.delete(url(emu, "music/create-compose"), timeout=10)

    assert unknown.status_code == 404 and unknown.json()["code"] == 404
    assert outside.status_code == 404 and outside.headers["Content-Type"] == "application/json"
    assert wrong_method.status_code == 405
