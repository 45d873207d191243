"""RiffusionHook against the bundled emulator over real HTTP, in both API revisions."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.services import riffusion
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from tests.support import TOKEN, connection_json


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def requests_to(emulator: RiffusionEmulator, method: str, path_part: str) -> int:
    return sum(1 for r in emulator.requests if r["method"] == method and path_part in r["path"])


def test_upload_streams_the_file_and_returns_both_ids(connection: RiffusionEmulator, wav_file: Path) -> None:
    result = RiffusionHook().upload_audio(str(wav_file))

    assert set(result) == {"job_id", "audio_upload_id", "is_flagged", "file_name", "content_type", "bytes", "sha256"}
    assert result["file_name"] == "morning tone"
    assert result["content_type"] == "audio/wav"
    assert result["bytes"] == wav_file.stat().st_size
    assert result["sha256"] == sha256_of(wav_file)
    [record] = connection.uploads
    assert (record.file_name, record.content_type, record.sha256) == ("morning tone", "audio/wav", result["sha256"])
    if connection.revision == "2025-02-17":
        assert result["audio_upload_id"] == result["job_id"]
    else:
        assert result["job_id"] == f"{result['audio_upload_id']}:{record.job_id.split(':', 1)[1]}"


def test_status_goes_from_pending_to_complete_with_lyrics(connection: RiffusionEmulator, wav_file: Path) -> None:
    hook = RiffusionHook()
    upload = hook.upload_audio(wav_file)

    first = hook.get_upload_status(upload["job_id"])
    second = hook.get_upload_status(upload["job_id"])

    assert set(first) == {"job_id", "audio_upload_id", "status", "lyrics", "is_flagged", "response"}
    assert first["status"] == "pending"
    assert second["status"] == "complete"
    assert second["lyrics"]
    assert second["audio_upload_id"] == upload["audio_upload_id"]
    assert second["response"]["status"] == "complete"


@pytest.mark.parametrize("shape", ["jobs", "job_id"])
@pytest.mark.parametrize("revision", ["2025-02-17", "2025-02-25"])
def test_compose_from_upload_then_songs_complete(
    revision: str, shape: str, wav_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RiffusionEmulator(revision=revision, token=TOKEN, pending_polls=0, song_polls=1, compose_shape=shape) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url))
        hook = RiffusionHook()
        upload = hook.upload_audio(wav_file)
        assert hook.get_upload_status(upload["job_id"])["status"] == "complete"

        composed = hook.create_compose(
            "synthwave", audio_upload_id=upload["audio_upload_id"], lyrics="la la", title="T", prompt_1_strength=70
        )
        job_id = composed["job_ids"][0]
        first, second = hook.get_songs(job_id), hook.get_songs(job_id)

    assert len(composed["job_ids"]) == (2 if shape == "jobs" else 1)
    assert first[0]["status"] != "completed"
    assert second[0]["status"] == "completed"
    assert second[0]["download_url"].startswith("http://127.0.0.1:")
    assert second[0]["title"] == "T"


def test_test_connection_reports_success_and_a_bad_token_without_leaking(
    emulator: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emulator.base_url))
    ok, message = RiffusionHook().test_connection()
    assert ok, message
    assert "1 Riffusion account" in message

    wrong = "tok-WRONG-0000"
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emulator.base_url, token=wrong))
    ok, message = RiffusionHook().test_connection()
    assert not ok
    assert "401" in message
    assert wrong not in message


FATAL = [
    (400, exc.RiffusionBadRequestError),
    (401, exc.RiffusionAuthError),
    (402, exc.RiffusionSubscriptionError),
    (412, exc.RiffusionCreditsError),
    (422, exc.RiffusionModerationError),
    (596, exc.RiffusionAccountError),
]


@pytest.mark.parametrize(("status", "error_class"), FATAL)
def test_fatal_statuses_fail_at_once_without_retry(
    connection: RiffusionEmulator, status: int, error_class: type[exc.RiffusionError]
) -> None:
    connection.inject(Fault(method="GET", path="music/upload-audio", kind="status", status=status, times=5))

    with pytest.raises(error_class) as raised:
        RiffusionHook().get_upload_status("some-job")

    assert isinstance(raised.value, AirflowFailException)
    assert raised.value.http_status == status
    assert requests_to(connection, "GET", "upload-audio") == 1
    assert "\n" not in str(raised.value)
    if status == 596:
        assert "POST accounts" in str(raised.value)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_transient_statuses_are_retried_then_succeed(
    connection: RiffusionEmulator, wav_file: Path, status: int
) -> None:
    hook = RiffusionHook()
    upload = hook.upload_audio(wav_file)
    connection.inject(Fault(method="GET", path="music/upload-audio", kind="status", status=status, times=2))

    result = hook.get_upload_status(upload["job_id"])

    assert result["job_id"] == upload["job_id"]
    assert requests_to(connection, "GET", "upload-audio") == 3


@pytest.mark.parametrize(
    ("status", "error_class"), [(429, exc.RiffusionRateLimitError), (502, exc.RiffusionServerError)]
)
def test_transient_statuses_give_up_after_max_attempts(
    connection: RiffusionEmulator, status: int, error_class: type[exc.RiffusionError]
) -> None:
    connection.inject(Fault(method="GET", path="music", kind="status", status=status, times=10))

    with pytest.raises(error_class, match="after 3 attempts") as raised:
        RiffusionHook().get_songs("job-1")

    assert not isinstance(raised.value, AirflowFailException)
    assert requests_to(connection, "GET", "music") == 3


@pytest.mark.parametrize("status", [429, 503])
def test_refused_upload_is_resent_whole_and_recorded_once(
    connection: RiffusionEmulator, big_mp3: Path, status: int
) -> None:
    connection.inject(
        Fault(
            method="POST",
            path="music/upload-audio",
            kind="status",
            status=status,
            times=2,
            headers={"Retry-After": "0"},
        )
    )

    result = RiffusionHook().upload_audio(big_mp3)

    assert requests_to(connection, "POST", "upload-audio") == 3
    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256_of(big_mp3)
    assert record.bytes == big_mp3.stat().st_size


def test_upload_is_not_repeated_after_a_500(connection: RiffusionEmulator, wav_file: Path) -> None:
    connection.inject(Fault(method="POST", path="music/upload-audio", kind="status", status=500, times=1))

    with pytest.raises(exc.RiffusionServerError):
        RiffusionHook().upload_audio(wav_file)

    assert requests_to(connection, "POST", "upload-audio") == 1


def test_upload_dropped_mid_body_is_resent_whole(connection: RiffusionEmulator, big_mp3: Path) -> None:
    connection.inject(Fault(method="POST", path="music/upload-audio", kind="drop", times=1))

    result = RiffusionHook().upload_audio(big_mp3)

    [record] = connection.uploads
    assert record.sha256 == result["sha256"] == sha256_of(big_mp3)
    assert record.bytes == big_mp3.stat().st_size


def test_compose_retries_busy_slots(connection: RiffusionEmulator) -> None:
    connection.inject(Fault(method="POST", path="music/create-compose", kind="status", status=429, times=2))

    result = RiffusionHook().create_compose("ambient")

    assert result["job_ids"]
    assert requests_to(connection, "POST", "create-compose") == 3


def test_compose_is_not_repeated_after_a_502(connection: RiffusionEmulator) -> None:
    connection.inject(Fault(method="POST", path="music/create-compose", kind="html", status=502, times=1))

    with pytest.raises(exc.RiffusionServerError) as raised:
        RiffusionHook().create_compose("ambient")

    assert "<" not in str(raised.value)
    assert requests_to(connection, "POST", "create-compose") == 1


def test_unreachable_server_fails_with_a_network_error(monkeypatch: pytest.MonkeyPatch, wav_file: Path) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json("http://127.0.0.1:9/v1/riffusion"))

    with pytest.raises(
        exc.RiffusionNetworkError, match=r"Could not connect to http://127.0.0.1:9/v1/riffusion"
    ) as raised:
        RiffusionHook().upload_audio(wav_file)

    assert "after 3 attempts" in str(raised.value)


def test_malformed_json_is_a_response_error(connection: RiffusionEmulator) -> None:
    connection.inject(Fault(method="GET", path="music", kind="malformed"))

    with pytest.raises(exc.RiffusionResponseError, match="not JSON"):
        RiffusionHook().get_songs("job-1")


def test_upload_answer_without_job_id_is_refused(connection: RiffusionEmulator, wav_file: Path) -> None:
    connection.inject(Fault(method="POST", path="music/upload-audio", kind="missing_field"))

    with pytest.raises(exc.RiffusionUnconfirmedError, match=r"no job id.*may have been stored") as raised:
        RiffusionHook().upload_audio(wav_file)

    # The track may be on the server: an Airflow retry could upload it twice.
    assert isinstance(raised.value, AirflowFailException)


def test_polls_reuse_one_connection(connection: RiffusionEmulator, wav_file: Path) -> None:
    hook = RiffusionHook()
    upload = hook.upload_audio(wav_file)
    for _ in range(10):
        hook.get_upload_status(upload["job_id"])

    assert connection.connections == 1


def test_token_in_an_error_body_is_scrubbed(connection: RiffusionEmulator) -> None:
    connection.inject(
        Fault(method="GET", path="music", kind="status", status=400, body={"error": f"bad token {TOKEN}", "code": 400})
    )

    with pytest.raises(exc.RiffusionBadRequestError) as raised:
        RiffusionHook().get_songs("job-1")

    assert TOKEN not in str(raised.value)
    assert "***" in str(raised.value)


def test_repr_of_hook_and_session_hide_the_token(connection: RiffusionEmulator) -> None:
    hook = RiffusionHook()
    hook.test_connection()

    assert TOKEN not in repr(hook)
    assert TOKEN not in repr(hook.session)
    assert TOKEN not in repr(hook.settings)


def test_user_id_required_with_several_accounts(wav_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with RiffusionEmulator(token=TOKEN, user_ids=("alice", "bob")) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url))
        with pytest.raises(exc.RiffusionBadRequestError, match="user_id"):
            RiffusionHook().upload_audio(wav_file)
        explicit = RiffusionHook().upload_audio(wav_file, user_id="bob")

        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, user_id="alice"))
        defaulted = RiffusionHook().upload_audio(wav_file)
        status = RiffusionHook().get_upload_status(defaulted["job_id"])

        assert [record.user_id for record in emu.uploads] == ["bob", "alice"]
    assert explicit["job_id"] != defaulted["job_id"]
    assert status["job_id"] == defaulted["job_id"]


def test_uri_form_connection_uses_the_public_default_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", "riffusion://:tok-uri-123@")

    settings = RiffusionHook().settings

    assert settings.base_url == "https://api.useapi.net/v1/riffusion"
    assert settings.token == "tok-uri-123"


def test_call_takes_an_operation_by_name_or_by_its_endpoint(emu: RiffusionEmulator) -> None:
    """0.2.0's ``call(endpoint, ...)`` took an endpoint object: the service's ``ENDPOINTS`` entries still work."""
    hook = RiffusionHook()
    job_id = hook.create_compose("surf rock")["job_ids"][0]

    by_name = hook.call("songs", id=job_id)
    by_endpoint = hook.call(riffusion.ENDPOINTS["songs"], id=job_id)

    assert [song["id"] for song in by_name] == [song["id"] for song in by_endpoint] and by_name
    with pytest.raises(
        exc.RiffusionInputError, match=r"has no operation .stems.: use one of account, accounts, compose"
    ):
        hook.call("stems")


def test_stop_job_frees_the_slot_and_a_second_stop_has_nothing_to_stop(emu: RiffusionEmulator) -> None:
    hook = RiffusionHook()
    before = hook.free_slots()
    job_id = hook.create_compose("surf rock")["job_ids"][0]
    assert hook.free_slots() == before - 1

    assert hook.stop_job(job_id) is True
    assert hook.free_slots() == before
    assert hook.stop_job(job_id) is False  # 404: the job no longer runs (a retry after a lost answer, too)
    assert [r["status"] for r in emu.requests if r["method"] == "DELETE"] == [204, 404]


def test_the_endpoint_names_0_2_0_documented_still_work_with_a_deprecation(emu: RiffusionEmulator) -> None:
    from airflow.exceptions import AirflowProviderDeprecationWarning

    hook = RiffusionHook()
    job_id = hook.create_compose("surf rock")["job_ids"][0]
    with pytest.warns(AirflowProviderDeprecationWarning, match=r"call hook.call\('songs', ...\) instead"):
        from airflow_provider_riffusion.client.endpoints import SONGS

    assert hook.call(SONGS, id=job_id) == hook.call("songs", id=job_id)


def test_a_204_to_a_create_call_is_unconfirmed_never_retried(emu: RiffusionEmulator) -> None:
    """No Content is an answer only a call that creates nothing may give: songs may have been started."""
    emu.inject(Fault(method="POST", path="music/create-compose", kind="status", status=204, times=5))

    with pytest.raises(exc.RiffusionUnconfirmedError, match="Songs may have been started") as raised:
        RiffusionHook().create_compose("surf rock")

    assert isinstance(raised.value, AirflowFailException)
    assert [r["status"] for r in emu.requests if r["method"] == "POST"] == [204]


def test_the_account_a_call_names_wins_over_the_connections_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The account goes where the endpoint wants it: named by the call (also inside a 0.2.0-style body), else the
    connection's. Each compose takes a slot of the account it ran on (the emulator's running jobs)."""
    with RiffusionEmulator(token=TOKEN, user_ids=("acct-1", "acct-2"), pending_polls=0, song_polls=0) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, user_id="acct-2"))
        hook = RiffusionHook()

        def used_by(compose: Any) -> list[str]:
            before = {account: hook.free_slots(account) for account in ("acct-1", "acct-2")}
            compose()
            return [account for account, free in before.items() if hook.free_slots(account) < free]

        in_body = {"prompt_1": "surf rock", "user_id": "acct-1"}
        assert used_by(lambda: hook.call("compose", json=in_body)) == ["acct-1"]
        assert used_by(lambda: hook.create_compose("surf rock", user_id="acct-1")) == ["acct-1"]
        assert used_by(lambda: hook.create_compose("surf rock")) == ["acct-2"]
