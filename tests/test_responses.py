"""What the API's answers mean: both revisions normalized, every error status classified."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_riffusion.exceptions import (
    RiffusionAccountError,
    RiffusionAuthError,
    RiffusionBadRequestError,
    RiffusionCreditsError,
    RiffusionError,
    RiffusionModerationError,
    RiffusionNotFoundError,
    RiffusionRateLimitError,
    RiffusionResponseError,
    RiffusionServerError,
    RiffusionSubscriptionError,
    RiffusionTransientError,
)
from airflow_provider_riffusion.responses import (
    classify_songs,
    classify_upload_status,
    decode_json,
    error_from_response,
    normalize_compose,
    normalize_songs,
    normalize_upload,
    normalize_upload_status,
)

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

HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
TAG = re.compile(r"<[^>]+>")


# --- upload --------------------------------------------------------------------------------


def test_normalize_upload_revision_2025_02_17() -> None:
    assert normalize_upload({"job_id": UPLOAD_ID}) == {
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
    assert normalize_upload(body) == {"job_id": COMPOSITE_ID, "audio_upload_id": UPLOAD_ID, "is_flagged": flagged}


@pytest.mark.parametrize("body", [{}, {"is_flagged": False}, {"job_id": ""}, {"id": COMPOSITE_ID}])
def test_normalize_upload_without_job_id_is_a_response_error(body: dict[str, Any]) -> None:
    with pytest.raises(RiffusionResponseError, match="no job id") as excinfo:
        normalize_upload(body)
    assert not isinstance(excinfo.value, AirflowFailException)
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize("body", [[{"job_id": UPLOAD_ID}], "ok", None])
def test_normalize_upload_refuses_non_objects(body: Any) -> None:
    with pytest.raises(RiffusionResponseError, match="expected an object"):
        normalize_upload(body)


# --- upload status -------------------------------------------------------------------------


def test_normalize_upload_status_revision_2025_02_17() -> None:
    status = normalize_upload_status(UPLOAD_ID, STATUS_2025_02_17)
    assert status == {
        "job_id": UPLOAD_ID,
        "audio_upload_id": UPLOAD_ID,
        "status": "complete",
        "lyrics": "hello darkness",
        "is_flagged": False,
        "response": STATUS_2025_02_17,
    }


def test_normalize_upload_status_revision_2025_02_25() -> None:
    status = normalize_upload_status(COMPOSITE_ID, STATUS_2025_02_25)
    assert status == {
        "job_id": COMPOSITE_ID,
        "audio_upload_id": UPLOAD_ID,
        "status": "complete",
        "lyrics": "hello again",
        "is_flagged": False,
        "response": STATUS_2025_02_25,
    }


def test_audio_upload_id_from_the_composite_id_when_the_body_lacks_it() -> None:
    status = normalize_upload_status(COMPOSITE_ID, {"status": "pending"})
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
    assert normalize_upload_status(UPLOAD_ID, body)["lyrics"] == lyrics


@pytest.mark.parametrize(
    ("raw", "normalized"), [(" Complete ", "complete"), (None, ""), ("", ""), ("QUEUED", "queued")]
)
def test_status_word_is_normalized(raw: Any, normalized: str) -> None:
    assert normalize_upload_status(UPLOAD_ID, {"status": raw})["status"] == normalized


def test_missing_status_field_counts_as_pending() -> None:
    status = normalize_upload_status(UPLOAD_ID, {"is_flagged": False, "transcribed_lyrics": ""})
    assert status["status"] == ""
    assert classify_upload_status(status["status"]) == "pending"


def test_status_body_that_is_not_an_object_is_a_response_error() -> None:
    with pytest.raises(RiffusionResponseError, match="expected an object"):
        normalize_upload_status(UPLOAD_ID, ["complete"])


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
    assert classify_upload_status(word) == kind


# --- compose and songs ---------------------------------------------------------------------


def test_normalize_compose_jobs_list() -> None:
    body = {"jobs": [{"id": "job-a"}, {"id": "job-b"}]}
    assert normalize_compose(body) == {"job_ids": ["job-a", "job-b"], "response": body}


def test_normalize_compose_job_id() -> None:
    body = {"job_id": "job-a", "user_id": "user-1"}
    assert normalize_compose(body) == {"job_ids": ["job-a"], "response": body}


def test_normalize_compose_skips_entries_without_id() -> None:
    body = {"jobs": [{"id": "job-a"}, {"status": "queued"}, "junk", {"id": ""}]}
    assert normalize_compose(body)["job_ids"] == ["job-a"]


@pytest.mark.parametrize("body", [{}, {"jobs": []}, {"jobs": [{}]}, {"job_id": ""}, {"jobs": None}])
def test_normalize_compose_without_ids_is_a_response_error(body: dict[str, Any]) -> None:
    with pytest.raises(RiffusionResponseError, match="no job id"):
        normalize_compose(body)


def test_normalize_songs_keeps_song_objects() -> None:
    songs = [{"id": "s1", "status": "queued"}, "junk", {"id": "s2", "status": "completed"}]
    assert normalize_songs("job-a", songs) == [songs[0], songs[2]]
    assert normalize_songs("job-a", []) == []


@pytest.mark.parametrize("body", [{"id": "s1"}, None, "[]"])
def test_normalize_songs_refuses_non_lists(body: Any) -> None:
    with pytest.raises(RiffusionResponseError, match="expected a list"):
        normalize_songs("job-a", body)


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
    assert classify_songs([{"id": f"s{i}", "status": s} for i, s in enumerate(statuses)]) == kind


# --- decode_json ---------------------------------------------------------------------------


def test_decode_json_parses_json() -> None:
    assert decode_json(200, {"content-type": "application/json"}, '{"jobs": [{"id": "a"}]}', "x") == {
        "jobs": [{"id": "a"}]
    }


def test_decode_json_html_body_is_a_one_line_response_error_without_tags() -> None:
    with pytest.raises(RiffusionResponseError) as excinfo:
        decode_json(200, {"content-type": "text/html"}, HTML_502, "the upload")
    message = str(excinfo.value)
    assert not TAG.search(message)
    assert "\n" not in message
    assert "\r" not in message
    assert "text/html" in message
    assert "502 Bad Gateway" in message
    assert "host" in message  # what to fix
    assert excinfo.value.http_status == 200


def test_decode_json_bounds_a_huge_body() -> None:
    with pytest.raises(RiffusionResponseError) as excinfo:
        decode_json(200, {}, "x" * 100_000, "the upload")
    assert len(str(excinfo.value)) < 1000
    assert "unknown content type" in str(excinfo.value)


# --- error_from_response -------------------------------------------------------------------

ERROR_CASES = [
    (400, {"error": "Parameter prompt_1 is required", "code": 400}, RiffusionBadRequestError, True),
    (401, {"error": "Unauthorized", "code": 401}, RiffusionAuthError, True),
    (402, {"error": "Subscription expired"}, RiffusionSubscriptionError, True),
    (404, {"error": "Job not found", "code": 404}, RiffusionNotFoundError, True),
    (412, {"error": "Insufficient credits", "code": 412}, RiffusionCreditsError, True),
    (422, {"is_flagged": True, "reason": "moderation"}, RiffusionModerationError, True),
    (429, {"error": "All job slots are busy", "code": 429}, RiffusionRateLimitError, False),
    (500, {"error": "Internal server error"}, RiffusionServerError, False),
    (502, {"error": "Bad gateway"}, RiffusionServerError, False),
    (503, {"error": "Service unavailable", "code": 503}, RiffusionServerError, False),
    (
        596,
        {"error": "Your Riffusion account has pending error. Please update the cookie."},
        RiffusionAccountError,
        True,
    ),
]


@pytest.mark.parametrize(
    ("status", "body", "cls", "fatal"), [pytest.param(*case, id=str(case[0])) for case in ERROR_CASES]
)
def test_error_from_response(status: int, body: dict[str, Any], cls: type[RiffusionError], fatal: bool) -> None:
    error = error_from_response(status, json.dumps(body), "the upload")

    assert type(error) is cls
    assert isinstance(error, AirflowException)
    assert error.http_status == status
    assert error.api_error == (body.get("error") or body.get("reason"))
    assert isinstance(error, AirflowFailException) is fatal
    assert isinstance(error, RiffusionTransientError) is not fatal
    message = str(error)
    assert "\n" not in message
    assert f"HTTP {status}" in message


@pytest.mark.parametrize(
    ("status", "hints"),
    [
        (400, ["Fix the parameter"]),
        (401, ["password", "API token"]),
        (402, ["Renew"]),
        (404, ["id", "user_id"]),
        (412, ["credits"]),
        (422, ["prompt or lyrics"]),
        (429, ["Retry later"]),
        (503, ["transient"]),
        (596, ["Re-register", "POST accounts"]),
    ],
)
def test_error_messages_say_what_to_do(status: int, hints: list[str]) -> None:
    message = str(error_from_response(status, '{"error": "x"}', "the upload"))
    for hint in hints:
        assert hint in message


def test_html_502_from_a_proxy() -> None:
    error = error_from_response(502, HTML_502, "the upload status request")

    assert type(error) is RiffusionServerError
    assert not isinstance(error, AirflowFailException)
    assert error.http_status == 502
    assert error.api_error == "502 Bad Gateway 502 Bad Gateway nginx"
    message = str(error)
    assert not TAG.search(message)
    assert "\n" not in message
    assert "\r" not in message


def test_long_error_body_is_cut() -> None:
    error = error_from_response(500, "<p>" + "boom " * 500 + "</p>", "the upload")
    assert error.api_error is not None
    assert len(error.api_error) <= 203
    assert error.api_error.endswith("...")


def test_empty_error_body() -> None:
    error = error_from_response(503, "", "the upload")
    assert type(error) is RiffusionServerError
    assert error.api_error is None
    assert str(error).endswith("the task can be retried.")


def test_attempts_are_reported_for_transient_errors() -> None:
    assert "after 4 attempts" in str(error_from_response(429, "{}", "the compose request", attempts=4))
    assert "after 3 attempts" in str(error_from_response(503, "{}", "the upload", attempts=3))
    assert "attempts" not in str(error_from_response(503, "{}", "the upload"))


def test_unexpected_status_is_a_plain_riffusion_error() -> None:
    error = error_from_response(418, '{"error": "teapot"}', "the upload")
    assert type(error) is RiffusionError
    assert error.http_status == 418
    assert error.api_error == "teapot"


def test_multi_line_api_error_still_gives_a_one_line_message() -> None:
    body = json.dumps({"error": "Your Riffusion account has pending error.\nPlease update the cookie."})
    error = error_from_response(596, body, "the upload")
    assert "\n" not in str(error)
    assert "\n" not in (error.api_error or "")
