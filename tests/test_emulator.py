"""The bundled emulator over real HTTP: API shapes of both revisions, its checks, faults, control and CLI."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import requests

from airflow_provider_riffusion.testing import Fault, RiffusionEmulator, UploadRecord

TOKEN = "emu-test-SECRET-8f3a21"
UPLOAD = "music/upload-audio"
MP3 = {"Content-Type": "audio/mpeg"}

Factory = Callable[..., RiffusionEmulator]


class Server(Protocol):
    """Anything with a base URL: an emulator object, or one started from the CLI in another process."""

    @property
    def base_url(self) -> str: ...


class AtUrl:
    """An emulator known only by its base URL (the CLI case)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url


@pytest.fixture
def start() -> Iterator[Factory]:
    """Start emulators with the test token; stop them all after the test."""
    started: list[RiffusionEmulator] = []

    def make(**kwargs: Any) -> RiffusionEmulator:
        kwargs.setdefault("token", TOKEN)
        emulator = RiffusionEmulator(**kwargs).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


def client(token: str | None = TOKEN) -> requests.Session:
    session = requests.Session()
    if token is not None:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def url(emulator: Server, path: str) -> str:
    return f"{emulator.base_url}/{path}"


def upload(
    session: requests.Session,
    emulator: Server,
    data: Any = b"ID3 fake audio",
    file_name: str = "song",
    content_type: str = "audio/mpeg",
    **params: str,
) -> requests.Response:
    return session.post(
        url(emulator, UPLOAD),
        params={"file_name": file_name, **params},
        data=data,
        headers={"Content-Type": content_type},
        timeout=10,
    )


def status_of(session: requests.Session, emulator: RiffusionEmulator, upload_id: str, **params: str) -> Any:
    response = session.get(url(emulator, UPLOAD), params={"id": upload_id, **params}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def compose(session: requests.Session, emulator: RiffusionEmulator, **body: Any) -> requests.Response:
    return session.post(url(emulator, "music/create-compose"), json=body, timeout=10)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a condition with a deadline (instead of sleeping for a guessed time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.01)


# Uploads and their status, in both revisions --------------------------------------------------------


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


# Authentication and the account error ----------------------------------------------------------------


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
    assert audio.content.startswith(b"ID3")


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


# Faults -----------------------------------------------------------------------------------------------


def test_status_fault_with_retry_after_then_normal_answers(start: Factory) -> None:
    emu = start()
    session = client()
    emu.inject(
        Fault(
            method="POST", path="music/upload-audio/", kind="status", status=429, headers={"Retry-After": "1"}, times=2
        )
    )

    answers = [upload(session, emu) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "1"
    assert answers[0].json() == {"error": "Injected fault: Too Many Requests", "code": 429}
    assert len(emu.uploads) == 1, "a refused upload records nothing"
    assert [entry["status"] for entry in emu.requests] == [429, 429, 200]


def test_status_fault_bodies(start: Factory) -> None:
    emu = start()
    session = client()
    emu.inject(Fault(method="GET", path="accounts", status=596))
    emu.inject(Fault(method="GET", path="accounts", status=412, body={"error": "out of credits", "code": 412}))

    account_error = session.get(url(emu, "accounts"), timeout=10)
    credits = session.get(url(emu, "accounts"), timeout=10)

    assert account_error.status_code == 596
    assert "code" not in account_error.json() and "POST accounts" in account_error.json()["error"]
    assert credits.json() == {"error": "out of credits", "code": 412}


def test_faults_match_method_and_path_only(start: Factory) -> None:
    emu = start()
    session = client()
    emu.inject(Fault(method="GET", path="music", status=503))

    other_path = session.get(url(emu, "accounts"), timeout=10)
    other_method = compose(session, emu, prompt_1="x")
    matching = session.get(url(emu, "music"), params={"id": "x"}, timeout=10)
    used_up = session.get(url(emu, "music"), params={"id": "x"}, timeout=10)

    assert (other_path.status_code, other_method.status_code) == (200, 200)
    assert matching.status_code == 503
    assert used_up.status_code == 200


def test_html_fault(start: Factory) -> None:
    emu = start()
    emu.inject(Fault(method="POST", path="music/create-compose", kind="html"))

    response = compose(client(), emu, prompt_1="x")

    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.lstrip().startswith("<html>")


def test_malformed_and_missing_field_faults(start: Factory) -> None:
    emu = start()
    session = client()
    emu.inject(Fault(method="GET", path="music", kind="malformed"))
    emu.inject(Fault(method="POST", path=UPLOAD, kind="missing_field"))

    malformed = session.get(url(emu, "music"), params={"id": "x"}, timeout=10)
    missing = upload(session, emu)

    assert malformed.status_code == 200
    assert malformed.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(malformed.text)
    assert (missing.status_code, missing.json()) == (200, {})
    assert emu.uploads == []


def test_hang_fault_times_out_the_client_and_stop_releases_it(start: Factory) -> None:
    emu = start()
    emu.inject(Fault(method="GET", path="accounts", kind="hang", seconds=30))

    with pytest.raises(requests.exceptions.ReadTimeout):
        client().get(url(emu, "accounts"), timeout=0.3)

    assert [entry["status"] for entry in emu.requests] == [0]
    began = time.monotonic()
    emu.stop()
    assert time.monotonic() - began < 2


def test_hang_fault_closes_without_an_answer(start: Factory) -> None:
    emu = start()
    emu.inject(Fault(method="GET", path="music", kind="hang", seconds=0.2))
    began = time.monotonic()

    with pytest.raises(requests.exceptions.ConnectionError):
        client().get(url(emu, "music"), params={"id": "x"}, timeout=5)

    assert time.monotonic() - began >= 0.2
    assert client().get(url(emu, "music"), params={"id": "x"}, timeout=5).status_code == 200


def test_drop_fault_mid_upload_records_nothing(start: Factory) -> None:
    emu = start()
    session = client()
    emu.inject(Fault(method="POST", path=UPLOAD, kind="drop"))
    body = os.urandom(4 * 1024 * 1024)

    with pytest.raises(requests.exceptions.ConnectionError):
        upload(session, emu, body)

    assert emu.uploads == []
    retried = upload(client(), emu, body)
    assert retried.status_code == 200
    [record] = emu.uploads
    assert record.sha256 == hashlib.sha256(body).hexdigest()
    assert [entry["status"] for entry in emu.requests] == [0, 200]


def test_drop_fault_on_a_get(start: Factory) -> None:
    emu = start()
    emu.inject(Fault(method="GET", path="accounts", kind="drop"))

    with pytest.raises(requests.exceptions.ConnectionError):
        client().get(url(emu, "accounts"), timeout=5)

    assert client().get(url(emu, "accounts"), timeout=5).status_code == 200


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault(method="GET", path="music", kind="explode")
    with pytest.raises(ValueError, match="method"):
        Fault(method="PUT", path="music")
    with pytest.raises(ValueError, match="times"):
        Fault(method="GET", path="music", times=0)
    assert Fault(method="get", path="/music/").to_dict()["path"] == "music"


def test_reset_forgets_everything_but_settings(start: Factory) -> None:
    emu = start()
    session = client()
    upload(session, emu)
    emu.upload_final_status = "completed"
    emu.inject(Fault(method="GET", path="accounts", status=500))

    emu.reset()

    assert (emu.uploads, emu.requests, emu.connections) == ([], [], 0)
    assert session.get(url(emu, "accounts"), timeout=10).status_code == 200
    assert emu.upload_final_status == "completed"


# Control endpoints (for tests in other processes) ----------------------------------------------------


def test_control_endpoints(start: Factory) -> None:
    emu = start(pending_polls=5)
    control = f"http://127.0.0.1:{emu.port}/_emulator"
    session = client()
    upload_id = upload(session, emu, b"abc", file_name="ctl").json()["id"]

    uploads = requests.get(f"{control}/uploads", timeout=10).json()
    settings = requests.post(
        f"{control}/settings", json={"pending_polls": 0, "upload_final_status": "completed"}, timeout=10
    )
    status = status_of(session, emu, upload_id)
    injected = requests.post(
        f"{control}/faults",
        json={"method": "GET", "path": "accounts", "status": 429, "headers": {"Retry-After": "2"}},
        timeout=10,
    )
    faulted = session.get(url(emu, "accounts"), timeout=10)
    logged = requests.get(f"{control}/requests", timeout=10).json()
    stats = requests.get(f"{control}/stats", timeout=10).json()

    assert uploads == [emu.uploads[0].to_dict()] and uploads[0]["file_name"] == "ctl"
    assert uploads[0]["sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert settings.status_code == 200 and settings.json()["pending_polls"] == 0
    assert status["status"] == "completed"
    assert injected.status_code == 200
    assert (faulted.status_code, faulted.headers["Retry-After"]) == (429, "2")
    assert [(entry["method"], entry["status"]) for entry in logged] == [("POST", 200), ("GET", 200), ("GET", 429)]
    assert logged[0]["query"] == {"file_name": "ctl"}
    assert stats == {"connections": 1, "requests": 3}, "control requests are not counted"

    account_error = requests.post(f"{control}/settings", json={"account_error": True}, timeout=10)
    assert account_error.status_code == 200 and emu.account_error is True
    assert requests.post(f"{control}/reset", timeout=10).status_code == 200
    assert emu.uploads == [] and emu.requests == []


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("faults", {"method": "GET", "path": "music", "kind": "explode"}),
        ("faults", {"method": "GET"}),
        ("faults", {"method": "GET", "path": "music", "colour": "red"}),
        ("settings", {"pending_polls": -1}),
        ("settings", {"flag_uploads": "yes"}),
        ("settings", {"volume": 11}),
    ],
)
def test_control_endpoints_refuse_bad_input(start: Factory, endpoint: str, body: dict[str, Any]) -> None:
    emu = start()

    response = requests.post(f"http://127.0.0.1:{emu.port}/_emulator/{endpoint}", json=body, timeout=10)

    assert response.status_code == 400
    assert emu.pending_polls == 1 and emu.flag_uploads is False


# Lifecycle, secrets, packaging ------------------------------------------------------------------------


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


def test_the_token_never_shows(start: Factory) -> None:
    emu = start()
    client().get(url(emu, "accounts"), timeout=10)
    client("wrong").get(url(emu, "accounts"), timeout=10)

    assert TOKEN not in repr(emu)
    assert TOKEN not in json.dumps(emu.requests)
    assert [entry["status"] for entry in emu.requests] == [200, 401]


def test_constructor_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="revision"):
        RiffusionEmulator(revision="2024-01-01")
    with pytest.raises(ValueError, match="compose_shape"):
        RiffusionEmulator(compose_shape="songs")
    with pytest.raises(ValueError, match="pending_polls"):
        RiffusionEmulator(pending_polls=-1)


def test_importing_the_testing_package_does_not_load_werkzeug() -> None:
    code = "import sys, airflow_provider_riffusion.testing; print('werkzeug' in sys.modules)"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)

    assert result.stdout.strip() == "False"


def test_cli_serves_until_sigterm_without_printing_the_token(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    secret = "cli-SECRET-token-42"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_riffusion.testing",
            "--port",
            "0",
            "--revision",
            "2025-02-17",
            "--user-id",
            "alice",
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
        job = upload(client(secret), AtUrl(base_url), b"abc").json()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0
    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1/riffusion")
    assert accounts.status_code == 200 and list(accounts.json()) == ["alice"]
    assert set(job) == {"job_id"}, "revision 2025-02-17 was selected"
    assert f"Riffusion emulator listening on {base_url} (revision 2025-02-17" in output
    assert secret not in output


def test_pytest_plugin_fixtures(riffusion_connection: RiffusionEmulator) -> None:
    connection = json.loads(os.environ["AIRFLOW_CONN_RIFFUSION_DEFAULT"])

    assert connection == {
        "conn_type": "riffusion",
        "password": riffusion_connection.token,
        "host": riffusion_connection.base_url,
    }
    assert riffusion_connection.revision == "2025-02-25"
    response = client(connection["password"]).get(f"{connection['host']}/accounts", timeout=10)
    assert response.status_code == 200
