"""The token never leaves the connection: not in logs, XComs, rendered fields, trigger rows or exceptions.

Two real Airflow runs (``airflow dags test``, SQLite, a throwaway AIRFLOW_HOME), with the emulators
in this process: the example DAG to success, and ``tests/dags/riffusion_secret_failures.py``, whose
independent tasks end in 401, 596, 429 exhausted (the error body echoes the token), an upload whose
status is ``failed`` (waited for in the triggerer) and a moderated compose (422). After each run,
every file under AIRFLOW_HOME (the SQLite database included, byte for byte), the command's output
(Airflow 3 prints task logs there), every XCom, every rendered template field, every trigger row
and every exception text is searched for the token: zero hits.

Airflow's secrets masker would hide a token that reached a log line, so the in-process tests at
the end check what the masker does not see: the exceptions' texts and attributes, and the
triggers' events (stored in the metadata database), for the same failure kinds.
(``repr()`` of the hook, its session and settings: tests/hooks/test_riffusion.py.)
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionAsyncHook, RiffusionHook
from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.testing.dag_run import DagTestRun, run_dag_test
from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger, UploadCompletedTrigger
from tests.support import TOKEN, connection_json, one_event, task_context, without_airflows_mask_requests, write_wav

REPO = Path(__file__).resolve().parent.parent
WRONG_TOKEN = "tok-WRONG-31c4b7e0aa"
"""The 401 task's token: a secret too, though the API refuses it."""
SECRETS = (TOKEN, WRONG_TOKEN)


FAILURE_TASKS = {
    "auth_401": "RiffusionAuthError",
    "account_596": "RiffusionAccountError",
    "busy_429": "RiffusionRateLimitError",
    "upload_failed": "RiffusionUploadFailedError",
    "moderated_422": "RiffusionModerationError",
}

ECHOING_429 = Fault(
    method="POST",
    path="music/create-compose",
    kind="status",
    status=429,
    body={"error": f"All slots busy for Bearer {TOKEN}", "code": 429},
    headers={"Retry-After": "1"},
    times=1000,
)
"""A server (or a proxy) that echoes the token in its error text: the provider must scrub it."""


def scanned_texts(run: DagTestRun) -> dict[str, str]:
    """Everything a run left that a person or another system could read, by where it came from."""
    texts = {"airflow dags test output": without_airflows_mask_requests(run.output)}
    for path in sorted(run.airflow_home.rglob("*")):
        if path.is_file():  # logs, airflow.cfg, and the SQLite database byte for byte
            texts[f"file {path.relative_to(run.airflow_home)}"] = path.read_bytes().decode("utf-8", "replace")
    for task_id, key, value in run.xcoms():
        texts[f"XCom {task_id}.{key}"] = json.dumps(value)
    for task_id, rendered in run.query(
        "SELECT task_id, rendered_fields FROM rendered_task_instance_fields WHERE dag_id = ?", run.dag_id
    ):
        texts[f"rendered fields of {task_id}"] = str(rendered)
    for classpath, kwargs in run.query("SELECT classpath, kwargs FROM trigger"):
        texts[f"trigger row {classpath}"] = str(kwargs)
    return texts


def assert_no_secret(run: DagTestRun) -> dict[str, str]:
    texts = scanned_texts(run)
    hits = [f"{secret[:8]}... in {where}" for where, text in texts.items() for secret in SECRETS if secret in text]
    assert hits == [], hits
    # Never log request headers, masked or not.
    log = texts["airflow dags test output"]
    assert "Authorization" not in log and "Bearer" not in log.replace("Bearer ***", "")
    assert any(where.startswith("rendered fields of") for where in texts), "no rendered fields were scanned"
    assert any(where.startswith("XCom ") for where in texts), "no XComs were scanned"
    return texts


def exception_texts(log: str) -> dict[str, list[str]]:
    """The provider's exceptions as Airflow printed them: class name -> messages."""
    found: dict[str, list[str]] = {}
    for name, message in re.findall(r"airflow_provider_riffusion\.exceptions\.(\w+): (.*)", log):
        found.setdefault(name, []).append(message)
    # Airflow 3.0 prints tracebacks with rich: the bare class name, the message wrapped up to a blank line.
    for name, message in re.findall(r"^(Riffusion\w+): (.*?)\n\n", log, flags=re.MULTILINE | re.DOTALL):
        found.setdefault(name, []).append(" ".join(message.split()))
    return found


@pytest.mark.airflow_cli
def test_example_dag_success_leaks_no_token(tmp_path: Path) -> None:
    with RiffusionEmulator(token=TOKEN, pending_polls=2, song_polls=2) as emu:
        run = run_dag_test(
            "riffusion_upload_compose",
            REPO / "example_dags",
            airflow_home=tmp_path / "airflow",
            env={
                "AIRFLOW_CONN_RIFFUSION_DEFAULT": connection_json(emu.base_url),
                "RIFFUSION_EXAMPLE_POLL_SECONDS": "0.2",
                "RIFFUSION_EXAMPLE_SONGS": str(tmp_path / "songs"),
            },
        )
        uploads = emu.uploads

    assert run.succeeded, run.output[-4000:]
    assert len(uploads) == 1
    texts = assert_no_secret(run)
    assert {"XCom upload_track.return_value", "XCom compose.return_value"} <= set(texts)


@pytest.fixture
def failure_emulators() -> Iterator[dict[str, RiffusionEmulator]]:
    """One emulator per failure that needs its own server, so no task depends on another's order."""
    with ExitStack() as stack:
        emulators = {
            name: stack.enter_context(RiffusionEmulator(token=TOKEN, pending_polls=1, song_polls=1))
            for name in ("main", "account_error", "busy", "failing_uploads")
        }
        emulators["account_error"].account_error = True
        emulators["busy"].inject(ECHOING_429)
        emulators["failing_uploads"].upload_final_status = "failed"
        yield emulators


@pytest.mark.airflow_cli
def test_every_failure_kind_leaks_no_token(tmp_path: Path, failure_emulators: dict[str, RiffusionEmulator]) -> None:
    emus = failure_emulators
    run = run_dag_test(
        "riffusion_secret_failures",
        Path(__file__).parent / "dags",
        airflow_home=tmp_path / "airflow",
        env={
            "AIRFLOW_CONN_RIFFUSION_DEFAULT": connection_json(emus["main"].base_url),
            "AIRFLOW_CONN_RIFFUSION_WRONG_TOKEN": connection_json(emus["main"].base_url, token=WRONG_TOKEN),
            "AIRFLOW_CONN_RIFFUSION_ACCOUNT_ERROR": connection_json(emus["account_error"].base_url),
            "AIRFLOW_CONN_RIFFUSION_BUSY": connection_json(emus["busy"].base_url),
            "AIRFLOW_CONN_RIFFUSION_FAILING_UPLOADS": connection_json(emus["failing_uploads"].base_url),
            "RIFFUSION_TEST_AUDIO": str(write_wav(tmp_path / "secret.wav")),
        },
    )

    states = run.task_states()
    assert states == {"upload_ok": "success", **dict.fromkeys(FAILURE_TASKS, "failed")}, run.output[-4000:]
    texts = assert_no_secret(run)

    raised = exception_texts(texts["airflow dags test output"])
    assert set(FAILURE_TASKS.values()) <= set(raised), sorted(raised)
    for messages in raised.values():
        for message in messages:
            assert not any(secret in message for secret in SECRETS)
    # The echoed token was scrubbed, not dropped with the rest of the API's text.
    assert any("All slots busy for Bearer ***" in message for message in raised["RiffusionRateLimitError"])
    assert sum(1 for r in emus["busy"].requests if r["method"] == "POST") == 3, "429 should be retried, then give up"
    # The failed upload was waited for in the triggerer (Airflow 3 keeps its row, and it was scanned).
    status_polls = [r for r in emus["failing_uploads"].requests if r["method"] == "GET"]
    assert len(status_polls) >= 2, "upload_failed should have polled once on the worker, then in the trigger"


# -- what the masker does not see: exception objects and trigger events ----------------------------


def error_surface(error: BaseException) -> str:
    """Everything of an exception that code, logs or the metadata database might show."""
    return " | ".join([str(error), repr(error), repr(error.args), repr(getattr(error, "api_error", None))])


@pytest.fixture
def echoing(monkeypatch: pytest.MonkeyPatch) -> Iterator[RiffusionEmulator]:
    """An emulator whose every error answer echoes the token, with ``riffusion_default`` pointing at it."""
    with RiffusionEmulator(token=TOKEN, pending_polls=0, song_polls=0) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url))
        yield emu


def echo(status: int, method: str, path: str) -> Fault:
    return Fault(
        method=method,
        path=path,
        kind="status",
        status=status,
        body={"error": f"refused Authorization: Bearer {TOKEN}", "code": status},
        times=100,
    )


@pytest.mark.parametrize(
    ("status", "method", "path", "error_class"),
    [
        (401, "GET", "music/upload-audio", exc.RiffusionAuthError),
        (596, "POST", "music/create-compose", exc.RiffusionAccountError),
        (429, "POST", "music/create-compose", exc.RiffusionRateLimitError),
        (422, "POST", "music/create-compose", exc.RiffusionModerationError),
        (400, "GET", "music", exc.RiffusionBadRequestError),
        (502, "GET", "music", exc.RiffusionServerError),
    ],
)
def test_exceptions_never_carry_the_token(
    echoing: RiffusionEmulator, status: int, method: str, path: str, error_class: type[exc.RiffusionError]
) -> None:
    echoing.inject(echo(status, method, path))
    hook = RiffusionHook()
    call = {
        "music/upload-audio": lambda: hook.get_upload_status("job-1"),
        "music/create-compose": lambda: hook.create_compose("lo-fi"),
        "music": lambda: hook.get_songs("job-1"),
    }[path]

    with pytest.raises(error_class) as raised:
        call()

    assert TOKEN not in error_surface(raised.value)
    assert "***" in (raised.value.api_error or ""), "the API's text is kept, scrubbed"
    if status != 401:  # the 401 message does not repeat the API's text ("Unauthorized")
        assert "***" in str(raised.value)


def traceback_with_locals(error: BaseException) -> str:
    """The exception as a console that shows every frame's locals prints it (Airflow 3.0's console logs)."""
    from rich.console import Console
    from rich.traceback import Traceback

    console = Console(file=io.StringIO(), width=400, color_system=None)
    console.print(Traceback.from_exception(type(error), error, error.__traceback__, show_locals=True))
    return console.file.getvalue()  # type: ignore[attr-defined]


ECHOED_IN_2XX = Fault(
    method="GET", path="music", kind="status", status=200, body=f"<html>signed in as Bearer {TOKEN}</html>", times=100
)
"""A 2xx that is not JSON (a login page echoing the token): its body is in the frames that refuse it."""


@pytest.mark.parametrize(
    "fault", [echo(429, "GET", "music"), echo(400, "GET", "music"), ECHOED_IN_2XX], ids=["429", "400", "2xx"]
)
def test_a_traceback_showing_every_frames_locals_carries_no_token(echoing: RiffusionEmulator, fault: Fault) -> None:
    echoing.inject(fault)  # the test's own frame holds the fault: each path catches its error in a frame of its own

    def sync() -> str:
        try:
            RiffusionHook().get_songs("job-1")
        except exc.RiffusionError as error:
            return traceback_with_locals(error)
        raise AssertionError("the sync path did not fail")

    async def deferred() -> str:
        async with RiffusionAsyncHook() as hook:
            try:
                await hook.get_songs("job-1")
            except exc.RiffusionError as error:
                return traceback_with_locals(error)
        raise AssertionError("the deferred path did not fail")

    for text in (sync(), asyncio.run(deferred())):
        assert "body = b'" in text, "the frames' locals were not shown"
        assert TOKEN not in text and TOKEN[:12] not in text


def test_upload_status_failed_exception_carries_no_token(echoing: RiffusionEmulator, tmp_path: Path) -> None:
    echoing.upload_final_status = "failed"
    upload = RiffusionHook().upload_audio(write_wav(tmp_path / "t.wav"))

    with pytest.raises(exc.RiffusionUploadFailedError) as raised:
        UploadCompletedSensor(task_id="wait", job_id=upload["job_id"]).poke(task_context())

    assert TOKEN not in error_surface(raised.value)


@pytest.mark.parametrize("status", [401, 596, 429, 400, 503])
def test_trigger_events_never_carry_the_token(echoing: RiffusionEmulator, status: int) -> None:
    """Events are stored in the metadata database and shown in the UI: no token, even when echoed."""
    echoing.inject(echo(status, "GET", "music/upload-audio"))
    echoing.inject(echo(status, "GET", "music"))

    for trigger in (
        UploadCompletedTrigger(job_id="job-1", poll_interval=0.01, deadline=time.time() + 20),
        SongsCompletedTrigger(job_ids=["job-1"], poll_interval=0.01, deadline=time.time() + 20),
    ):
        event = one_event(trigger)
        assert event["status"] == "error", event
        assert TOKEN not in json.dumps(event)
        assert status == 401 or "***" in event["message"]
        assert TOKEN not in json.dumps(trigger.serialize())


def test_upload_failed_trigger_event_carries_no_token(echoing: RiffusionEmulator, tmp_path: Path) -> None:
    echoing.upload_final_status = "failed"
    upload = RiffusionHook().upload_audio(write_wav(tmp_path / "t.wav"))

    event = one_event(UploadCompletedTrigger(job_id=upload["job_id"], poll_interval=0.01))

    assert event["status"] == "failed"
    assert TOKEN not in json.dumps(event)
