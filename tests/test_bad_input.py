"""Bad input, end to end: each case fails with one line that says what to fix.

Whatever can be checked locally is refused before any request: the emulator the connection
points at must have seen nothing. What only the server can judge (an unknown ``user_id``, a 200
without a job id) comes back as one line naming the cause. Names that are legal are sent
exactly: the emulator records what arrived.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator, UploadAudioOperator
from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.triggers.riffusion import (
    SongsCompletedTrigger,
    UploadCompletedTrigger,
    result_from_event,
)
from tests.support import TOKEN, connection_json, one_event, task_context, write_wav

MP3_HEAD = b"ID3\x04\x00\x00\x00\x00\x00\x00"


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "tone.wav")


def one_line(error: BaseException, *fragments: str) -> str:
    """The error's message: one line, no token, and every fragment (the cause and the fix) in it."""
    message = str(error)
    assert "\n" not in message, message
    assert TOKEN not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    return message


def refused_locally(
    emu: RiffusionEmulator, call: Callable[[], Any], error: type[exc.RiffusionError], *fragments: str
) -> str:
    """``call`` raises ``error`` (a fatal one: Airflow must not retry it) and sends nothing."""
    with pytest.raises(error) as raised:
        call()
    assert isinstance(raised.value, AirflowFailException), "bad input is not fixed by a retry"
    assert emu.requests == [], f"a request was sent: {emu.requests}"
    return one_line(raised.value, *fragments)


# -- the source file --------------------------------------------------------------------------


def test_empty_file(emu: RiffusionEmulator, tmp_path: Path) -> None:
    empty = tmp_path / "silence.wav"
    empty.touch()
    refused_locally(
        emu,
        lambda: RiffusionHook().upload_audio(empty),
        exc.RiffusionInputError,
        "is empty (0 bytes): pass a non-empty audio file",
    )


@pytest.mark.parametrize("suffix", [".ogg", ".flac", ".txt", ".mp4"])
def test_unsupported_extension(emu: RiffusionEmulator, tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"take{suffix}"
    source.write_bytes(MP3_HEAD + bytes(512))
    refused_locally(
        emu,
        lambda: RiffusionHook().upload_audio(source),
        exc.RiffusionInputError,
        f"has extension {suffix!r}: the API takes .mp3, .m4a or .wav",
    )


def test_extension_contradicts_content_type(emu: RiffusionEmulator, wav: Path) -> None:
    refused_locally(
        emu,
        lambda: RiffusionHook().upload_audio(wav, content_type="audio/mpeg"),
        exc.RiffusionInputError,
        "content_type 'audio/mpeg' contradicts the extension",
        "fix one of them",
    )


def test_content_type_the_api_does_not_take(emu: RiffusionEmulator, wav: Path) -> None:
    refused_locally(
        emu,
        lambda: RiffusionHook().upload_audio(wav, content_type="audio/ogg"),
        exc.RiffusionInputError,
        "'audio/ogg' is not one the API takes: use audio/mpeg (mp3), audio/mp4 (m4a) or audio/wav (wav)",
    )


# -- file_name ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        ("Take 1.mp3", "Take 1"),
        ("Take 1.WAV", "Take 1"),
        ("mix.m4a", "mix"),
        ("take.v2", "take.v2"),  # not an audio extension: a legitimate part of the name
        ("take.v2.wav", "take.v2"),
        ("notes.txt", "notes.txt"),
    ],
)
def test_audio_extension_is_stripped_from_file_name(
    emu: RiffusionEmulator, wav: Path, given: str, recorded: str
) -> None:
    """DESIGN.md: a trailing audio extension is removed; anything else is part of the name."""
    result = RiffusionHook().upload_audio(wav, file_name=given)

    assert result["file_name"] == recorded
    assert [record.file_name for record in emu.uploads] == [recorded]


def test_file_name_defaults_to_the_stem(emu: RiffusionEmulator, tmp_path: Path) -> None:
    source = write_wav(tmp_path / "Morning Take.v3.wav")

    UploadAudioOperator(task_id="up", source=str(source)).execute(task_context())

    assert [record.file_name for record in emu.uploads] == ["Morning Take.v3"]


def test_mp4_extension_is_stripped_from_file_name(emu: RiffusionEmulator, wav: Path) -> None:
    result = RiffusionHook().upload_audio(wav, file_name="clip.mp4")

    assert [record.file_name for record in emu.uploads] == ["clip"] == [result["file_name"]]


@pytest.mark.parametrize("given", [".wav", ".MP3"])
def test_file_name_that_is_only_an_extension(emu: RiffusionEmulator, wav: Path, given: str) -> None:
    refused_locally(
        emu, lambda: RiffusionHook().upload_audio(wav, file_name=given), exc.RiffusionInputError, "file_name"
    )


def test_file_name_that_is_not_a_string(emu: RiffusionEmulator, wav: Path) -> None:
    refused_locally(
        emu,
        lambda: RiffusionHook().upload_audio(wav, file_name=123),  # type: ignore[arg-type]
        exc.RiffusionInputError,
        "file_name must be a string",
    )


@pytest.mark.parametrize(
    "name",
    [
        "with  two spaces ",
        "Rock & Roll=yes",
        "#1 hit?",
        "100% + more",
        "Café déjà vu \u2013 音楽 \U0001f3b5",
        "a/b".replace("/", "\u2215"),  # a division slash looks like a separator but is a legal character
    ],
)
def test_file_name_with_special_characters_is_sent_exactly(emu: RiffusionEmulator, wav: Path, name: str) -> None:
    result = RiffusionHook().upload_audio(wav, file_name=name)

    expected = name.strip()
    assert result["file_name"] == expected
    [record] = emu.uploads
    assert record.file_name == expected
    [request] = emu.requests
    assert request["query"]["file_name"] == expected


# -- size ---------------------------------------------------------------------------------------


@pytest.fixture
def over_50_mb(tmp_path: Path) -> Path:
    path = tmp_path / "long set.mp3"
    with path.open("wb") as out:
        out.write(MP3_HEAD)
        out.truncate(51 * 1024 * 1024)  # sparse: cheap to create
    return path


def test_file_over_50_mb_warns_and_is_uploaded(
    emu: RiffusionEmulator, over_50_mb: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_riffusion.sources.kinds"):
        result = RiffusionHook().upload_audio(over_50_mb)

    warnings = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_riffusion.sources.kinds"]
    assert len(warnings) == 1 and "recommends uploads under 50 MB" in warnings[0]
    [record] = emu.uploads
    assert record.bytes == result["bytes"] == 51 * 1024 * 1024


def test_max_bytes_refuses_a_large_file(emu: RiffusionEmulator, over_50_mb: Path) -> None:
    limit = 50 * 1024 * 1024
    refused_locally(
        emu,
        lambda: UploadAudioOperator(task_id="up", source=str(over_50_mb), max_bytes=limit).execute(task_context()),
        exc.RiffusionInputError,
        f"is {51 * 1024 * 1024} bytes, over max_bytes={limit}: use a smaller file or raise max_bytes",
    )


# -- job ids that a template rendered to nothing ------------------------------------------------

RENDERED_NOTHING = ["", "   ", None, "None", "null"]


class NothingTI:
    """A task instance whose upstream pushed nothing: ``xcom_pull`` returns None."""

    def xcom_pull(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.mark.parametrize("job_id", RENDERED_NOTHING)
@pytest.mark.parametrize("call", ["get_upload_status", "get_songs"])
def test_empty_job_id_in_the_hook(emu: RiffusionEmulator, call: str, job_id: Any) -> None:
    refused_locally(
        emu,
        lambda: getattr(RiffusionHook(), call)(job_id),
        exc.RiffusionInputError,
        "job_id is empty",
        "template probably rendered to nothing",
        "upload.output['job_id']",
    )


def test_empty_job_id_from_a_rendered_template(emu: RiffusionEmulator) -> None:
    sensor = UploadCompletedSensor(task_id="wait", job_id="{{ ti.xcom_pull(task_ids='upload', key='job_id') }}")
    sensor.render_template_fields(task_context(NothingTI()))
    assert sensor.job_id == "None"

    refused_locally(emu, lambda: sensor.execute(task_context(NothingTI())), exc.RiffusionInputError, "job_id is empty")


@pytest.mark.parametrize("job_id", RENDERED_NOTHING)
def test_empty_job_id_in_the_triggers(emu: RiffusionEmulator, job_id: Any) -> None:
    """A trigger never sends ``?id=``: it ends with one error event naming the field."""
    for trigger, field in (
        (UploadCompletedTrigger(job_id=job_id, poll_interval=0.01, deadline=time.time() + 10), "job_id"),
        (SongsCompletedTrigger(job_ids=["job-1", job_id], poll_interval=0.01, deadline=time.time() + 10), "job_ids"),
    ):
        event = one_event(trigger)
        assert event["status"] == "error" and event["error_class"] == "RiffusionInputError", event
        with pytest.raises(exc.RiffusionInputError) as raised:
            result_from_event(event, expected="result")
        one_line(raised.value, f"{field} is empty")
    # Every id is checked before any poll, as the sensor checks them: the empty id is never sent.
    assert all(r["query"].get("id") not in ("", None, "None", "null") for r in emu.requests)


# -- compose -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"prompt_3_strength": 50}, ["prompt_3_* values are set but prompt_3 is not: add prompt_3"]),
        ({"lyrics_strength": "loud"}, ["lyrics_strength must be an integer from 0 to 100, got 'loud'"]),
        ({"reply_url": "https://x/" + "a" * 1024}, ["reply_url is 1034 characters; the API takes at most 1024"]),
    ],
)
def test_bad_compose_values(emu: RiffusionEmulator, kwargs: dict[str, Any], fragments: list[str]) -> None:
    """Refused through the hook before any request; every range and field: tests/services/test_riffusion_bodies.py."""
    refused_locally(emu, lambda: RiffusionHook().create_compose("lo-fi", **kwargs), exc.RiffusionInputError, *fragments)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_compose_operator_refuses_a_start_after_its_end_when_the_dag_is_parsed(emu: RiffusionEmulator, n: int) -> None:
    """The same one line as when the request is built (run time), but at parse: no run, no try, no request."""
    fields: dict[str, Any] = {
        **({} if n == 1 else {f"prompt_{n}": "drums"}),
        f"prompt_{n}_start": 80,
        f"prompt_{n}_end": 20,
    }
    with pytest.raises(exc.RiffusionInputError) as at_parse:
        CreateComposeOperator(task_id="compose", prompt_1="x", **fields)
    at_run = refused_locally(emu, lambda: RiffusionHook().create_compose("x", **fields), exc.RiffusionInputError)

    assert one_line(at_parse.value, f"prompt_{n}_start (80) is after prompt_{n}_end (20): swap them") == at_run


def test_compose_operator_compares_start_and_end_as_numbers() -> None:
    """Digit strings are read as the integers they spell: "9" is before "10"."""
    rendered: dict[str, Any] = {"prompt_1_start": "9", "prompt_1_end": "10"}
    operator = CreateComposeOperator(task_id="compose", prompt_1="x", **rendered)
    assert (operator.numbers["prompt_1_start"], operator.numbers["prompt_1_end"]) == (9, 10)
    assert CreateComposeOperator(task_id="same", prompt_1="x", prompt_1_start=40, prompt_1_end=40).numbers


# -- accounts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["upload", "status", "compose", "songs"])
def test_unknown_user_id_is_named_in_one_line(emu: RiffusionEmulator, wav: Path, call: str) -> None:
    hook = RiffusionHook()
    upload = hook.upload_audio(wav)
    job_ids = hook.create_compose("lo-fi")["job_ids"]
    calls: dict[str, Callable[[], Any]] = {
        "upload": lambda: hook.upload_audio(wav, user_id="nobody"),
        "status": lambda: hook.get_upload_status(upload["job_id"], user_id="nobody"),
        "compose": lambda: hook.create_compose("lo-fi", user_id="nobody"),
        "songs": lambda: hook.get_songs(job_ids[0], user_id="nobody"),
    }
    before = len(emu.requests)

    with pytest.raises(exc.RiffusionBadRequestError) as raised:
        calls[call]()

    assert raised.value.http_status == 400
    assert "Unknown user_id 'nobody'" in (raised.value.api_error or "")
    one_line(raised.value, "(HTTP 400): Unknown user_id 'nobody': configured accounts are user-1", "Fix the parameter")
    assert len(emu.requests) == before + 1, "a 400 is not retried"


def test_unknown_default_user_id_in_the_connection(
    emu: RiffusionEmulator, wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, user_id="ghost"))

    with pytest.raises(exc.RiffusionBadRequestError) as raised:
        UploadAudioOperator(task_id="up", source=str(wav)).execute(task_context())

    one_line(raised.value, "Unknown user_id 'ghost'")
    assert emu.uploads == []


# -- the connection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("127.0.0.1:8765/v1/riffusion", "use the form http(s)://host[:port]/path"),
        ("ftp://api.useapi.net/v1/riffusion", "use the form http(s)://host[:port]/path"),
        ("https://api.use api.net/v1", "use the form http(s)://host[:port]/path"),
        ("http://[::1/v1/riffusion", "use the form http(s)://host[:port]/path"),
        ("https://host:notaport/v1", "invalid port: use http(s)://host:port/path"),
        ("https://api.useapi.net/v1/riffusion?user_id=x", "give only scheme, host, port and path"),
    ],
)
def test_malformed_base_url(emu: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch, host: str, fragment: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(host))
    refused_locally(emu, lambda: RiffusionHook().get_songs("job-1"), exc.RiffusionConnectionConfigError, fragment)


def test_credentials_in_the_base_url_are_refused_without_echoing_them(
    emu: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(f"https://me:{TOKEN}@api.useapi.net/v1"))
    refused_locally(
        emu,
        lambda: RiffusionHook().get_songs("job-1"),
        exc.RiffusionConnectionConfigError,
        "has credentials in it",
        "password field",
    )


def test_connection_without_token(emu: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch, wav: Path) -> None:
    """The hook's door to the refusal (every empty token: tests/test_settings.py)."""
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", json.dumps({"conn_type": "riffusion", "host": emu.base_url}))
    refused_locally(
        emu,
        lambda: RiffusionHook().upload_audio(wav),
        exc.RiffusionConnectionConfigError,
        "has no API token: put the useapi.net token in its password field",
    )


@pytest.mark.parametrize(
    "host", ["http://riffusion.internal:8080/v1/riffusion", "http://10.1.2.3/riffusion", "http://api.useapi.net/v1"]
)
def test_plain_http_to_a_non_loopback_host(emu: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(host))
    refused_locally(
        emu,
        lambda: RiffusionHook().get_upload_status("job-1"),
        exc.RiffusionConnectionConfigError,
        "plain http to a non-loopback host",
        "use https, or set extra allow_insecure_http=true",
    )
    # The triggerer reads the connection through the same checks.
    event = one_event(UploadCompletedTrigger(job_id="job-1", poll_interval=0.01))
    with pytest.raises(exc.RiffusionConnectionConfigError):
        result_from_event(event, expected="result")

    # Allowed when the connection says so (settings only: no traffic leaves 127.0.0.1 in tests).
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(host, allow_insecure_http="true"))
    assert RiffusionHook().settings.base_url == host.rstrip("/")
    assert emu.requests == []


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"timeout": 0}, "timeout=0 must be more than 0 seconds"),
        ({"timeout": "soon"}, "timeout='soon' is not a number"),
        ({"timeout": "nan"}, "is not a finite number"),
        ({"max_attempts": 2.5}, "max_attempts=2.5 is not a whole number"),
        ({"retry_max_delay": -1}, "must not be negative"),
    ],
)
def test_bad_connection_numbers(
    emu: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], fragment: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, **extra))
    refused_locally(emu, lambda: RiffusionHook().get_songs("job-1"), exc.RiffusionConnectionConfigError, fragment)


# -- answers the provider cannot use -----------------------------------------------------------


def test_upload_answer_without_a_job_id(emu: RiffusionEmulator, wav: Path) -> None:
    emu.inject(Fault(method="POST", path="music/upload-audio", kind="status", status=200, body={"ok": True}))

    with pytest.raises(exc.RiffusionResponseError) as raised:
        RiffusionHook().upload_audio(wav)

    one_line(raised.value, "accepted the upload (HTTP 200) but returned no job id (fields: ['ok'])", "check the API")
    assert sum(1 for r in emu.requests if r["method"] == "POST") == 1, "an accepted upload is never repeated"


def test_compose_answer_without_a_job_id(emu: RiffusionEmulator) -> None:
    emu.inject(Fault(method="POST", path="music/create-compose", kind="status", status=200, body={"jobs": []}))

    with pytest.raises(exc.RiffusionResponseError) as raised:
        RiffusionHook().create_compose("lo-fi")

    one_line(raised.value, "accepted the compose request but returned no job id", "check the API revision")
    assert sum(1 for r in emu.requests if r["method"] == "POST") == 1
