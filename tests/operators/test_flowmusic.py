"""The same operators and sensor on a Flow Music connection, against the emulator's Flow Music API: the same
outputs, the upload wait that ends at once, the parameters a service lacks refused before any request, and wav
fetched from the clip's public URL without the token."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.operators.riffusion import (
    CreateComposeOperator,
    CreatePromptOperator,
    DownloadSongsOperator,
    GenerateLyricsOperator,
    UploadAudioOperator,
)
from airflow_provider_riffusion.sensors.riffusion import SongsCompletedSensor, UploadCompletedSensor
from airflow_provider_riffusion.testing import RiffusionEmulator
from tests.support import RecordingTI, pushed, task_context

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

UPLOAD_KEYS = {"job_id", "audio_upload_id", "is_flagged", "file_name", "content_type", "bytes", "sha256"}


@pytest.fixture
def context() -> Context:
    return task_context(RecordingTI())


def api_requests(emulator: RiffusionEmulator) -> list[tuple[str, str]]:
    return [(request["method"], request["path"].removeprefix("/v1/flowmusic/")) for request in emulator.requests]


@pytest.mark.parametrize("deferrable", [False, True])
def test_an_upload_is_ready_when_it_answers_with_no_status_request_and_no_deferral(
    flowmusic: RiffusionEmulator, wav_file: Path, context: Context, deferrable: bool
) -> None:
    operator = UploadAudioOperator(
        task_id="up", source=wav_file, wait_for_completion=True, deferrable=deferrable, poll_interval=0.01
    )

    result = operator.execute(context)  # a deferral would raise TaskDeferred

    assert set(result) >= UPLOAD_KEYS and result["status"] == "complete"
    assert result["job_id"] == result["audio_upload_id"] == flowmusic.uploads[0].audio_upload_id
    assert {"clip_id", "duration_s"} <= set(result)
    assert api_requests(flowmusic) == [("POST", "files")]
    sensor = UploadCompletedSensor(task_id="wait", job_id=result["job_id"], deferrable=True, poke_interval=1)
    assert sensor.execute(context)["status"] == "complete"
    assert api_requests(flowmusic) == [("POST", "files")]


def test_upload_compose_and_store_chain_on_flow_music(
    flowmusic: RiffusionEmulator, wav_file: Path, context: Context, tmp_path: Path
) -> None:
    upload = UploadAudioOperator(task_id="up", source=wav_file).execute(context)
    compose = CreateComposeOperator(
        task_id="compose",
        prompt_1="dreamy synth pop",
        lyrics="neon lights",
        audio_upload_id=upload["audio_upload_id"],
        ghostwriter="pro",
        service_fields={"model": "lyria-3.5"},
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.01,
    ).execute(context)

    [job_id] = compose["job_ids"]
    assert job_id.startswith("job:") and pushed(context)["job_ids"] == [job_id]
    posted = compose["response"]["request"]
    assert posted["refAudio1"] == upload["audio_upload_id"] and posted["mode"] == "async"
    assert posted["ghostwriter"] == "pro" and posted["model"] == "lyria-3.5"
    assert len(compose["songs"]) == 2
    for song in compose["songs"]:
        assert list(song)[:4] == ["id", "title", "status", "download_url"]
        assert song["status"] == "completed" and song["job_id"] == job_id and song["wav_url"]

    for download_format in ("mp3", "wav"):
        stored = DownloadSongsOperator(
            task_id=f"store_{download_format}",
            songs=compose,
            destination=tmp_path / download_format,
            download_format=download_format,
        ).execute(context)
        assert [file["song_id"] for file in stored["files"]] == [song["id"] for song in compose["songs"]]
        for file in stored["files"]:
            assert Path(file["path"]).stat().st_size == file["bytes"] > 0
            assert file["content_type"] == {"mp3": "audio/mpeg", "wav": "audio/wav"}[download_format]
    fetched = [(record["format"], record["authorization"]) for record in flowmusic.downloads]
    assert fetched == [("mp3", True)] * 2 + [("wav", False)] * 2  # wav from the public URL, never with the token


def test_songs_sensor_and_the_job_it_failed_with(flowmusic: RiffusionEmulator, context: Context) -> None:
    flowmusic.song_final_status = "failed"
    job_ids = CreatePromptOperator(task_id="p", prompt="lofi beats", instrumental=True).execute(context)["job_ids"]
    sensor = SongsCompletedSensor(task_id="songs", job_ids=job_ids, poke_interval=0.01)

    with pytest.raises(exc.RiffusionSongFailedError) as failed:
        sensor.execute(context)

    assert "The model could not generate this song" in str(failed.value)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"prompt_2": "more"}, "prompt_2"),
        ({"prompt_1_strength": 60}, "prompt_1_strength"),
        ({"lyrics_weirdness": 10}, "lyrics_weirdness"),
        ({"title": "Arpeggio"}, "title"),
        ({"max_jobs": 2}, "max_jobs"),
    ],
)
def test_a_riffusion_parameter_fails_the_task_before_any_request(
    flowmusic: RiffusionEmulator, context: Context, fields: dict[str, Any], name: str
) -> None:
    operator = CreateComposeOperator(task_id="c", prompt_1="folk", **fields)

    with pytest.raises(exc.RiffusionInputError) as refused:
        operator.execute(context)

    assert str(refused.value).startswith(f"{name} is not a parameter of Flow Music (the connection's service)")
    assert flowmusic.requests == []


def test_a_flow_music_parameter_fails_on_riffusion_before_any_request(emu: RiffusionEmulator, context: Context) -> None:
    with pytest.raises(exc.RiffusionInputError, match=r"^ghostwriter is not a parameter of Riffusion"):
        CreateComposeOperator(task_id="c", prompt_1="folk", ghostwriter="pro").execute(context)
    with pytest.raises(exc.RiffusionInputError, match=r"^structure is not a parameter of Riffusion"):
        GenerateLyricsOperator(task_id="l", prompt="rain", structure="verse").execute(context)
    assert emu.requests == []


def test_lyrics_on_flow_music(flowmusic: RiffusionEmulator, context: Context) -> None:
    result = GenerateLyricsOperator(task_id="l", prompt="rain on the window", structure="verse, chorus").execute(
        context
    )

    assert result["lyrics"] and result["title"]
    assert api_requests(flowmusic) == [("POST", "music/lyrics")]


def test_wav_of_a_bare_song_id_is_refused_with_what_to_pass(
    flowmusic: RiffusionEmulator, context: Context, tmp_path: Path
) -> None:
    operator = DownloadSongsOperator(
        task_id="s", songs=["user:777-clip:abc"], destination=tmp_path, download_format="wav"
    )

    with pytest.raises(exc.RiffusionInputError, match="only from each song's public wav_url") as refused:
        operator.execute(context)

    assert "\n" not in str(refused.value)
    assert flowmusic.requests == [] and not list(tmp_path.iterdir())


def test_stems_are_refused_on_flow_music(flowmusic: RiffusionEmulator, context: Context, tmp_path: Path) -> None:
    operator = DownloadSongsOperator(task_id="s", songs=["c1"], destination=tmp_path, download_format="stems")

    with pytest.raises(exc.RiffusionInputError, match=r"'stems' is not one Flow Music .* serves: use mp3 or wav"):
        operator.execute(context)


def test_a_source_over_the_cap_is_refused_before_sending(
    flowmusic: RiffusionEmulator, context: Context, tmp_path: Path
) -> None:
    big = tmp_path / "big.wav"
    with big.open("wb") as file:  # a sparse file: 40 MiB and one byte, without writing them
        file.write(b"RIFF\x00\x00\x00\x00WAVEfmt ")
        file.truncate(40 * 1024 * 1024 + 1)

    with pytest.raises(exc.RiffusionInputError, match="over the 40 MiB that Flow Music takes: nothing was sent"):
        UploadAudioOperator(task_id="up", source=big).execute(context)

    assert flowmusic.requests == []


def test_a_riffusion_user_id_left_in_a_moved_connection_is_refused_naming_email(
    flowmusic: RiffusionEmulator, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support import connection_json

    monkeypatch.setenv(
        "AIRFLOW_CONN_RIFFUSION_DEFAULT",
        connection_json(flowmusic.base_url, service="flowmusic", user_id="3f2b8c1e-0000-4000-8000-000000000001"),
    )

    with pytest.raises(exc.RiffusionInputError) as refused:
        CreatePromptOperator(task_id="p", prompt="lofi").execute(context)

    message = str(refused.value)
    assert message.startswith("connection 'riffusion_default' extra user_id is '3f2b8c1e-")
    assert "not an email: on Flow Music an account is its email" in message
    assert flowmusic.requests == []


def test_a_sensor_cannot_read_the_flag_on_flow_music_so_fail_on_flagged_is_refused(
    flowmusic: RiffusionEmulator, context: Context
) -> None:
    sensor = UploadCompletedSensor(task_id="wait", job_id="user:777-asset:abc", fail_on_flagged=True, poke_interval=1)

    with pytest.raises(exc.RiffusionInputError, match="fail_on_flagged cannot be checked here: the Flow Music API"):
        sensor.execute(context)

    unflagged = UploadCompletedSensor(task_id="wait2", job_id="user:777-asset:abc", poke_interval=1).execute(context)
    assert unflagged["is_flagged"] is False and unflagged["response"] == {}  # nothing read; no null XComs
    assert None not in unflagged.values()
    assert flowmusic.requests == []
