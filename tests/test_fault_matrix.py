"""The fault matrix: every injected fault against every call, on the worker and on the deferrable path.

Rows are emulator faults (``Fault`` kinds: status, html, malformed, missing_field, hang, drop).
Columns are the four API calls, each through the paths a DAG can take:

- ``upload``: ``RiffusionHook.upload_audio`` (sync), and ``UploadAudioOperator(deferrable=True,
  wait_for_completion=True)`` (deferrable). Uploads are never made in a trigger, so the deferrable
  path still POSTs on the worker; the cell then runs the trigger the operator deferred to and
  ``execute_complete``, and checks that the trigger itself sent no POST.
- ``status``: ``RiffusionHook.get_upload_status`` (sync, one call), ``UploadCompletedSensor`` in poke
  mode (wait: the sensor's own loop), and ``UploadCompletedTrigger`` run with asyncio (deferrable).
- ``compose``: ``RiffusionHook.create_compose`` (sync), and ``CreateComposeOperator(deferrable=True,
  wait_for_completion=True)`` (deferrable: POST on the worker, then the songs trigger).
- ``songs``: ``RiffusionHook.get_songs`` (sync), ``CreateComposeOperator(wait_for_completion=True,
  deferrable=False)`` (wait, the fault hits its song polls), and ``SongsCompletedTrigger`` (deferrable).

Every cell ends as its row in ``ROWS`` says: success (after retries, where the fault is transient; an
upload then is recorded exactly once, with the source's sha256), or the named exception class
with a one-line message naming the cause; within a bounded time; with the number of requests
that reached the faulted endpoint where the retry policy fixes it. Connection extras make
retries fast (``tests.support.FAST_RETRIES``: 3 attempts) and hangs short (``timeout`` 0.5 s).

``AIRFLOW_HOME=$(mktemp -d) python -m tests.test_fault_matrix`` prints the README's fault table,
generated from ``ROWS`` (the same expectations the cells assert).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from tests.support import TOKEN, RecordingTI, connection_json, one_event, pushed, task_context, write_wav

UPLOAD, STATUS, COMPOSE, SONGS = "upload", "status", "compose", "songs"
SYNC, WAIT, DEFERRABLE = "sync", "wait", "deferrable"

TARGETS = {
    UPLOAD: ("POST", "music/upload-audio"),
    STATUS: ("GET", "music/upload-audio"),
    COMPOSE: ("POST", "music/create-compose"),
    SONGS: ("GET", "music"),
}
"""Where each call's fault is injected."""

COLUMNS: tuple[tuple[str, str], ...] = (
    (UPLOAD, SYNC),
    (UPLOAD, DEFERRABLE),
    (STATUS, SYNC),
    (STATUS, WAIT),
    (STATUS, DEFERRABLE),
    (COMPOSE, SYNC),
    (COMPOSE, DEFERRABLE),
    (SONGS, SYNC),
    (SONGS, WAIT),
    (SONGS, DEFERRABLE),
)

PATH_NAMES = {
    (UPLOAD, SYNC): "hook.upload_audio",
    (UPLOAD, DEFERRABLE): "UploadAudioOperator(deferrable=True)",
    (STATUS, SYNC): "hook.get_upload_status",
    (STATUS, WAIT): "UploadCompletedSensor (poke)",
    (STATUS, DEFERRABLE): "UploadCompletedTrigger",
    (COMPOSE, SYNC): "hook.create_compose",
    (COMPOSE, DEFERRABLE): "CreateComposeOperator(deferrable=True)",
    (SONGS, SYNC): "hook.get_songs",
    (SONGS, WAIT): "CreateComposeOperator wait (sync)",
    (SONGS, DEFERRABLE): "SongsCompletedTrigger",
}

CELL_SECONDS = 20.0
"""No cell may take longer than this (the slowest, hang and 'every request' rows, take about 1-2 s)."""

MAX_ATTEMPTS = 3  # FAST_RETRIES["max_attempts"]
BLIP_LIMIT = 3  # max_consecutive_errors default: the 4th failed poll in a row ends a wait
WAIT_GIVES_UP_AFTER = (BLIP_LIMIT + 1) * MAX_ATTEMPTS
"""Requests a wait makes against a fault that never clears: 4 polls of 3 attempts each."""


# -- expected outcomes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Ok:
    """The call succeeds (after retries, when ``requests`` > 1)."""

    requests: int | None = None
    """Requests that reached the faulted endpoint during the call, when the retry policy fixes it."""
    note: str = ""

    def cell(self) -> str:
        if self.note:
            return f"ok: {self.note}"
        if self.requests and self.requests > 1:
            return f"ok after {self.requests - 1} retr{'y' if self.requests == 2 else 'ies'}"
        return "ok"


@dataclass(frozen=True)
class Fails:
    """The call raises exactly ``error``, whose one-line message matches ``match``."""

    error: type[exc.RiffusionError]
    match: str
    requests: int | None = None

    def cell(self) -> str:
        where = ""
        if self.requests == 1:
            where = ", at once"
        elif self.requests:
            where = f" after {self.requests} requests"
        return f"`{self.error.__name__}`{where}"


Outcome = Ok | Fails


@dataclass(frozen=True)
class Row:
    id: str
    label: str
    fault: dict[str, Any]
    expect: dict[tuple[str, str], Outcome]
    extra: dict[str, Any] = field(default_factory=dict)
    """Connection extras on top of FAST_RETRIES, for this row only."""
    min_seconds: float = 0.0
    """A lower bound on each cell's duration (the Retry-After row proves the wait happened)."""


def row(
    id: str,
    label: str,
    fault: dict[str, Any],
    *,
    upload: Outcome,
    status: tuple[Outcome, Outcome, Outcome],
    compose: Outcome,
    songs: tuple[Outcome, Outcome, Outcome],
    **kwargs: Any,
) -> Row:
    """A row: POSTs behave the same on both paths (both run on the worker); reads give (sync, wait, deferrable)."""
    expect: dict[tuple[str, str], Outcome] = {(UPLOAD, SYNC): upload, (UPLOAD, DEFERRABLE): upload}
    expect.update({(COMPOSE, SYNC): compose, (COMPOSE, DEFERRABLE): compose})
    for call, outcomes in ((STATUS, status), (SONGS, songs)):
        expect.update(zip(((call, SYNC), (call, WAIT), (call, DEFERRABLE)), outcomes, strict=True))
    return Row(id, label, fault, expect, **kwargs)


def fatal(error: type[exc.RiffusionError], match: str) -> dict[str, Any]:
    """Every cell fails at once with ``error``: nothing retries a fatal answer, no wait rides it out."""
    once = Fails(error, match, 1)
    return {"upload": once, "status": (once,) * 3, "compose": once, "songs": (once,) * 3}


def never_clears(error: type[exc.RiffusionError], match: str, *, upload_requests: int) -> dict[str, Any]:
    """A fault on every request: the hook gives up after its attempts, a wait after its blip limit."""
    hook = Fails(error, match, MAX_ATTEMPTS)
    wait = Fails(error, match, WAIT_GIVES_UP_AFTER)
    return {
        "upload": Fails(error, match, upload_requests),
        "status": (hook, wait, wait),
        "compose": Fails(error, match, upload_requests),
        "songs": (hook, wait, wait),
    }


RETRIED = Ok(MAX_ATTEMPTS)
RIDDEN_OUT = Ok(note="rides out the blip")

ROWS: tuple[Row, ...] = (
    row(
        "500x2",
        "HTTP 500 (JSON error body), next 2 requests",
        {"kind": "status", "status": 500, "times": 2},
        upload=Fails(exc.RiffusionServerError, r"HTTP 500", 1),
        status=(RETRIED, Ok(), Ok()),
        compose=Fails(exc.RiffusionServerError, r"HTTP 500", 1),
        songs=(RETRIED, Ok(), Ok()),
    ),
    row(
        "503x2",
        "HTTP 503, next 2 requests",
        {"kind": "status", "status": 503, "times": 2},
        upload=RETRIED,
        status=(RETRIED, Ok(), Ok()),
        compose=Fails(exc.RiffusionServerError, r"HTTP 503", 1),
        songs=(RETRIED, Ok(), Ok()),
    ),
    row(
        "429x2-retry-after",
        "HTTP 429 with `Retry-After: 1`, next 2 requests (capped at `retry_max_delay` 0.25 s)",
        {"kind": "status", "status": 429, "times": 2, "headers": {"Retry-After": "1"}},
        upload=RETRIED,
        status=(RETRIED, Ok(), Ok()),
        compose=RETRIED,
        songs=(RETRIED, Ok(), Ok()),
        extra={"retry_max_delay": 0.25},
        min_seconds=0.45,  # two waits of Retry-After capped at 0.25 s; the jittered backoff would be <= 0.1 s
    ),
    row(
        "html502x2",
        "HTML 502 page from a proxy, next 2 requests",
        {"kind": "html", "status": 502, "times": 2},
        upload=Fails(exc.RiffusionServerError, r"HTTP 502\): 502 Bad Gateway", 1),
        status=(RETRIED, Ok(), Ok()),
        compose=Fails(exc.RiffusionServerError, r"HTTP 502\): 502 Bad Gateway", 1),
        songs=(RETRIED, Ok(), Ok()),
    ),
    row(
        "500x3",
        "HTTP 500, next 3 requests (outlasts the hook's 3 attempts once)",
        {"kind": "status", "status": 500, "times": 3},
        upload=Fails(exc.RiffusionServerError, r"HTTP 500", 1),
        status=(Fails(exc.RiffusionServerError, r"HTTP 500\) after 3 attempts", 3), RIDDEN_OUT, RIDDEN_OUT),
        compose=Fails(exc.RiffusionServerError, r"HTTP 500", 1),
        songs=(Fails(exc.RiffusionServerError, r"HTTP 500\) after 3 attempts", 3), RIDDEN_OUT, RIDDEN_OUT),
    ),
    row(
        "500-always",
        "HTTP 500 on every request",
        {"kind": "status", "status": 500, "times": 1000},
        **never_clears(exc.RiffusionServerError, r"HTTP 500", upload_requests=1),
    ),
    row(
        "429-always",
        "HTTP 429 on every request (slots stay busy)",
        {"kind": "status", "status": 429, "times": 1000},
        **never_clears(exc.RiffusionRateLimitError, r"HTTP 429\) after 3 attempts", upload_requests=MAX_ATTEMPTS),
    ),
    row(
        "400",
        "HTTP 400 naming a parameter",
        {"kind": "status", "status": 400, "body": {"error": "Parameter bogus is invalid", "code": 400}},
        **fatal(exc.RiffusionBadRequestError, r"HTTP 400\): Parameter bogus is invalid\. Fix the parameter"),
    ),
    row(
        "401",
        "HTTP 401 (token refused)",
        {"kind": "status", "status": 401},
        **fatal(exc.RiffusionAuthError, r"HTTP 401\)\. Put a valid useapi\.net API token"),
    ),
    row(
        "596",
        "HTTP 596 (account has a pending error)",
        {"kind": "status", "status": 596},
        **fatal(exc.RiffusionAccountError, r"HTTP 596\).*Re-register the account with POST accounts"),
    ),
    row(
        "malformed",
        "200 with malformed JSON, next request",
        {"kind": "malformed"},
        upload=Fails(exc.RiffusionUnconfirmedError, r"HTTP 200 but the body is not JSON", 1),
        status=(Fails(exc.RiffusionResponseError, r"body is not JSON", 1), RIDDEN_OUT, RIDDEN_OUT),
        compose=Fails(exc.RiffusionUnconfirmedError, r"HTTP 200 but the body is not JSON", 1),
        songs=(Fails(exc.RiffusionResponseError, r"body is not JSON", 1), RIDDEN_OUT, RIDDEN_OUT),
    ),
    row(
        "missing-field",
        "200 `{}` (the expected field missing), next request",
        {"kind": "missing_field"},
        upload=Fails(exc.RiffusionUnconfirmedError, r"accepted the upload \(HTTP 200\) but returned no job id", 1),
        status=(Ok(1, note="no status counts as pending"), Ok(), Ok()),
        compose=Fails(exc.RiffusionUnconfirmedError, r"accepted the compose request but returned no job id", 1),
        songs=(Fails(exc.RiffusionResponseError, r"with dict, expected a list", 1), RIDDEN_OUT, RIDDEN_OUT),
    ),
    row(
        "hang",
        "hang (no answer), next request; request `timeout` 0.5 s",
        {"kind": "hang", "seconds": 3.0},
        upload=Ok(2, note="resent whole (the body never fully left)"),
        status=(Ok(2), Ok(), Ok()),
        compose=Fails(
            exc.RiffusionUnconfirmedError, r"did not answer the compose request within 0\.5 s.*Songs may have been", 1
        ),
        songs=(Ok(2), Ok(), Ok()),
        extra={"timeout": 0.5},
    ),
    row(
        "drop",
        "connection dropped mid-body, next request",
        {"kind": "drop"},
        upload=Ok(2, note="resent whole"),
        status=(Ok(2), Ok(), Ok()),
        compose=Fails(
            exc.RiffusionUnconfirmedError, r"Lost the connection to .* during the compose request.*Songs may have", 1
        ),
        songs=(Ok(2), Ok(), Ok()),
    ),
)

ROWS_BY_ID = {r.id: r for r in ROWS}


# -- running a cell --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 12 MiB 'mp3': bigger than loopback socket buffers, so hang and drop catch it mid-body."""
    path = tmp_path_factory.mktemp("matrix") / "matrix take.mp3"
    block = hashlib.sha256(b"matrix").digest() * (1 << 15)  # 1 MiB of varied bytes
    with path.open("wb") as out:
        out.write(b"ID3\x04\x00\x00\x00\x00\x00\x00")
        for _ in range(12):
            out.write(block)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def small_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("matrix-small") / "tone.wav")


class Cell:
    """One call through one path against an emulator that has the row's fault queued."""

    def __init__(self, emu: RiffusionEmulator, big: tuple[Path, str], small: Path) -> None:
        self.emu = emu
        self.big, self.big_sha = big
        self.small = small
        self.context = task_context(RecordingTI())
        self.since = 0
        """How many requests the emulator had seen when the fault was queued."""
        self.started = 0.0

    def run(self, call: str, path: str, fault: Fault) -> Any:
        from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

        hook = RiffusionHook()
        prepared: dict[str, Any] = {}
        # Set-up calls are made before the fault is queued, so they never meet it.
        if call == STATUS:
            prepared["job_id"] = hook.upload_audio(self.small)["job_id"]
        if call == SONGS and path != WAIT:
            prepared["job_ids"] = hook.create_compose("ambient drones", title="Matrix")["job_ids"]
        self.since, self.started = len(self.emu.requests), time.monotonic()
        self.emu.inject(fault)
        return getattr(self, f"{call}_{path}")(hook, **prepared)

    # upload
    def upload_sync(self, hook: Any) -> Any:
        return hook.upload_audio(self.big)

    def upload_deferrable(self, hook: Any) -> Any:
        from airflow.providers.common.compat.sdk import TaskDeferred

        from airflow_provider_riffusion.operators.riffusion import UploadAudioOperator
        from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger

        operator = UploadAudioOperator(
            task_id="upload", source=str(self.big), wait_for_completion=True, deferrable=True, poll_interval=0.01
        )
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(self.context)
        assert isinstance(deferred.value.trigger, UploadCompletedTrigger)
        assert pushed(self.context)["job_id"] == (deferred.value.kwargs or {})["upload"]["job_id"]
        return self.resume(operator, deferred.value)

    # status
    def status_sync(self, hook: Any, job_id: str) -> Any:
        result = hook.get_upload_status(job_id)
        assert result["job_id"] == job_id
        return result

    def status_wait(self, hook: Any, job_id: str) -> Any:
        from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor

        sensor = UploadCompletedSensor(
            task_id="wait", job_id=job_id, mode="poke", deferrable=False, poke_interval=0.01, timeout=CELL_SECONDS
        )
        result = sensor.execute(self.context)
        assert result["status"] == "complete"
        return result

    def status_deferrable(self, hook: Any, job_id: str) -> Any:
        from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger, result_from_event

        trigger = UploadCompletedTrigger(job_id=job_id, poll_interval=0.01, deadline=time.time() + CELL_SECONDS)
        result = result_from_event(one_event(trigger, CELL_SECONDS), expected="result")
        assert result["status"] == "complete"
        return result

    # compose
    def compose_sync(self, hook: Any) -> Any:
        return hook.create_compose("ambient drones", title="Matrix")

    def compose_deferrable(self, hook: Any) -> Any:
        from airflow.providers.common.compat.sdk import TaskDeferred

        from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator
        from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger

        operator = CreateComposeOperator(
            task_id="compose",
            prompt_1="ambient drones",
            title="Matrix",
            wait_for_completion=True,
            deferrable=True,
            poll_interval=0.01,
        )
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(self.context)
        assert isinstance(deferred.value.trigger, SongsCompletedTrigger)
        result = self.resume(operator, deferred.value)
        assert result["songs"] and {song["status"] for song in result["songs"]} == {"completed"}
        return result

    # songs
    def songs_sync(self, hook: Any, job_ids: list[str]) -> Any:
        return hook.get_songs(job_ids[0])

    def songs_wait(self, hook: Any) -> Any:
        from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator

        operator = CreateComposeOperator(
            task_id="compose", prompt_1="ambient drones", wait_for_completion=True, deferrable=False, poll_interval=0.01
        )
        result = operator.execute(self.context)
        assert {song["status"] for song in result["songs"]} == {"completed"}
        return result

    def songs_deferrable(self, hook: Any, job_ids: list[str]) -> Any:
        from airflow_provider_riffusion.triggers.riffusion import SongsCompletedTrigger, result_from_event

        trigger = SongsCompletedTrigger(job_ids=job_ids, poll_interval=0.01, deadline=time.time() + CELL_SECONDS)
        songs = result_from_event(one_event(trigger, CELL_SECONDS), expected="songs")
        assert {song["status"] for song in songs} == {"completed"}
        return songs

    # the deferral's second half
    def resume(self, operator: Any, deferred: Any) -> Any:
        """Run the trigger the operator deferred to, then ``execute_complete``; the trigger must not POST."""
        posts = self.count("POST")
        event = one_event(deferred.trigger, CELL_SECONDS)
        assert self.count("POST") == posts, "a trigger sent a POST: uploads and composes belong on the worker"
        return getattr(operator, deferred.method_name)(self.context, event=event, **(deferred.kwargs or {}))

    def count(self, method: str) -> int:
        return sum(1 for r in self.emu.requests if r["method"] == method)


def requests_to(emu: RiffusionEmulator, since: int, target: tuple[str, str]) -> int:
    method, path = target
    prefix = "/v1/riffusion"
    return sum(
        1 for r in emu.requests[since:] if r["method"] == method and r["path"].removeprefix(prefix).strip("/") == path
    )


def cell_params() -> Iterator[Any]:
    for matrix_row in ROWS:
        for call, path in COLUMNS:
            yield pytest.param(matrix_row.id, call, path, id=f"{matrix_row.id}-{call}-{path}")


@pytest.mark.parametrize(("row_id", "call", "path"), list(cell_params()))
def test_cell(
    row_id: str,
    call: str,
    path: str,
    big_source: tuple[Path, str],
    small_source: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    matrix_row = ROWS_BY_ID[row_id]
    expected = matrix_row.expect[(call, path)]
    method, fault_path = TARGETS[call]
    fault = Fault(method=method, path=fault_path, **matrix_row.fault)

    with RiffusionEmulator(token=TOKEN, pending_polls=1, song_polls=1) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, **matrix_row.extra))
        cell = Cell(emu, big_source, small_source)
        error: BaseException | None = None
        result: Any = None
        try:
            result = cell.run(call, path, fault)
        except exc.RiffusionError as raised:
            error = raised
        elapsed = time.monotonic() - cell.started
        reached = requests_to(emu, cell.since, TARGETS[call])
        uploads = emu.uploads

    assert elapsed < CELL_SECONDS, f"took {elapsed:.1f} s"
    assert elapsed >= matrix_row.min_seconds, f"took only {elapsed:.2f} s: Retry-After was not honoured"
    if isinstance(expected, Ok):
        assert error is None, f"expected success, got {type(error).__name__}: {error}"
        assert result is not None
        if call == UPLOAD:
            [record] = uploads  # exactly one upload landed, whatever was retried
            assert record.sha256 == cell.big_sha == result["sha256"]
            assert record.bytes == cell.big.stat().st_size
            assert record.file_name == "matrix take"
    else:
        assert error is not None, f"expected {expected.error.__name__}, got success: {result!r:.200}"
        message = str(error)
        assert type(error) is expected.error, f"{type(error).__name__}: {message}"
        assert re.search(expected.match, message), message
        assert "\n" not in message and "<" not in message
        assert TOKEN not in message
        if call == UPLOAD:
            assert uploads == [], "a failed upload cell must not have landed"
    if expected.requests is not None:
        assert reached == expected.requests, f"{reached} requests reached {TARGETS[call]}, expected {expected.requests}"


# -- the table and the summary ---------------------------------------------------------------


def test_every_cell_has_an_expectation() -> None:
    for matrix_row in ROWS:
        assert set(matrix_row.expect) == set(COLUMNS), matrix_row.id
        fault = Fault(method="GET", path="music", **matrix_row.fault)  # a row the emulator accepts
        assert fault.kind == matrix_row.fault.get("kind", "status"), matrix_row.id
    table = markdown_table().splitlines()
    assert all(any(line.startswith(f"| {r.label} |") for line in table) for r in ROWS)


def test_the_readme_fault_table_is_the_matrix_s_own() -> None:
    """README.md shows exactly the table these cells assert (regenerate: ``python -m tests.test_fault_matrix``)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert markdown_table() in readme


# -- beside the matrix: the upload's other half of the hang/drop rows, and a known gap ----------


@pytest.mark.parametrize("kind", ["hang", "drop"])
def test_upload_whose_body_fully_left_is_not_repeated(
    kind: str, small_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small body is sent whole before the server stalls or cuts: it may have landed, so neither the
    hook nor Airflow's task retries may repeat it (the fatal "unconfirmed", not a network error)."""
    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

    with RiffusionEmulator(token=TOKEN) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, timeout=0.5))
        emu.inject(Fault(method="POST", path="music/upload-audio", kind=kind, seconds=3.0))

        with pytest.raises(exc.RiffusionUnconfirmedError) as raised:
            RiffusionHook().upload_audio(small_source)
        posts = requests_to(emu, 0, TARGETS[UPLOAD])

    assert posts == 1
    assert isinstance(raised.value, AirflowFailException)  # Airflow's task retries do not re-upload
    message = str(raised.value)
    assert "did not answer the upload" in message if kind == "hang" else "Lost the connection" in message
    assert "The track may have been stored" in message
    assert "\n" not in message


def test_upload_operator_first_status_poll_rides_out_a_blip(
    small_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sync: a bad first answer is a blip; the wait goes on to the upload's completion, with one upload."""
    from airflow_provider_riffusion.operators.riffusion import UploadAudioOperator

    with RiffusionEmulator(token=TOKEN, pending_polls=1) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url))
        emu.inject(Fault(method="GET", path="music/upload-audio", kind="malformed"))
        operator = UploadAudioOperator(
            task_id="upload", source=str(small_source), wait_for_completion=True, deferrable=False, poll_interval=0.01
        )
        result = operator.execute(task_context(RecordingTI()))
        uploads = emu.uploads

    assert len(uploads) == 1
    assert result["status"] == "complete" and result["job_id"] == uploads[0].job_id


def test_deferrable_upload_operator_defers_past_a_blip_on_its_first_check(
    small_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deferrable: a bad answer to the check before deferring defers the wait, never fails the task (whose
    retry would upload again); the trigger then finishes it."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_riffusion.operators.riffusion import UploadAudioOperator

    with RiffusionEmulator(token=TOKEN, pending_polls=0) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url))
        emu.inject(Fault(method="GET", path="music/upload-audio", kind="malformed"))
        operator = UploadAudioOperator(
            task_id="upload", source=str(small_source), wait_for_completion=True, deferrable=True, poll_interval=0.01
        )
        context = task_context(RecordingTI())
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(context)
        event = one_event(deferred.value.trigger, CELL_SECONDS)
        result = operator.execute_complete(context, event=event, **(deferred.value.kwargs or {}))
        uploads = emu.uploads

    assert len(uploads) == 1
    assert result["status"] == "complete" and result["job_id"] == uploads[0].job_id


# -- the same faults on Flow Music's endpoints -----------------------------------------------------
#
# Each row's fault (and its connection extras, and its least time) against every endpoint a Flow Music
# connection (extra ``service: flowmusic``) calls: ``POST files``, ``POST music``, ``GET jobs/{jobid}`` (sync,
# ``SongsCompletedSensor`` in poke mode, ``SongsCompletedTrigger``), ``GET jobs`` (free slots), ``GET
# music/download`` (mp3, with the token), ``POST music/lyrics``, and a clip's public ``wav_url`` (without it).
# Its own table (not the README's, which is Riffusion's): ``python -m tests.test_fault_matrix --flowmusic``.

FILES, MUSIC, JOB, JOBS, MP3, LYRICS, WAV = "files", "music", "job", "jobs", "mp3", "lyrics", "wav"
FLOW_TARGETS = {
    FILES: ("POST", "files"),
    MUSIC: ("POST", "music"),
    JOB: ("GET", "jobs/{job_id}"),
    JOBS: ("GET", "jobs"),
    MP3: ("GET", "music/download"),
    LYRICS: ("POST", "music/lyrics"),
    WAV: ("GET", "_public/flowmusic/{clip}.wav"),
}
"""Where each Flow Music call's fault is injected (``{job_id}``, ``{clip}``: what the cell's setup made)."""
FLOW_COLUMNS: tuple[tuple[str, str], ...] = (
    (FILES, SYNC),
    (FILES, DEFERRABLE),
    (MUSIC, SYNC),
    (MUSIC, DEFERRABLE),
    (JOB, SYNC),
    (JOB, WAIT),
    (JOB, DEFERRABLE),
    (JOBS, SYNC),
    (MP3, SYNC),
    (LYRICS, SYNC),
    (WAV, SYNC),
)
FLOW_PATH_NAMES = {
    (FILES, SYNC): "hook.upload_audio",
    (FILES, DEFERRABLE): "UploadAudioOperator(deferrable=True, wait_for_completion=True): ready at once",
    (MUSIC, SYNC): "hook.create_compose",
    (MUSIC, DEFERRABLE): "CreateComposeOperator(deferrable=True)",
    (JOB, SYNC): "hook.get_songs",
    (JOB, WAIT): "SongsCompletedSensor (poke)",
    (JOB, DEFERRABLE): "SongsCompletedTrigger",
    (JOBS, SYNC): "hook.free_slots",
    (MP3, SYNC): "hook.download_song(mp3)",
    (LYRICS, SYNC): "hook.generate_lyrics",
    (WAV, SYNC): "hook.download_song(wav, url=wav_url)",
}
FLOW_READS = (JOBS, MP3, WAV)
"""The one-path reads besides the songs: retried as every GET is."""


def flow_row(
    id: str,
    *,
    files: Outcome,
    music: Outcome,
    job: tuple[Outcome, Outcome, Outcome],
    reads: Outcome,
    lyrics: Outcome,
    jobs: Outcome | None = None,
) -> dict[tuple[str, str], Outcome]:
    """A Flow Music row: POSTs alike on both paths (both on the worker); the reads besides the songs alike,
    unless ``jobs`` (``GET jobs``) differs."""
    expect: dict[tuple[str, str], Outcome] = {(FILES, SYNC): files, (FILES, DEFERRABLE): files}
    expect.update({(MUSIC, SYNC): music, (MUSIC, DEFERRABLE): music, (LYRICS, SYNC): lyrics})
    expect.update(zip(((JOB, SYNC), (JOB, WAIT), (JOB, DEFERRABLE)), job, strict=True))
    expect.update({(read, SYNC): reads for read in FLOW_READS})
    if jobs is not None:
        expect[(JOBS, SYNC)] = jobs
    assert set(expect) == set(FLOW_COLUMNS), id
    return expect


def flow_fatal(error: type[exc.RiffusionError], match: str) -> dict[str, Any]:
    once = Fails(error, match, 1)
    return {"files": once, "music": once, "job": (once,) * 3, "reads": once, "lyrics": once}


FLOW_EXPECT: dict[str, dict[tuple[str, str], Outcome]] = {
    "500x2": flow_row(
        "500x2",
        files=Fails(exc.RiffusionServerError, r"The Flow Music API failed on the upload .* \(HTTP 500\)", 1),
        music=Fails(exc.RiffusionServerError, r"failed on the compose request \(HTTP 500\)", 1),
        job=(RETRIED, Ok(), Ok()),
        reads=RETRIED,
        lyrics=Fails(exc.RiffusionServerError, r"failed on the lyrics request \(HTTP 500\)", 1),
    ),
    "503x2": flow_row(
        "503x2",
        files=RETRIED,
        music=Fails(exc.RiffusionServerError, r"HTTP 503", 1),
        job=(RETRIED, Ok(), Ok()),
        reads=RETRIED,
        lyrics=Fails(exc.RiffusionServerError, r"HTTP 503", 1),
    ),
    "429x2-retry-after": flow_row(
        "429x2-retry-after", files=RETRIED, music=RETRIED, job=(RETRIED, Ok(), Ok()), reads=RETRIED, lyrics=RETRIED
    ),
    "html502x2": flow_row(
        "html502x2",
        files=Fails(exc.RiffusionServerError, r"HTTP 502\): 502 Bad Gateway", 1),
        music=Fails(exc.RiffusionServerError, r"HTTP 502\): 502 Bad Gateway", 1),
        job=(RETRIED, Ok(), Ok()),
        reads=RETRIED,
        lyrics=Fails(exc.RiffusionServerError, r"HTTP 502\): 502 Bad Gateway", 1),
    ),
    "500x3": flow_row(
        "500x3",
        files=Fails(exc.RiffusionServerError, r"HTTP 500", 1),
        music=Fails(exc.RiffusionServerError, r"HTTP 500", 1),
        job=(Fails(exc.RiffusionServerError, r"HTTP 500\) after 3 attempts", 3), RIDDEN_OUT, RIDDEN_OUT),
        reads=Fails(exc.RiffusionServerError, r"HTTP 500\) after 3 attempts", 3),
        lyrics=Fails(exc.RiffusionServerError, r"HTTP 500", 1),
    ),
    "500-always": flow_row(
        "500-always",
        files=Fails(exc.RiffusionServerError, r"HTTP 500", 1),
        music=Fails(exc.RiffusionServerError, r"HTTP 500", 1),
        job=(
            Fails(exc.RiffusionServerError, r"HTTP 500", MAX_ATTEMPTS),
            Fails(exc.RiffusionServerError, r"HTTP 500", WAIT_GIVES_UP_AFTER),
            Fails(exc.RiffusionServerError, r"HTTP 500", WAIT_GIVES_UP_AFTER),
        ),
        reads=Fails(exc.RiffusionServerError, r"HTTP 500\) after 3 attempts", MAX_ATTEMPTS),
        lyrics=Fails(exc.RiffusionServerError, r"HTTP 500", 1),
    ),
    "429-always": flow_row(
        "429-always",
        **{
            name: Fails(exc.RiffusionRateLimitError, r"Flow Music .*HTTP 429\) after 3 attempts", MAX_ATTEMPTS)
            for name in ("files", "music", "reads", "lyrics")
        },
        job=(
            Fails(exc.RiffusionRateLimitError, r"HTTP 429\) after 3 attempts", MAX_ATTEMPTS),
            Fails(exc.RiffusionRateLimitError, r"HTTP 429\) after 3 attempts", WAIT_GIVES_UP_AFTER),
            Fails(exc.RiffusionRateLimitError, r"HTTP 429\) after 3 attempts", WAIT_GIVES_UP_AFTER),
        ),
    ),
    "400": flow_row(
        "400", **flow_fatal(exc.RiffusionBadRequestError, r"HTTP 400\): Parameter bogus is invalid\. Fix the parameter")
    ),
    "401": flow_row(
        "401",
        **flow_fatal(exc.RiffusionAuthError, r"The Flow Music API refused the token .*\(HTTP 401\)\. Put a valid"),
    ),
    "596": flow_row(
        "596", **flow_fatal(exc.RiffusionAccountError, r"Flow Music account is in an error state \(HTTP 596\).*Re-add")
    ),
    "malformed": flow_row(
        "malformed",
        files=Fails(exc.RiffusionUnconfirmedError, r"HTTP 200 but the body is not JSON.*The track may have been", 1),
        music=Fails(exc.RiffusionUnconfirmedError, r"HTTP 200 but the body is not JSON.*Songs may have been", 1),
        job=(Fails(exc.RiffusionResponseError, r"body is not JSON", 1), RIDDEN_OUT, RIDDEN_OUT),
        reads=Fails(exc.RiffusionResponseError, r"(HTTP 200 but the body is not JSON|but not with .* audio)", 1),
        lyrics=Fails(exc.RiffusionResponseError, r"answered the lyrics request with HTTP 200 but the body is not", 1),
    ),
    "missing-field": flow_row(
        "missing-field",
        files=Fails(exc.RiffusionUnconfirmedError, r"accepted the upload \(HTTP 200\) but returned no asset id", 1),
        music=Fails(exc.RiffusionUnconfirmedError, r"accepted the compose request but returned no jobid", 1),
        job=(Ok(1, note="no status counts as pending"), Ok(), Ok()),
        reads=Fails(exc.RiffusionResponseError, r"not with .* audio", 1),
        jobs=Ok(1, note="{} is the documented answer when nothing runs: every slot is free"),
        lyrics=Fails(exc.RiffusionResponseError, r"answered the lyrics request without lyrics", 1),
    ),
    "hang": flow_row(
        "hang",
        files=Ok(2, note="resent whole (the body never fully left)"),
        music=Fails(
            exc.RiffusionUnconfirmedError, r"did not answer the compose request within 0\.5 s.*Songs may have been", 1
        ),
        job=(Ok(2), Ok(), Ok()),
        reads=Ok(2),
        lyrics=Ok(2, note="asked again (lyrics cost nothing)"),
    ),
    "drop": flow_row(
        "drop",
        files=Ok(2, note="resent whole"),
        music=Fails(
            exc.RiffusionUnconfirmedError, r"Lost the connection to .* during the compose request.*Songs may have", 1
        ),
        job=(Ok(2), Ok(), Ok()),
        reads=Ok(2),
        lyrics=Ok(2, note="asked again (lyrics cost nothing)"),
    ),
}
"""Each Riffusion row's fault, as it ends on Flow Music's endpoints."""


class FlowCell(Cell):
    """One Flow Music call through one path, with the row's fault queued once the call's setup is made."""

    def run(self, call: str, path: str, fault: Fault) -> Any:
        from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

        hook = RiffusionHook()
        made: dict[str, Any] = {}
        if call == JOB:
            made["job_ids"] = hook.create_compose("ambient drones")["job_ids"]
        if call in (MP3, WAV):
            made["song"] = self.completed_song(hook)
        ids = {"job_id": made.get("job_ids", [""])[0], "clip": made["song"]["id"] if "song" in made else ""}
        self.since, self.started = len(self.emu.requests), time.monotonic()
        self.emu.inject(Fault(**{**fault.to_dict(), "path": fault.path.format_map(ids), "service": "flowmusic"}))
        return getattr(self, f"flow_{call}_{path}")(hook, **made)

    @staticmethod
    def completed_song(hook: Any) -> dict[str, Any]:
        [job_id] = hook.create_compose("ambient drones")["job_ids"]
        deadline = time.monotonic() + CELL_SECONDS
        while not (songs := hook.get_songs(job_id)):  # pending for the emulator's one poll
            assert time.monotonic() < deadline, "the job never completed"
        return songs[0]

    def flow_files_sync(self, hook: Any) -> Any:
        return hook.upload_audio(self.big)

    def flow_files_deferrable(self, hook: Any) -> Any:
        from airflow_provider_riffusion.operators.riffusion import UploadAudioOperator

        operator = UploadAudioOperator(
            task_id="upload", source=str(self.big), wait_for_completion=True, deferrable=True, poll_interval=0.01
        )
        result = operator.execute(self.context)  # ready when it answered: never deferred
        assert result["status"] == "complete"
        return result

    def flow_music_sync(self, hook: Any) -> Any:
        return hook.create_compose("ambient drones")

    def flow_music_deferrable(self, hook: Any) -> Any:
        from airflow.providers.common.compat.sdk import TaskDeferred

        from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator

        operator = CreateComposeOperator(
            task_id="compose", prompt_1="ambient drones", wait_for_completion=True, deferrable=True, poll_interval=0.01
        )
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(self.context)
        result = self.resume(operator, deferred.value)
        assert len(result["songs"]) == 2 and {song["status"] for song in result["songs"]} == {"completed"}
        return result

    def flow_job_sync(self, hook: Any, job_ids: list[str]) -> Any:
        return hook.get_songs(job_ids[0])

    def flow_job_wait(self, hook: Any, job_ids: list[str]) -> Any:
        from airflow_provider_riffusion.sensors.riffusion import SongsCompletedSensor

        sensor = SongsCompletedSensor(
            task_id="wait", job_ids=job_ids, mode="poke", deferrable=False, poke_interval=0.01, timeout=CELL_SECONDS
        )
        result = sensor.execute(self.context)
        assert {song["status"] for song in result["songs"]} == {"completed"}
        return result

    def flow_job_deferrable(self, hook: Any, job_ids: list[str]) -> Any:
        return self.songs_deferrable(hook, job_ids)

    def flow_jobs_sync(self, hook: Any) -> Any:
        return hook.free_slots()

    def flow_mp3_sync(self, hook: Any, song: dict[str, Any]) -> Any:
        return self.stored(hook.download_song(song["id"], self.folder, "mp3", title=song["title"]))

    def flow_lyrics_sync(self, hook: Any) -> Any:
        return hook.generate_lyrics("rain on the window", structure="verse, chorus")

    def flow_wav_sync(self, hook: Any, song: dict[str, Any]) -> Any:
        result = hook.download_song(song["id"], self.folder, "wav", title=song["title"], url=song["wav_url"])
        return self.stored(result)

    @property
    def folder(self) -> Path:
        return self.small.parent / "songs"

    def stored(self, result: dict[str, Any]) -> dict[str, Any]:
        """A download's output, checked against the file it names."""
        data = Path(result["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == result["sha256"] and len(data) == result["bytes"]
        return result


def flow_requests_to(emu: RiffusionEmulator, since: int, target: tuple[str, str]) -> int:
    """Requests to the target's endpoint (any id in its path) since ``since``."""
    method, path = target
    head = path.split("{", 1)[0]
    reached = 0
    for r in emu.requests[since:]:
        relative = r["path"].removeprefix("/v1/flowmusic").strip("/")
        if r["method"] == method and (
            relative == path or ("{" in path and relative.startswith(head) and relative != head.rstrip("/"))
        ):
            reached += 1
    return reached


def flow_cell_params() -> Iterator[Any]:
    for matrix_row in ROWS:
        for call, path in FLOW_COLUMNS:
            yield pytest.param(matrix_row.id, call, path, id=f"flowmusic-{matrix_row.id}-{call}-{path}")


@pytest.mark.parametrize(("row_id", "call", "path"), list(flow_cell_params()))
def test_flow_music_cell(
    row_id: str,
    call: str,
    path: str,
    big_source: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    matrix_row = ROWS_BY_ID[row_id]
    expected = FLOW_EXPECT[row_id][(call, path)]
    method, fault_path = FLOW_TARGETS[call]
    fault = Fault(method=method, path=fault_path, **matrix_row.fault)

    with RiffusionEmulator(token=TOKEN, service="flowmusic", song_polls=1) as emu:
        extra = {"service": "flowmusic", **matrix_row.extra}
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, **extra))
        cell = FlowCell(emu, big_source, write_wav(tmp_path / "tone.wav"))
        error: BaseException | None = None
        result: Any = None
        try:
            result = cell.run(call, path, fault)
        except exc.RiffusionError as raised:
            error = raised
        elapsed = time.monotonic() - cell.started
        reached = flow_requests_to(emu, cell.since, FLOW_TARGETS[call])
        uploads = emu.uploads
        public = [d for d in emu.downloads if d["format"] == "wav"]

    assert elapsed < CELL_SECONDS, f"took {elapsed:.1f} s"
    assert elapsed >= matrix_row.min_seconds, f"took only {elapsed:.2f} s: Retry-After was not honoured"
    assert not any(d["authorization"] for d in public), "the token went to a public wav_url"
    stored = sorted(p.name for p in cell.folder.glob("*")) if cell.folder.exists() else []
    if isinstance(expected, Ok):
        assert error is None, f"expected success, got {type(error).__name__}: {error}"
        assert result is not None
        if call == FILES:
            [record] = uploads  # exactly one upload landed, whatever was retried
            assert record.sha256 == cell.big_sha == result["sha256"] and record.service == "flowmusic"
            assert record.bytes == cell.big.stat().st_size
        if call in (MP3, WAV):
            assert [Path(result["path"]).name] == [name for name in stored if not name.startswith(".")]
    else:
        assert error is not None, f"expected {expected.error.__name__}, got success: {result!r:.200}"
        message = str(error)
        assert type(error) is expected.error, f"{type(error).__name__}: {message}"
        assert re.search(expected.match, message), message
        assert "\n" not in message and "<" not in message
        assert TOKEN not in message
        if call == FILES:
            assert uploads == [], "a failed upload cell must not have landed"
        if call in (MP3, WAV):
            assert stored == [], f"a refused song left files behind: {stored}"
    if expected.requests is not None:
        assert reached == expected.requests, (
            f"{reached} requests reached {FLOW_TARGETS[call]}, expected {expected.requests}"
        )


def test_every_flow_music_cell_has_an_expectation() -> None:
    assert set(FLOW_EXPECT) == set(ROWS_BY_ID)
    for expect in FLOW_EXPECT.values():
        assert set(expect) == set(FLOW_COLUMNS)


def flow_markdown_table() -> str:
    """The Flow Music matrix as a table: one row per fault, one column per endpoint and path."""
    lines = [
        "| fault | " + " | ".join(FLOW_PATH_NAMES[column] for column in FLOW_COLUMNS) + " |",
        "|" + "---|" * (len(FLOW_COLUMNS) + 1),
    ]
    for matrix_row in ROWS:
        cells = [
            cell_text(Row(matrix_row.id, matrix_row.label, matrix_row.fault, FLOW_EXPECT[matrix_row.id]), *column)
            for column in FLOW_COLUMNS
        ]
        lines.append("| " + " | ".join([matrix_row.label, *cells]) + " |")
    return "\n".join(lines)


README_COLUMNS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("upload: sync and deferrable (POST on the worker)", ((UPLOAD, SYNC), (UPLOAD, DEFERRABLE))),
    ("status: hook (sync)", ((STATUS, SYNC),)),
    ("status: sensor poke (sync wait) / trigger (deferrable)", ((STATUS, WAIT), (STATUS, DEFERRABLE))),
    ("compose: sync and deferrable (POST on the worker)", ((COMPOSE, SYNC), (COMPOSE, DEFERRABLE))),
    ("songs: hook (sync)", ((SONGS, SYNC),)),
    ("songs: compose operator wait (sync) / trigger (deferrable)", ((SONGS, WAIT), (SONGS, DEFERRABLE))),
)
"""The README's columns: paths whose outcome is the same share one cell."""


def cell_text(matrix_row: Row, call: str, path: str) -> str:
    outcome = matrix_row.expect[(call, path)]
    if isinstance(outcome, Fails) and outcome.requests == WAIT_GIVES_UP_AFTER:
        text = f"`{outcome.error.__name__}` after {BLIP_LIMIT + 1} failed polls ({outcome.requests} requests)"
    else:
        text = outcome.cell()
    return text


def markdown_table() -> str:
    """The README's fault table, generated from ``ROWS``: one row per fault."""
    lines = [
        "| fault | " + " | ".join(title for title, _ in README_COLUMNS) + " |",
        "|" + "---|" * (len(README_COLUMNS) + 1),
    ]
    for matrix_row in ROWS:
        cells = []
        for _, paths in README_COLUMNS:
            texts = [cell_text(matrix_row, call, path) for call, path in paths]
            cells.append(texts[0] if len(set(texts)) == 1 else " / ".join(texts))
        lines.append("| " + " | ".join([matrix_row.label, *cells]) + " |")
    lines += [
        "",
        f"Retries here: {MAX_ATTEMPTS} attempts per call; a wait tolerates {BLIP_LIMIT} failed polls in a row "
        "(`max_consecutive_errors`). An upload that ends ok was recorded exactly once, with the source's sha256.",
    ]
    return "\n".join(lines)


class _MatrixSummary:
    """Counts the matrix's cells as they finish and prints 'cells passed / total' at the end."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not any(f"test_fault_matrix.py::{name}[" in report.nodeid for name in ("test_cell", "test_flow_music_cell")):
            return
        if report.when == "call" or report.outcome != "passed":
            outcome: str = report.outcome
            if hasattr(report, "wasxfail"):
                outcome = "xfailed" if report.skipped else "failed"
            self.outcomes.setdefault(report.nodeid, outcome)
            if outcome != "passed":
                self.outcomes[report.nodeid] = outcome

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.outcomes:
            return
        values = list(self.outcomes.values())
        passed = values.count("passed")
        terminalreporter.write_sep("-", "fault matrix")
        terminalreporter.write_line(
            f"fault matrix: {passed}/{len(values)} cells passed, {values.count('xfailed')} known gaps "
            f"(xfail), {values.count('failed')} failed, {values.count('skipped')} skipped"
        )
        for nodeid, outcome in sorted(self.outcomes.items()):
            if outcome not in ("passed", "xfailed"):
                terminalreporter.write_line(f"  {outcome}: {nodeid.split('::', 1)[1]}")


@pytest.fixture(scope="module", autouse=True)
def _matrix_summary(request: pytest.FixtureRequest) -> None:
    manager = request.config.pluginmanager
    if not manager.has_plugin("riffusion-fault-matrix-summary"):
        manager.register(_MatrixSummary(), "riffusion-fault-matrix-summary")


if __name__ == "__main__":  # AIRFLOW_HOME=$(mktemp -d) python -m tests.test_fault_matrix [--flowmusic]
    import sys

    print(flow_markdown_table() if "--flowmusic" in sys.argv else markdown_table())
