"""What the provider keeps in the task state store carries a format version; a value it cannot read under its
key fails the task in one line that names the key, the task and how to clear it, and nothing is submitted.

In-process, with a stand-in store, against the emulator; ``tests/operators/test_durable.py`` does the same through
the real store in ``airflow dags test`` runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators._base import fingerprint
from airflow_provider_riffusion.operators.riffusion import (
    CreateComposeOperator,
    CreatePromptOperator,
    UploadAudioOperator,
)
from airflow_provider_riffusion.sensors.riffusion import ERRORS_KEY, UploadCompletedSensor
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_3_PLUS
from tests.support import TOKEN, RecordingTI, connection_json
from tests.task_state import MemoryStore, context_with_store

NEEDS_STATE_STORE = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="operators read the task state store from Airflow 3.3 (ResumableJobMixin)"
)


class NamedTI(RecordingTI):
    """A task instance that knows where it is, as Airflow's does: the message builds the REST path from it."""

    dag_id = "music"
    run_id = "manual__2025-01-01T00:00:00+00:00"

    def __init__(self, map_index: int = -1) -> None:
        super().__init__()
        self.map_index = map_index


def posts(emu: RiffusionEmulator, path: str) -> int:
    return sum(1 for r in emu.requests if r["method"] == "POST" and path in r["path"])


def refused(run: Any, key: str, task_id: str, *fragments: str) -> str:
    """``run()`` fails with the fatal RiffusionStateError in one line naming the key, the task and the fixes."""
    with pytest.raises(exc.RiffusionStateError) as raised:
        run()
    message = str(raised.value)
    assert isinstance(raised.value, AirflowFailException)
    assert "\n" not in message
    assert f"Task {task_id} of DAG" in message and f"under {key!r}" in message
    assert "Task State Store tab" in message and f"/taskInstances/{task_id}/state-store/{key}" in message
    for fragment in fragments:
        assert fragment in message, message
    return message


VALID_UPLOAD = {
    "job_id": "a:b",
    "audio_upload_id": "a",
    "file_name": "t",
    "bytes": 4,
    "sha256": "00",
    "is_flagged": False,
    "content_type": "audio/wav",
}
UNREADABLE_UPLOADS = [
    ("not a job", "it is a string, not an object"),
    (7, "it is a number, not an object"),
    ([], "it is an array, not an object"),
    ({}, "its 'upload' is missing, not an object"),
    ({"upload": "a:b", "user_id": None}, "its 'upload' is a string, not an object"),
    ({"upload": {**VALID_UPLOAD, "job_id": ""}, "user_id": None}, "its 'upload.job_id' is an empty string, not an id"),
    ({"upload": {**VALID_UPLOAD, "bytes": "4"}, "user_id": None}, "its 'upload.bytes' is a string, not a count"),
    ({"upload": VALID_UPLOAD}, "its 'user_id' is missing, not a string or null"),
    ({"version": 2, "upload": VALID_UPLOAD, "user_id": None}, "format version 2, written by a newer release"),
    ({"version": "1", "upload": VALID_UPLOAD, "user_id": None}, "its format version is a string, not a number"),
    ({"version": 0, "upload": VALID_UPLOAD, "user_id": None}, "format version 0, which no release"),
]


@NEEDS_STATE_STORE
@pytest.mark.parametrize(("stored", "problem"), UNREADABLE_UPLOADS)
def test_an_unreadable_stored_upload_fails_without_uploading(
    connection: RiffusionEmulator, wav_file: Path, stored: Any, problem: str
) -> None:
    store = MemoryStore(riffusion_upload=stored)
    operator = UploadAudioOperator(task_id="upload", source=wav_file, wait_for_completion=True, poll_interval=0.01)

    refused(
        lambda: operator.execute(context_with_store(RecordingTI(), store)),
        "riffusion_upload",
        "upload",
        problem,
        "set durable=False",
    )
    assert posts(connection, "upload-audio") == 0
    assert store.writes == 0  # left as it was, for the user to look at


@NEEDS_STATE_STORE
@pytest.mark.parametrize(
    ("operator", "key"),
    [
        (
            lambda: CreateComposeOperator(task_id="songs", prompt_1="lo-fi", wait_for_completion=True),
            "riffusion_compose",
        ),
        (lambda: CreatePromptOperator(task_id="songs", prompt="lo-fi", wait_for_completion=True), "riffusion_prompt"),
    ],
)
@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("job-1", "it is a string, not an object"),
        ({}, "its 'jobs' is missing, not an object"),
        ({"jobs": {"job_ids": []}, "request": "r"}, "its 'jobs.job_ids' is an array, not a list of ids"),
        ({"jobs": {"job_ids": ["j"]}, "request": None}, "its 'request' is null, not a string"),
        ({"version": 9, "jobs": {"job_ids": ["j"]}, "request": "r"}, "format version 9, written by a newer release"),
    ],
)
def test_unreadable_stored_song_jobs_fail_without_composing(
    connection: RiffusionEmulator, operator: Any, key: str, stored: Any, problem: str
) -> None:
    store = MemoryStore(**{key: stored})

    refused(lambda: operator().execute(context_with_store(RecordingTI(), store)), key, "songs", problem)
    assert posts(connection, "create-compose") + posts(connection, "create-prompt") == 0


@NEEDS_STATE_STORE
def test_what_is_stored_carries_its_format_version(connection: RiffusionEmulator, wav_file: Path) -> None:
    store = MemoryStore()
    UploadAudioOperator(task_id="upload", source=wav_file).execute(context_with_store(RecordingTI(), store))
    CreateComposeOperator(task_id="compose", prompt_1="funk").execute(context_with_store(RecordingTI(), store))

    upload, compose = store.get("riffusion_upload"), store.get("riffusion_compose")
    assert upload["version"] == 1 and upload["upload"]["job_id"] == connection.uploads[0].job_id
    assert compose["version"] == 1 and len(compose["jobs"]["job_ids"]) == 2


@NEEDS_STATE_STORE
def test_song_jobs_stored_by_release_0_2_0_are_reattached(connection: RiffusionEmulator) -> None:
    """0.2.0 stored the same fields without a version: read as version 1, not composed again."""
    operator = CreateComposeOperator(task_id="compose", prompt_1="funk", wait_for_completion=True, poll_interval=0.01)
    jobs = RiffusionHook().create_compose("funk")
    legacy = {"jobs": jobs, "request": fingerprint(operator.request_fields()), "try_number": 1}
    context = context_with_store(RecordingTI(try_number=2), MemoryStore(riffusion_compose=legacy))

    result = operator.execute(context)

    assert posts(connection, "create-compose") == 1  # the hook's, above
    assert result["job_ids"] == jobs["job_ids"] and {song["status"] for song in result["songs"]} == {"completed"}


@NEEDS_STATE_STORE
def test_durable_false_leaves_the_store_unread(connection: RiffusionEmulator, wav_file: Path) -> None:
    """The way around a value the task cannot read, besides deleting it: every try submits anew."""
    store = MemoryStore(riffusion_upload="not a job")
    operator = UploadAudioOperator(task_id="upload", source=wav_file, durable=False)

    assert operator.execute(context_with_store(RecordingTI(), store))["job_id"] == connection.uploads[0].job_id
    assert store.get("riffusion_upload") == "not a job"


@NEEDS_STATE_STORE
@pytest.mark.parametrize(("map_index", "query"), [(-1, ""), (2, "?map_index=2")])
def test_the_message_gives_the_rest_path_of_the_task_instance(
    connection: RiffusionEmulator, wav_file: Path, map_index: int, query: str
) -> None:
    operator = UploadAudioOperator(task_id="upload", source=wav_file)
    context = context_with_store(NamedTI(map_index), MemoryStore(riffusion_upload="x"))

    message = refused(lambda: operator.execute(context), "riffusion_upload", "upload")
    path = "/api/v2/dags/music/dagRuns/manual__2025-01-01T00%3A00%3A00%2B00%3A00/taskInstances/upload"
    assert f"DELETE {path}/state-store/riffusion_upload{query})" in message
    assert "Task upload of DAG music " in message


# -- the sensor's poll state (reschedule mode) ---------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("3", "it is a string, not an object"),
        ({"errors": 1}, "its 'try_number' is missing, not a count"),
        ({"try_number": 1, "errors": -1}, "its 'errors' is a number, not a count"),
        ({"version": 2, "try_number": 1, "errors": 0}, "its 'statuses' is missing, not an object"),
        ({"version": 3, "try_number": 1, "errors": 0, "statuses": {}}, "format version 3, written by a newer release"),
    ],
)
def test_an_unreadable_poll_state_fails_the_rescheduled_sensor(
    connection: RiffusionEmulator, stored: Any, problem: str
) -> None:
    sensor = UploadCompletedSensor(task_id="wait", job_id="a:b", mode="reschedule")
    context = context_with_store(RecordingTI(), MemoryStore(**{ERRORS_KEY: stored}))

    refused(lambda: sensor.poke(context), ERRORS_KEY, "wait", problem, "use mode='poke'")
    assert connection.requests == []


def test_a_poll_state_stored_by_release_0_2_0_carries_its_count(connection: RiffusionEmulator, wav_file: Path) -> None:
    """0.2.0 kept ``{"try_number", "errors"}``: read as version 1, the count goes on from where it was."""
    job_id = RiffusionHook().upload_audio(wav_file)["job_id"]
    store = MemoryStore(**{ERRORS_KEY: {"try_number": 1, "errors": 1}})
    connection.inject(Fault(method="GET", path="music/upload-audio", kind="status", status=502, times=3))
    limit: dict[str, Any] = {"max_consecutive_errors": 1} if AIRFLOW_V_3_3_PLUS else {}
    sensor = UploadCompletedSensor(task_id="wait", job_id=job_id, mode="reschedule", **limit)

    with pytest.raises(exc.RiffusionServerError):  # the 2nd failed poll in a row: over the limit of 1
        sensor.poke(context_with_store(RecordingTI(), store))
    assert store.get(ERRORS_KEY) == {"version": 2, "try_number": 1, "errors": 2, "statuses": {}}


# -- reattaching, on both services: Riffusion and Flow Music (connection extra ``service``) --------------

SERVICES = ("riffusion", "flowmusic")
CREATES = {
    ("riffusion", "upload"): "music/upload-audio",
    ("riffusion", "compose"): "music/create-compose",
    ("flowmusic", "upload"): "files",
    ("flowmusic", "compose"): "music",
}
"""What each service's upload and compose POST to."""


@pytest.fixture(params=SERVICES)
def served(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[RiffusionEmulator]:
    """The emulator answering at once, with ``riffusion_default`` on the service the parameter names."""
    service = request.param
    with RiffusionEmulator(token=TOKEN, service=service, pending_polls=0, song_polls=0) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emu.base_url, service=service))
        yield emu


def paid(emu: RiffusionEmulator, kind: str) -> int:
    """Uploads or composes the service took (answered 2xx)."""
    path = f"/v1/{emu.service}/{CREATES[(emu.service, kind)]}"
    return sum(
        1 for r in emu.requests if r["method"] == "POST" and r["path"].rstrip("/") == path and 200 <= r["status"] < 300
    )


class TryDied(RuntimeError):
    """A try that ends after its job was made and stored (a worker lost mid-wait, in-process)."""


def first_try_dies(operator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``operator``, whose run ends right after ResumableJobMixin stored its job (before the wait and output)."""

    def died(external_id: Any, context: Any) -> None:
        raise TryDied("the worker was lost")

    monkeypatch.setattr(operator, "poll_until_complete", died)
    return operator


def submitter(kind: str, source: Path, durable: bool = True, **more: Any) -> Any:
    if kind == "upload":
        return UploadAudioOperator(task_id="upload", source=source, wait_for_completion=True, durable=durable, **more)
    return CreateComposeOperator(
        task_id="compose", prompt_1="funk", wait_for_completion=True, poll_interval=0.01, durable=durable, **more
    )


@NEEDS_STATE_STORE
@pytest.mark.parametrize("kind", ["upload", "compose"])
@pytest.mark.parametrize(("durable", "payments"), [(True, 1), (False, 2)], ids=["durable", "not-durable"])
def test_a_try_that_died_after_submitting_is_reattached_not_paid_again(
    served: RiffusionEmulator,
    wav_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    durable: bool,
    payments: int,
) -> None:
    store = MemoryStore()
    with pytest.raises(TryDied):
        first_try_dies(submitter(kind, wav_file, durable), monkeypatch).execute(
            context_with_store(RecordingTI(try_number=1), store)
        )
    stored = store.get(UploadAudioOperator.external_id_key if kind == "upload" else "riffusion_compose")
    assert (stored is not None) is durable

    result = submitter(kind, wav_file, durable).execute(context_with_store(RecordingTI(try_number=2), store))

    assert paid(served, kind) == payments
    if kind == "upload":
        assert result["status"] == "complete" and result["job_id"] == served.uploads[-1].job_id
        assert not durable or result["job_id"] == stored["upload"]["job_id"]
    else:
        assert {song["status"] for song in result["songs"]} == {"completed"}
        assert not durable or result["job_ids"] == stored["jobs"]["job_ids"]


@NEEDS_STATE_STORE
def test_a_compose_whose_wait_timed_out_is_retried_on_the_same_job(served: RiffusionEmulator) -> None:
    """The wait's timeout is retryable when the retry reattaches: try 2 waits for try 1's job, which ends then."""
    store = MemoryStore()
    served.song_polls = 10**6
    with pytest.raises(exc.RiffusionWaitTimeoutError, match="A retry of the task waits for the same job again"):
        submitter("compose", Path("unused"), timeout=0.3).execute(context_with_store(RecordingTI(), store))
    served.song_polls = 0  # the job ends on its next poll

    result = submitter("compose", Path("unused")).execute(context_with_store(RecordingTI(try_number=2), store))

    assert paid(served, "compose") == 1
    assert result["job_ids"] == store.get("riffusion_compose")["jobs"]["job_ids"]
    assert {song["status"] for song in result["songs"]} == {"completed"}


@NEEDS_STATE_STORE
@pytest.mark.parametrize("kind", ["upload", "compose"])
def test_a_retry_whose_input_changed_pays_again(served: RiffusionEmulator, wav_file: Path, kind: str) -> None:
    store = MemoryStore()
    first = submitter(kind, wav_file, lyrics="take one") if kind == "compose" else submitter(kind, wav_file)
    first.execute(context_with_store(RecordingTI(), store))
    if kind == "upload":
        wav_file.write_bytes(wav_file.read_bytes() + b"\x00\x01" * 512)  # the same name, a longer take
        retry = submitter(kind, wav_file)
    else:
        retry = submitter(kind, wav_file, lyrics="take two")

    retry.execute(context_with_store(RecordingTI(try_number=2), store))

    assert paid(served, kind) == 2


@NEEDS_STATE_STORE
@pytest.mark.parametrize(
    ("kind", "stored", "problem"),
    [
        (
            "upload",
            {"upload": {**VALID_UPLOAD, "job_id": 7}, "user_id": None},
            "'upload.job_id' is a number, not an id",
        ),
        ("upload", {"version": 2, "upload": VALID_UPLOAD, "user_id": None}, "format version 2, written by a newer"),
        ("compose", {"jobs": {"job_ids": [7]}, "request": "r"}, "'jobs.job_ids' is an array, not a list of ids"),
        ("compose", {}, "its 'jobs' is missing, not an object"),
    ],
)
def test_an_unreadable_stored_job_fails_without_paying_on_either_service(
    served: RiffusionEmulator, wav_file: Path, kind: str, stored: Any, problem: str
) -> None:
    key = "riffusion_upload" if kind == "upload" else "riffusion_compose"
    store = MemoryStore(**{key: stored})

    refused(lambda: submitter(kind, wav_file).execute(context_with_store(RecordingTI(), store)), key, kind, problem)
    assert served.requests == [] and store.writes == 0


@NEEDS_STATE_STORE
@pytest.mark.parametrize("kind", ["upload", "compose"])
def test_a_job_stored_before_the_connection_moved_to_flow_music_is_not_reattached(
    wav_file: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Riffusion's ids mean nothing to Flow Music: after the move, the retry submits on Flow Music (and says why)."""
    store = MemoryStore()
    with RiffusionEmulator(token=TOKEN, pending_polls=0, song_polls=0) as riffusion:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(riffusion.base_url))
        with pytest.raises(TryDied):
            first_try_dies(submitter(kind, wav_file), monkeypatch).execute(
                context_with_store(RecordingTI(try_number=1), store)
            )
        key = UploadAudioOperator.external_id_key if kind == "upload" else "riffusion_compose"
        assert "service" not in store.get(key)  # stored as 0.2.0 stored it
        stored = store.get(key)
        old_ids = [stored["upload"]["job_id"]] if kind == "upload" else stored["jobs"]["job_ids"]
    monkeypatch.undo()
    with RiffusionEmulator(token=TOKEN, service="flowmusic", song_polls=0) as flowmusic:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(flowmusic.base_url, service="flowmusic"))
        retry = submitter(kind, wav_file)
        result = retry.execute(context_with_store(RecordingTI(try_number=2), store))

        assert paid(flowmusic, kind) == 1
        assert not [r for r in flowmusic.requests if any(old in r["path"] for old in old_ids)]  # never read there
        assert store.get(key)["service"] == "flowmusic"
        if kind == "upload":
            assert result["job_id"] == flowmusic.uploads[-1].job_id
        else:
            assert result["job_ids"] == store.get(key)["jobs"]["job_ids"]
