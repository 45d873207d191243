"""The Flow Music service (``services/flowmusic.py``): its bodies under the API's names, the parameters it lacks
refused by name, and its answers normalized into the provider's common shapes."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_riffusion.exceptions import RiffusionInputError, RiffusionNotFoundError, RiffusionResponseError
from airflow_provider_riffusion.hooks.answers import error_from_response
from airflow_provider_riffusion.services import Progress, flowmusic, get_service, riffusion, songs_progress

JOB_ID = "job:56ef7890-aaaa-bbbb-cccc-000000000001-user:777-artist@example.com-bot:flowmusic"
ASSET = "user:777-asset:0123456789abcdef"


def compose(**fields: Any) -> dict[str, Any]:
    return flowmusic.body("compose", {"prompt_1": "dreamy synth pop", **fields})


def test_a_compose_is_sent_under_the_apis_names_and_always_async() -> None:
    body = compose(
        audio_upload_id=ASSET,
        lyrics="la la",
        reply_url="https://example.com/hook",
        reply_ref="run-1",
        model="lyria-3.5",
        instrumental=False,
        ghostwriter="pro",
        service_fields={"refAudio2": "user:777-asset:second", "refImage1": "img-1"},
        prompt_2=None,  # unset Riffusion fields are no parameters at all
        title=None,
    )
    assert body == {
        "prompt": "dreamy synth pop",
        "refAudio1": ASSET,
        "lyrics": "la la",
        "replyUrl": "https://example.com/hook",
        "replyRef": "run-1",
        "model": "lyria-3.5",
        "instrumental": False,
        "ghostwriter": "pro",
        "refAudio2": "user:777-asset:second",
        "refImage1": "img-1",
        "mode": "async",
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("prompt_2", "more"),
        ("prompt_3", "more"),
        ("prompt_1_strength", 50),
        ("prompt_2_start", 10),
        ("lyrics_strength", 40),
        ("lyrics_weirdness", 40),
        ("max_jobs", 2),
        ("title", "A title"),
    ],
)
def test_a_riffusion_parameter_is_refused_on_flow_music_naming_it(name: str, value: Any) -> None:
    with pytest.raises(RiffusionInputError, match=rf"^{name} is not a parameter of Flow Music \(the connection's"):
        compose(**{name: value})


@pytest.mark.parametrize(
    ("operation", "name", "value"),
    [
        ("compose", "ghostwriter", "pro"),
        ("compose", "instrumental", True),
        ("compose", "service_fields", {"refAudio2": "x"}),
        ("lyrics", "structure", "verse, chorus"),
    ],
)
def test_a_flow_music_parameter_is_refused_on_riffusion_naming_it(operation: str, name: str, value: Any) -> None:
    first = {"compose": "prompt_1", "lyrics": "prompt"}[operation]
    with pytest.raises(RiffusionInputError, match=rf"^{name} is not a parameter of Riffusion \(the connection's"):
        riffusion.body(operation, {first: "a prompt", name: value})


def test_riffusion_bodies_are_unchanged_by_unset_flow_music_fields() -> None:
    assert riffusion.body("compose", {"prompt_1": "p", "ghostwriter": None, "service_fields": None}) == {
        "prompt_1": "p"
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": "FUZZ-0.8"}, r"model 'FUZZ-0.8' is not a Flow Music model"),
        ({"ghostwriter": "ghost"}, r"ghostwriter must be one of \['standard', 'pro'\]"),
        ({"instrumental": "yes"}, r"instrumental must be True or False"),
        ({"service_fields": {"mode": "sync"}}, r"service_fields\['mode'\] is set by the provider"),
        ({"service_fields": {"email": "a@b.c"}}, r"service_fields\['email'\] is set by the provider: pass user_id"),
        ({"service_fields": {"prompt_2": "x"}}, r"service_fields\['prompt_2'\] is not a Flow Music field"),
        ({"service_fields": ["refAudio2"]}, r"service_fields must be a dict"),
        ({"model": "lyria-3.5", "service_fields": {"model": "lyria-3-pro"}}, r"model is given twice"),
        ({"audio_upload_id": "None"}, r"audio_upload_id is empty \('None'"),
        ({"lyrics": "x" * 10_001}, r"lyrics is 10001 characters; Flow Music takes at most 10,000"),
    ],
)
def test_bad_flow_music_fields_fail_before_any_request(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(RiffusionInputError, match=message):
        compose(**fields)


def test_a_prompt_is_required_and_bounded() -> None:
    with pytest.raises(RiffusionInputError, match="prompt_1 is required"):
        flowmusic.body("compose", {"prompt_1": "  "})
    with pytest.raises(RiffusionInputError, match="prompt is 10001 characters"):
        flowmusic.body("prompt", {"prompt": "x" * 10_001})


def test_prompt_and_lyrics_bodies() -> None:
    assert flowmusic.body("prompt", {"prompt": "lofi", "instrumental": True, "reply_ref": "r"}) == {
        "prompt": "lofi",
        "instrumental": True,
        "replyRef": "r",
        "mode": "async",
    }
    with pytest.raises(RiffusionInputError, match=r"^max_jobs is not a parameter of Flow Music"):
        flowmusic.body("prompt", {"prompt": "lofi", "max_jobs": 2})
    assert flowmusic.body("lyrics", {"prompt": "rain", "structure": "verse, chorus", "lyrics": None}) == {
        "prompt": "rain",
        "structure": "verse, chorus",
    }
    with pytest.raises(RiffusionInputError, match=r"^lyrics is not a parameter of Flow Music"):
        flowmusic.body("lyrics", {"prompt": "rain", "lyrics": "rework these"})
    with pytest.raises(RiffusionInputError, match="prompt is 2001 characters"):
        flowmusic.body("lyrics", {"prompt": "x" * 2001})


def test_an_upload_answer_becomes_the_upload_shape() -> None:
    answer = {"id": ASSET, "url": "https://x", "kind": "audio", "clip_id": "clip-1", "duration_s": 3.5}
    assert flowmusic.upload({**answer, "is_flagged": True}, {}) == {
        "job_id": ASSET,
        "audio_upload_id": ASSET,
        "is_flagged": True,
        "clip_id": "clip-1",
        "duration_s": 3.5,
    }
    assert flowmusic.upload({"id": ASSET, "is_flagged": "yes", "duration_s": True}, {}) == {
        "job_id": ASSET,
        "audio_upload_id": ASSET,
        "is_flagged": False,
    }


@pytest.mark.parametrize("answer", [{"url": "https://x"}, {"id": ""}, {"id": 12}, {"id": ["a"]}, [ASSET]])
def test_an_upload_answer_without_an_id_string_is_refused(answer: Any) -> None:
    with pytest.raises(RiffusionResponseError, match="Flow Music API"):
        flowmusic.upload(answer, {})


def test_a_job_record_gives_its_one_job_id() -> None:
    record = {"jobid": JOB_ID, "status": "pending", "email": "artist@example.com"}
    assert flowmusic.job(record, {}) == {"job_ids": [JOB_ID], "response": record}
    for bad in ({"status": "pending"}, {"jobid": 7}, {"jobid": {"id": JOB_ID}}):
        with pytest.raises(RiffusionResponseError, match="jobid"):
            flowmusic.job(bad, {})


CLIP = {
    "clip": "user:777-clip:abc",
    "title": "Night Drive",
    "duration_s": 30.5,
    "lyrics": "la",
    "audio_url": "https://cdn.example/abc.m4a",
    "wav_url": "https://cdn.example/abc.wav",
}


def test_a_completed_jobs_clips_are_its_songs() -> None:
    songs = flowmusic.songs(
        {"jobid": JOB_ID, "status": "completed", "clips": [CLIP, {**CLIP, "clip": "c2"}]}, {"id": JOB_ID}
    )
    assert [song["id"] for song in songs] == ["user:777-clip:abc", "c2"]
    first = songs[0]
    assert list(first)[:4] == ["id", "title", "status", "download_url"]
    assert first["status"] == "completed" and first["download_url"] == CLIP["audio_url"]
    assert first["wav_url"] == CLIP["wav_url"] and first["job_id"] == JOB_ID and "clip" not in first
    assert songs_progress(flowmusic, [song["status"] for song in songs]) is Progress.READY


def test_a_clips_own_fields_never_replace_the_providers() -> None:
    clip = {**CLIP, "id": 5, "status": "pending", "job_id": "other", "download_url": "https://elsewhere"}
    [song] = flowmusic.songs({"status": "completed", "clips": [clip]}, {"id": JOB_ID})
    assert (song["id"], song["status"], song["job_id"]) == (CLIP["clip"], "completed", JOB_ID)
    assert song["download_url"] == CLIP["audio_url"]


def test_a_pending_job_has_no_songs_yet_and_a_failed_one_carries_its_reason() -> None:
    assert flowmusic.songs({"jobid": JOB_ID, "status": "pending"}, {"id": JOB_ID}) == []
    assert flowmusic.songs({"jobid": JOB_ID, "status": "running?"}, {"id": JOB_ID}) == []
    failed = flowmusic.songs(
        {"status": "failed", "error": {"code": "generation_failed", "message": "The model refused"}}, {"id": JOB_ID}
    )
    assert failed == [
        {"id": JOB_ID, "title": None, "status": "failed", "download_url": None, "error": "The model refused"}
    ]
    assert songs_progress(flowmusic, ["failed"]) is Progress.FAILED


@pytest.mark.parametrize(
    "record",
    [
        {"status": "completed"},
        {"status": "completed", "clips": []},
        {"status": "completed", "clips": [{"title": "no id"}]},
        {"status": "completed", "clips": [{"clip": 5}]},
        {"status": "completed", "clips": ["user:777-clip:abc"]},
        ["not", "an", "object"],
    ],
)
def test_a_completed_job_without_usable_clips_is_refused(record: Any) -> None:
    with pytest.raises(RiffusionResponseError, match="Flow Music API"):
        flowmusic.songs(record, {"id": JOB_ID})


ACCOUNTS = {
    "a@example.com": {"email": "a@example.com", "maxJobs": 3},
    "b@example.com": {"email": "b@example.com", "maxJobs": 2},
    "broken@example.com": {"email": "broken@example.com", "maxJobs": 4, "error": "re-add the account"},
}


@pytest.mark.parametrize(
    "answer",
    [
        [{"jobid": "j1", "email": "a@example.com"}, {"jobid": "j2", "email": "a@example.com"}],
        {"jobs": [{"jobid": "j1", "email": "a@example.com"}, {"jobid": "j2", "email": "a@example.com"}]},
        {"total": 2, "accounts": {"a@example.com": {"total": 2, "jobs": [{"jobid": "j1"}, {"jobid": "j2"}]}}},
        {"total": 2, "accounts": {"a@example.com": {"total": 2}}},
        {"a@example.com": {"running": 2, "maxJobs": 3, "jobs": [{"jobid": "j1"}, {"jobid": "j2"}]}},
    ],
    ids=["list", "jobs-list", "by-account", "by-account-counts", "documented"],
)
def test_running_jobs_in_any_shape_give_the_same_free_slots(answer: Any) -> None:
    running = flowmusic.running(answer, {})
    assert running["running"] == {"a@example.com": 2}
    assert flowmusic.free_slots(running, ACCOUNTS) == {"a@example.com": 1, "b@example.com": 2, "broken@example.com": 0}


def test_the_documented_shape_says_max_jobs_of_the_busy_accounts_and_nothing_running_is_empty() -> None:
    running = flowmusic.running({"a@example.com": {"running": 1, "maxJobs": 5, "jobs": [{"jobid": "j1"}]}}, {})
    assert running["capacity"] == {"a@example.com": 5}  # GET jobs' own maxJobs wins over GET accounts' 3
    assert flowmusic.free_slots(running, ACCOUNTS) == {"a@example.com": 4, "b@example.com": 2, "broken@example.com": 0}
    idle = flowmusic.running({}, {})
    assert idle["running"] == {} and flowmusic.free_slots(idle, ACCOUNTS)["a@example.com"] == 3


@pytest.mark.parametrize(
    "answer",
    [
        None,
        5,
        "busy",
        {"accounts": {"a@example.com": "two"}},
        [{"jobid": "j1"}],
        {"accounts": {"a": {"total": -1}}},
        {"a@example.com": {"running": "1"}},
        {"a@example.com": {"maxJobs": 3}},
    ],
)
def test_a_running_jobs_answer_of_another_shape_is_refused_never_counted(answer: Any) -> None:
    with pytest.raises(RiffusionResponseError, match=r"running jobs request \(GET jobs\)"):
        flowmusic.running(answer, {})


def test_an_account_without_a_whole_max_jobs_is_refused() -> None:
    with pytest.raises(RiffusionResponseError, match=r"maxJobs of account 'a@example.com'"):
        flowmusic.free_slots({"running": {}}, {"a@example.com": {"maxJobs": "3"}})


def test_the_job_id_is_one_percent_encoded_path_segment() -> None:
    path, query = flowmusic.ENDPOINTS["songs"].route({"id": JOB_ID})
    assert path == "jobs/job%3A56ef7890-aaaa-bbbb-cccc-000000000001-user%3A777-artist%40example.com-bot%3Aflowmusic"
    assert query == {}
    assert flowmusic.ENDPOINTS["stop_job"].route({"job_id": "a/b"})[0] == "jobs/a%2Fb"


def test_download_and_upload_send_the_apis_parameter_names() -> None:
    assert flowmusic.ENDPOINTS["download"].route({"id": "c1", "download_format": "mp3"}) == (
        "music/download",
        {"id": "c1", "format": "mp3"},
    )
    assert flowmusic.ENDPOINTS["upload"].route({"file_name": "song"}) == ("files", {})
    assert "upload_status" not in flowmusic.ENDPOINTS


def test_lyrics_answer() -> None:
    answer = {"email": "a@example.com", "title": "Rain", "lyrics": "drip drop", "sound_prompt": "lofi"}
    assert flowmusic.lyrics(answer, {}) == {
        "lyrics": "drip drop",
        "title": "Rain",
        "sound_prompt": "lofi",
        "response": answer,
    }
    with pytest.raises(RiffusionResponseError, match="without lyrics"):
        flowmusic.lyrics({"title": "Rain"}, {})


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (413, '{"error": "File too large", "code": 413}', "It takes files up to 40 MiB"),
        (
            422,
            '{"error": {"code": "no_lyrics", "message": "No lyrics were generated"}}',
            "(HTTP 422): No lyrics were generated.",
        ),
        (429, '{"error": "All accounts are busy", "code": 429}', "Every Flow Music account is busy"),
        (
            596,
            '{"error": "Account a@example.com in error state: expired", "code": 596}',
            "Re-add it with POST accounts",
        ),
        (401, '{"error": "Unauthorized", "code": 401}', "The Flow Music API refused the token"),
        (404, '{"error": "Not found", "code": 404}', "Check the id and the account (user_id: its email)"),
        (402, '{"error": "Insufficient credits", "code": 402}', "has too few credits for the songs of job x"),
        (403, '{"error": "Forbidden", "code": 403}', "belongs to another useapi.net account (HTTP 403)"),
        (409, '{"error": "Job not completed", "code": 409}', "its job has not completed. Wait for the songs"),
        (410, '{"error": "Gone", "code": 410}', "no longer keeps the songs of job x (HTTP 410): Gone: jobs are kept"),
    ],
)
def test_error_answers_speak_of_flow_music(status: int, body: str, expected: str) -> None:
    error = error_from_response(status, body, "the songs of job x", service=flowmusic)
    assert expected in str(error) and "Riffusion" not in str(error)
    assert error.http_status == status


def test_a_job_kept_no_longer_is_not_found_so_a_durable_retry_submits_anew() -> None:
    for service in (flowmusic, riffusion):
        error = error_from_response(410, '{"error": "Gone"}', "the songs of job x", service=service)
        assert isinstance(error, RiffusionNotFoundError) and error.http_status == 410


def test_the_service_is_chosen_by_name() -> None:
    assert get_service("flowmusic") is flowmusic and get_service(None) is riffusion
    with pytest.raises(RiffusionInputError, match="service 'suno' is not one of"):
        get_service("suno")


def test_a_flow_music_model_is_refused_on_riffusion() -> None:
    with pytest.raises(RiffusionInputError, match=r"model 'lyria-3.5' is a Flow Music model, not one of Riffusion"):
        riffusion.body("compose", {"prompt_1": "p", "model": "lyria-3.5"})
    assert riffusion.body("compose", {"prompt_1": "p", "model": "FUZZ-0.8"})["model"] == "FUZZ-0.8"


@pytest.mark.parametrize(
    ("url", "local", "allowed"),
    [
        ("https://cdn.example/c.wav", False, True),
        ("http://cdn.example/c.wav", True, False),
        ("http://127.0.0.1:8080/c.wav", False, False),  # a worker's own services, unless the API is local too
        ("http://127.0.0.1:8080/c.wav", True, True),
        ("https://user:pw@cdn.example/c.wav", False, False),
        ("file:///etc/passwd", True, False),
    ],
)
def test_which_public_urls_are_fetched(url: str, local: bool, allowed: bool) -> None:
    from airflow_provider_riffusion.hooks.riffusion import public_url_allowed

    assert public_url_allowed(url, local) is allowed
