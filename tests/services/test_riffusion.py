"""The Riffusion service's answers, both API revisions normalized into the common shapes (``services/riffusion.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_riffusion.exceptions import RiffusionResponseError
from airflow_provider_riffusion.services import Progress, songs_progress
from airflow_provider_riffusion.services import riffusion as normalize
from airflow_provider_riffusion.services.riffusion import upload_progress

UPLOAD_ID = "3f2b8c1e-0000-4000-8000-000000000001"
TRANSCRIPTION_ID = "9a7d6e5f-0000-4000-8000-000000000002"
COMPOSITE_ID = f"{UPLOAD_ID}:{TRANSCRIPTION_ID}"

STATUS_2025_02_17 = {"is_flagged": False, "transcribed_lyrics": "hello darkness", "status": "complete"}
STATUS_2025_02_25 = {
    "status": "complete",
    "lyrics": "hello again",
    "id": COMPOSITE_ID,
    "audio_upload_id": UPLOAD_ID,
    "transcription_job_id": TRANSCRIPTION_ID,
    "created_at": "2025-02-25T10:00:00.000Z",
    "user_id": "user-1",
    "name": "song.mp3",
    "type": "audio/mpeg",
    "storage_name": "abc.mp3",
    "audible_magic_response": {"statusCode": 2005, "statusDescription": "Success. No match found"},
    "is_flagged": False,
}

# --- upload --------------------------------------------------------------------------------


def test_normalize_upload_revision_2025_02_17() -> None:
    assert normalize.upload({"job_id": UPLOAD_ID}, {}) == {
        "job_id": UPLOAD_ID,
        "audio_upload_id": UPLOAD_ID,
        "is_flagged": False,
    }


@pytest.mark.parametrize("flagged", [False, True])
def test_normalize_upload_revision_2025_02_25(flagged: bool) -> None:
    body = {
        "is_flagged": flagged,
        "id": COMPOSITE_ID,
        "audio_upload_id": UPLOAD_ID,
        "transcription_job_id": TRANSCRIPTION_ID,
    }
    assert normalize.upload(body, {}) == {"job_id": COMPOSITE_ID, "audio_upload_id": UPLOAD_ID, "is_flagged": flagged}


@pytest.mark.parametrize("body", [{}, {"is_flagged": False}, {"job_id": ""}, {"id": COMPOSITE_ID}])
def test_normalize_upload_without_job_id_is_a_response_error(body: dict[str, Any]) -> None:
    with pytest.raises(RiffusionResponseError, match="no job id") as excinfo:
        normalize.upload(body, {})
    assert not isinstance(excinfo.value, AirflowFailException)
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize("body", [[{"job_id": UPLOAD_ID}], "ok", None])
def test_normalize_upload_refuses_non_objects(body: Any) -> None:
    with pytest.raises(RiffusionResponseError, match="expected an object"):
        normalize.upload(body, {})


# --- upload status -------------------------------------------------------------------------


def test_normalize_upload_status_revision_2025_02_17() -> None:
    status = normalize.upload_status(STATUS_2025_02_17, {"id": UPLOAD_ID})
    assert status == {
        "job_id": UPLOAD_ID,
        "audio_upload_id": UPLOAD_ID,
        "status": "complete",
        "lyrics": "hello darkness",
        "is_flagged": False,
        "response": STATUS_2025_02_17,
    }


def test_normalize_upload_status_revision_2025_02_25() -> None:
    status = normalize.upload_status(STATUS_2025_02_25, {"id": COMPOSITE_ID})
    assert status == {
        "job_id": COMPOSITE_ID,
        "audio_upload_id": UPLOAD_ID,
        "status": "complete",
        "lyrics": "hello again",
        "is_flagged": False,
        "response": STATUS_2025_02_25,
    }


def test_audio_upload_id_from_the_composite_id_when_the_body_lacks_it() -> None:
    status = normalize.upload_status({"status": "pending"}, {"id": COMPOSITE_ID})
    assert status["audio_upload_id"] == UPLOAD_ID
    assert status["lyrics"] == ""


@pytest.mark.parametrize(
    ("body", "lyrics"),
    [
        ({"status": "complete", "lyrics": "new", "transcribed_lyrics": "old"}, "new"),
        ({"status": "complete", "lyrics": "", "transcribed_lyrics": "old"}, ""),
        ({"status": "complete", "lyrics": None, "transcribed_lyrics": "old"}, "old"),
        ({"status": "complete", "transcribed_lyrics": None}, ""),
    ],
)
def test_lyrics_versus_transcribed_lyrics(body: dict[str, Any], lyrics: str) -> None:
    assert normalize.upload_status(body, {"id": UPLOAD_ID})["lyrics"] == lyrics


@pytest.mark.parametrize(
    ("raw", "normalized"), [(" Complete ", "complete"), (None, ""), ("", ""), ("QUEUED", "queued")]
)
def test_status_word_is_normalized(raw: Any, normalized: str) -> None:
    assert normalize.upload_status({"status": raw}, {"id": UPLOAD_ID})["status"] == normalized


def test_status_body_that_is_not_an_object_is_a_response_error() -> None:
    with pytest.raises(RiffusionResponseError, match="expected an object"):
        normalize.upload_status(["complete"], {"id": UPLOAD_ID})


# --- compose and songs ---------------------------------------------------------------------


def test_normalize_compose_jobs_list() -> None:
    body = {"jobs": [{"id": "job-a"}, {"id": "job-b"}]}
    assert normalize.compose(body, {}) == {"job_ids": ["job-a", "job-b"], "response": body}


def test_normalize_compose_job_id() -> None:
    body = {"job_id": "job-a", "user_id": "user-1"}
    assert normalize.compose(body, {}) == {"job_ids": ["job-a"], "response": body}


@pytest.mark.parametrize(
    "jobs",
    [
        [{"id": "job-a"}, {"status": "queued"}],
        [{"id": "job-a"}, {"id": ""}],
        [{"id": "job-a"}, "junk"],
        [{"id": "job-a"}, {"id": {"nested": "x"}}],
        [{"id": ["job-b"]}],
        [{"id": True}],
        [{"id": 12345}],
    ],
)
def test_normalize_compose_refuses_a_job_without_an_id_string(jobs: list[Any]) -> None:
    """A job that cannot be tracked is never dropped or turned into a string: the whole answer is refused."""
    with pytest.raises(RiffusionResponseError) as excinfo:
        normalize.compose({"jobs": jobs}, {})
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize("body", [{}, {"jobs": []}, {"jobs": [{}]}, {"job_id": ""}, {"jobs": None}])
def test_normalize_compose_without_ids_is_a_response_error(body: dict[str, Any]) -> None:
    with pytest.raises(RiffusionResponseError, match="no job id"):
        normalize.compose(body, {})


def test_normalize_songs_keeps_song_objects() -> None:
    songs = [{"id": "s1", "status": "queued"}, "junk", {"id": "s2", "status": "completed"}]
    assert normalize.songs(songs, {"id": "job-a"}) == [songs[0], songs[2]]
    assert normalize.songs([], {"id": "job-a"}) == []


@pytest.mark.parametrize("body", [{"id": "s1"}, None, "[]"])
def test_normalize_songs_refuses_non_lists(body: Any) -> None:
    with pytest.raises(RiffusionResponseError, match="expected a list"):
        normalize.songs(body, {"id": "job-a"})


# -- status words -------------------------------------------------------------------------------

KINDS = {
    "pending": Progress.PENDING,
    "complete": Progress.READY,
    "failed": Progress.FAILED,
    "unknown": Progress.UNKNOWN_READY,
}


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("pending", "pending"),
        ("", "pending"),
        ("   ", "pending"),
        ("processing", "pending"),
        ("queued", "pending"),
        ("PENDING", "pending"),
        ("complete", "complete"),
        ("completed", "complete"),
        ("Completed", "complete"),
        (" COMPLETE ", "complete"),
        ("failed", "failed"),
        ("error", "failed"),
        ("cancelled", "failed"),
        ("Failed", "failed"),
        ("ERROR", "failed"),
        ("ready", "unknown"),
        ("transcribed", "unknown"),
        ("generating_audio", "unknown"),
    ],
)
def test_classify_upload_status(word: str, kind: str) -> None:
    assert upload_progress(word) is KINDS[kind]


@pytest.mark.parametrize(
    ("statuses", "kind"),
    [
        ([], "pending"),
        (["completed", "completed"], "complete"),
        (["complete", "Completed"], "complete"),
        (["completed", "queued"], "pending"),
        (["generating_audio"], "pending"),
        ([None], "pending"),
        (["completed", "failed"], "failed"),
        (["queued", "ERROR"], "failed"),
    ],
)
def test_classify_songs(statuses: list[Any], kind: str) -> None:
    assert songs_progress(normalize, statuses) is KINDS[kind]


def test_missing_status_field_counts_as_pending() -> None:
    status = normalize.upload_status({"is_flagged": False, "transcribed_lyrics": ""}, {"id": UPLOAD_ID})
    assert status["status"] == ""
    assert upload_progress(status["status"]) is Progress.PENDING
