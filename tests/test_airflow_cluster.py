"""The example DAG in a real multi-process Airflow, deferrable, against the emulator.

Scheduler, dag-processor, triggerer and api-server run as separate processes (LocalExecutor,
SQLite, a temporary AIRFLOW_HOME; see ``tests/airflow_cluster.py``). The runs are started the way
a user would, with ``airflow dags unpause`` and ``airflow dags trigger``, and read back from the
metadata DB. The module shares one cluster between its tests; each test triggers its own run and
sets every emulator setting it relies on.

The emulator holds each wait (upload pending, songs unfinished) until the test has seen the task
deferred, its trigger polling in the triggerer, and the scheduler done with the deferring worker's
exit; then it lets the wait end. So the waits provably defer, and the runs avoid an Airflow 3.3 race
(apache/airflow#66374, #72716): a trigger that fires before the scheduler has processed the
deferring worker's "success" makes the scheduler fail the resumed task ("finished with state
success, but the task instance's state attribute is queued"), which a fixed 4 s pending time hit
on a loaded 2-core machine.

Run: ``python -m pytest -m airflow_cluster -s tests/test_airflow_cluster.py`` (about a minute and a
half on 2 cores; ``-s`` shows the wall times).
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_riffusion.testing import RiffusionEmulator
from tests.airflow_cluster import AirflowCluster, poll, title_slug
from tests.support import TOKEN, write_wav

if int(version("apache-airflow").split(".")[0]) < 3:
    pytest.skip("the scheduler/dag-processor/triggerer/api-server split needs Airflow 3", allow_module_level=True)

pytestmark = pytest.mark.airflow_cluster

DAG_ID = "riffusion_upload_compose"
FOLLOWER_DAG_ID = "riffusion_on_new_songs"
EXAMPLE_DAG = Path(__file__).resolve().parent.parent / "example_dags" / "riffusion_upload_compose.py"
FOLLOWER_DAG = EXAMPLE_DAG.with_name("riffusion_on_new_songs.py")
CRASH_DAGS = Path(__file__).resolve().parent / "dags" / "riffusion_crash_safety.py"
CRASH_DAG_IDS = ("riffusion_crash_durable", "riffusion_crash_not_durable", "riffusion_wait_timeout")
UPLOAD_TRIGGER = "airflow_provider_riffusion.triggers.riffusion.UploadCompletedTrigger"
SONGS_TRIGGER = "airflow_provider_riffusion.triggers.riffusion.SongsCompletedTrigger"
TASKS = ("make_demo_track", "upload_track", "wait_for_upload", "write_lyrics", "compose", "store_songs", "report")
WAITS = ("wait_for_upload", "compose")

RUN_TIMEOUT = 90.0
DEFER_TIMEOUT = 60.0
TRIGGERER_STOP_TIMEOUT = 20.0


def _log(message: str) -> None:
    print(f"\n[airflow_cluster] {message}", flush=True)


# -- the emulator, over its HTTP control endpoints (as a test in another process would use them) --


def _control(emulator: RiffusionEmulator, method: str, name: str, payload: Any = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{emulator.port}/_emulator/{name}",
        method=method,
        data=None if payload is None else json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _configure(emulator: RiffusionEmulator, **settings: Any) -> None:
    answer = _control(emulator, "POST", "settings", settings)
    assert all(answer[name] == value for name, value in settings.items()), answer


def _uploads(emulator: RiffusionEmulator) -> list[dict[str, Any]]:
    return list(_control(emulator, "GET", "uploads"))


# -- fixtures --


@pytest.fixture(scope="module")
def cluster_emulator() -> Iterator[RiffusionEmulator]:
    with RiffusionEmulator(revision="2025-02-25", token=TOKEN, pending_polls=1, pending_seconds=4, song_polls=3) as emu:
        yield emu


@pytest.fixture(scope="module")
def cluster(cluster_emulator: RiffusionEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowCluster]:
    connection = {
        "conn_type": "riffusion",
        "password": TOKEN,
        "host": cluster_emulator.base_url,
        "extra": {"retry_min_delay": 0.1, "retry_max_delay": 1},
    }
    root = tmp_path_factory.mktemp("airflow-cluster")
    airflow = AirflowCluster(
        root,
        [EXAMPLE_DAG, FOLLOWER_DAG, CRASH_DAGS],
        {
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "true",
            "RIFFUSION_EXAMPLE_POLL_SECONDS": "1",
            "AIRFLOW_CONN_RIFFUSION_DEFAULT": json.dumps(connection),
            "RIFFUSION_TEST_AUDIO": str(write_wav(root / "crash take.wav")),
            "RIFFUSION_EXAMPLE_SONGS": str(root / "songs"),
        },
    )
    try:
        started_in = airflow.start()
        _log(f"migrate + 4 components healthy in {started_in:.1f} s (LocalExecutor, SQLite, {airflow.api_url})")
        began = time.monotonic()
        for dag_id in (DAG_ID, FOLLOWER_DAG_ID, *CRASH_DAG_IDS):
            airflow.wait_for_dag(dag_id)
        airflow.cli("dags", "unpause", DAG_ID)
        airflow.cli("dags", "unpause", FOLLOWER_DAG_ID)
        airflow.cli("dags", "unpause", "--treat-dag-id-as-regex", "-y", "^riffusion_(crash|wait)_")
        _log(f"DAG parsed and unpaused in {time.monotonic() - began:.1f} s")
        yield airflow
    finally:
        stopped_in = airflow.stop()
        _log(f"cluster stopped in {stopped_in:.1f} s ({airflow.stop_report()}); files under {airflow.root}")


@pytest.fixture(autouse=True)
def wall_time(request: pytest.FixtureRequest) -> Iterator[None]:
    began = time.monotonic()
    yield
    _log(f"{request.node.name}: {time.monotonic() - began:.1f} s wall time")


# -- holding a wait in the triggerer --

HOLD = {"pending_polls": 1, "pending_seconds": 3600, "song_polls": 1_000_000, "upload_final_status": "complete"}
"""Emulator settings that keep uploads pending and songs unfinished until released."""
RELEASE_UPLOAD = {"pending_seconds": 0}
RELEASE_SONGS = {"song_polls": 0}


def _deferred_in_triggerer(
    cluster: AirflowCluster, run_id: str, task_id: str, classpath: str, polled: str, jobs: Callable[[], set[int]]
) -> int:
    """Wait until ``task_id`` is deferred and its trigger (``classpath``) runs in one of ``jobs()`` (triggerer
    job ids) and has logged ``polled``; return that triggerer's job id.

    Also waits until the scheduler has processed the deferring worker's exit: releasing the wait
    before that would let Airflow 3.3 fail the resumed task (see ``scheduler_processed_deferral``).
    """
    cluster.wait_for_task_state(DAG_ID, run_id, task_id, "deferred", DEFER_TIMEOUT)

    def check() -> int | None:
        cluster.check_alive()
        if not cluster.scheduler_processed_deferral(DAG_ID, run_id, task_id):
            return None
        triggers = [(path, job) for task, path, job in cluster.active_triggers(DAG_ID, run_id) if task == task_id]
        logs = cluster.trigger_logs(DAG_ID, run_id, task_id)
        for path, job in triggers:
            assert path == classpath, triggers
            if job in jobs() and job in logs and polled in logs[job].read_text():
                return job
        return None

    return poll(
        check,
        timeout=DEFER_TIMEOUT,
        what=f"{task_id} to be deferred and polled in the triggerer",
        describe=lambda: cluster.diagnostics(DAG_ID, run_id),
    )


def _running_triggerers(cluster: AirflowCluster) -> set[int]:
    return {job for job, (state, _) in cluster.jobs("TriggererJob").items() if state == "running"}


# -- checks both tests make --


def _assert_outputs(cluster: AirflowCluster, run_id: str, new_uploads: list[dict[str, Any]]) -> None:
    upload = cluster.xcom(DAG_ID, run_id, "upload_track")
    status = cluster.xcom(DAG_ID, run_id, "wait_for_upload")
    compose = cluster.xcom(DAG_ID, run_id, "compose")

    assert status["status"] == "complete", status
    assert status["lyrics"], status
    assert status["job_id"] == upload["job_id"]
    assert status["audio_upload_id"] == upload["audio_upload_id"]
    assert compose["songs"], compose
    assert all(song["status"] == "completed" for song in compose["songs"]), compose["songs"]
    # The example names no title: the service gives each song one, and the stored file's name begins with it.
    assert all(isinstance(song["title"], str) and song["title"].strip() for song in compose["songs"]), compose
    files = cluster.xcom(DAG_ID, run_id, "store_songs")["files"]
    assert [file["song_id"] for file in files] == [song["id"] for song in compose["songs"]], files
    for song, file in zip(compose["songs"], files, strict=True):
        assert file["title"] == song["title"] and Path(file["path"]).name.startswith(f"{title_slug(song['title'])}-")
    assert cluster.xcom(DAG_ID, run_id, "report") == {
        "job_id": upload["job_id"],
        "songs": len(compose["songs"]),
        "files": len(files),
    }

    # The run uploaded exactly once, and the emulator received what the task says it sent.
    assert [record["job_id"] for record in new_uploads] == [upload["job_id"]], new_uploads
    assert new_uploads[0]["sha256"] == upload["sha256"]
    assert new_uploads[0]["file_name"] == upload["file_name"] == "demo-arpeggio"


def _assert_ran_once(cluster: AirflowCluster, run_id: str) -> None:
    """Every task ran once; the two waits deferred exactly once and were resumed once."""
    for task_id in TASKS:
        expected = ["running", "deferred", "running", "success"] if task_id in WAITS else ["running", "success"]
        assert cluster.task_events(DAG_ID, run_id, task_id) == expected, task_id


def _assert_token_nowhere(cluster: AirflowCluster) -> None:
    assert cluster.captured_outputs(), "no process output was captured"
    assert list(cluster.home.glob("logs/dag_id=*/run_id=*/task_id=*/attempt=*.log")), "no task logs were written"
    leaked = cluster.files_containing(TOKEN)
    assert not leaked, f"the API token appears in: {[str(path) for path in leaked]}"


# -- the tests --


def test_example_dag_runs_deferred_in_the_triggerer(cluster: AirflowCluster, cluster_emulator: RiffusionEmulator):
    """Upload, wait and compose succeed; both waits defer and are polled by the triggerer process."""
    _configure(cluster_emulator, **HOLD)
    uploads_before = len(_uploads(cluster_emulator))
    run_id = cluster.trigger(DAG_ID, f"e2e-deferred-{uuid.uuid4().hex[:8]}")
    began = time.monotonic()
    [triggerer_job] = _running_triggerers(cluster)

    # The upload stays pending until the triggerer has polled it ("status 'pending'" in its log).
    upload_job = _deferred_in_triggerer(
        cluster, run_id, "wait_for_upload", UPLOAD_TRIGGER, "status 'pending'", lambda: {triggerer_job}
    )
    _configure(cluster_emulator, **RELEASE_UPLOAD)
    # The songs stay unfinished until the compose trigger is running in the triggerer.
    compose_job = _deferred_in_triggerer(
        cluster, run_id, "compose", SONGS_TRIGGER, " starting", lambda: {triggerer_job}
    )
    _configure(cluster_emulator, **RELEASE_SONGS)

    state = cluster.wait_for_run(DAG_ID, run_id, RUN_TIMEOUT)
    _log(f"run {run_id}: {state} {time.monotonic() - began:.1f} s after `airflow dags trigger` returned")
    assert state == "success", cluster.diagnostics(DAG_ID, run_id)
    assert cluster.task_states(DAG_ID, run_id) == dict.fromkeys(TASKS, "success")
    assert upload_job == compose_job == triggerer_job
    _assert_ran_once(cluster, run_id)

    # The triggerer writes a trigger's log lines to the task's ".trigger.<triggerer job id>.log" (its
    # stdout carries only its own lifecycle); the trigger's own lines are logged under its class path.
    for task_id in WAITS:
        trigger_logs = cluster.trigger_logs(DAG_ID, run_id, task_id)
        assert set(trigger_logs) == {triggerer_job}, trigger_logs
        text = trigger_logs[triggerer_job].read_text()
        assert "Trigger fired event" in text and "'status': 'success'" in text, text[-2000:]
    upload_trigger_log = cluster.trigger_logs(DAG_ID, run_id, "wait_for_upload")[triggerer_job].read_text()
    assert f'"logger":"{UPLOAD_TRIGGER}"' in upload_trigger_log
    assert "status 'pending'" in upload_trigger_log and "status 'complete'" in upload_trigger_log

    new_uploads = _uploads(cluster_emulator)[uploads_before:]
    _assert_outputs(cluster, run_id, new_uploads)
    _assert_token_nowhere(cluster)
    _assert_loop_never_blocked(cluster, run_id)
    _assert_follower_ran_for_the_songs(cluster, run_id)


def _assert_follower_ran_for_the_songs(cluster: AirflowCluster, run_id: str) -> None:
    """The stored songs were asset events through the alias, and the scheduler started the follower DAG for
    them: its run (``asset_triggered``) read back each file, and the events' extras are the files' own."""
    files = {file["song_id"]: file for file in cluster.xcom(DAG_ID, run_id, "store_songs")["files"]}
    titles = {song["id"]: song["title"] for song in cluster.xcom(DAG_ID, run_id, "compose")["songs"]}

    def follower_run() -> list[dict[str, Any]] | None:
        cluster.check_alive()
        rows = cluster.query(
            "SELECT run_id, run_type FROM dag_run WHERE dag_id = ? AND state = 'success'", FOLLOWER_DAG_ID
        )
        for follower_id, run_type in rows:
            arrived = cluster.xcom(FOLLOWER_DAG_ID, follower_id, "check_new_songs")
            if {song["song_id"] for song in arrived} == set(files):
                assert run_type == "asset_triggered", run_type
                return list(arrived)
        return None

    arrived = poll(
        follower_run,
        timeout=RUN_TIMEOUT,
        what="the follower DAG to run for the stored songs",
        describe=lambda: cluster.diagnostics(FOLLOWER_DAG_ID),
    )
    for song in arrived:
        file = files[song["song_id"]]
        assert song["uri"] == file["uri"] and song["sha256"] == file["sha256"] and song["bytes"] == file["bytes"]
        assert song["title"] == titles[song["song_id"]] and song["format"] == "mp3"


def _assert_loop_never_blocked(cluster: AirflowCluster, run_id: str) -> None:
    """A blocking call to the supervisor from the triggerer's loop (``conn.extra_dejson`` masking the extras'
    secrets) raises DeadlockImminentError, a BaseException that no trigger could turn into an event.

    The triggerer's own "async thread was blocked" warning is not asserted on: on a loaded 2-core machine it
    also fires at start-up, before any trigger runs. ``tests/triggers/test_riffusion.py`` checks the triggers
    under asyncio's debug mode instead, where a slow step is named.
    """
    texts = [path.read_text(errors="replace") for path in cluster.captured_outputs() if "triggerer" in path.name]
    for task_id in WAITS:
        texts += [path.read_text(errors="replace") for path in cluster.trigger_logs(DAG_ID, run_id, task_id).values()]
    assert len(texts) >= 1 + len(WAITS), "the triggerer's output or a trigger log is missing"
    for text in texts:
        assert "DeadlockImminentError" not in text, text[-3000:]


def test_triggerer_restart_while_deferred_resumes_without_a_second_upload(
    cluster: AirflowCluster, cluster_emulator: RiffusionEmulator
):
    """Stop the triggerer while the upload wait is deferred, start a new one: the run succeeds, one upload."""
    _configure(cluster_emulator, **HOLD)
    uploads_before = len(_uploads(cluster_emulator))
    run_id = cluster.trigger(DAG_ID, f"e2e-restart-{uuid.uuid4().hex[:8]}")

    first_job = _deferred_in_triggerer(
        cluster, run_id, "wait_for_upload", UPLOAD_TRIGGER, "status 'pending'", lambda: _running_triggerers(cluster)
    )
    stopped_in = cluster.stop_component("triggerer", timeout=TRIGGERER_STOP_TIMEOUT)
    _log(f"triggerer (job {first_job}) stopped in {stopped_in:.1f} s (SIGTERM)")
    first_state, first_end = cluster.jobs("TriggererJob")[first_job]
    assert first_state != "running" and first_end is not None, (first_state, first_end)
    assert cluster.task_states(DAG_ID, run_id)["wait_for_upload"] == "deferred"

    began = time.monotonic()
    cluster.start_component("triggerer")
    second_job = _deferred_in_triggerer(
        cluster,
        run_id,
        "wait_for_upload",
        UPLOAD_TRIGGER,
        "status 'pending'",
        lambda: _running_triggerers(cluster) - {first_job},
    )
    _log(f"new triggerer (job {second_job}) polling the upload {time.monotonic() - began:.1f} s after its start")

    _configure(cluster_emulator, **RELEASE_UPLOAD)
    _deferred_in_triggerer(cluster, run_id, "compose", SONGS_TRIGGER, " starting", lambda: {second_job})
    _configure(cluster_emulator, **RELEASE_SONGS)
    state = cluster.wait_for_run(DAG_ID, run_id, RUN_TIMEOUT)
    assert state == "success", cluster.diagnostics(DAG_ID, run_id)
    assert cluster.task_states(DAG_ID, run_id) == dict.fromkeys(TASKS, "success")

    # The new triggerer re-ran the trigger (a poll), not the task: the wait deferred once and was resumed
    # once, the upload task ran once, and the emulator received exactly one upload.
    _assert_ran_once(cluster, run_id)
    trigger_logs = cluster.trigger_logs(DAG_ID, run_id, "wait_for_upload")
    assert set(trigger_logs) == {first_job, second_job}, trigger_logs
    assert "Trigger fired event" not in trigger_logs[first_job].read_text()
    second_text = trigger_logs[second_job].read_text()
    assert f'"logger":"{UPLOAD_TRIGGER}"' in second_text and "Trigger fired event" in second_text

    new_uploads = _uploads(cluster_emulator)[uploads_before:]
    _assert_outputs(cluster, run_id, new_uploads)
    _assert_token_nowhere(cluster)


# -- crash safety: a killed, timed-out or cleared try reattaches instead of paying again ---------


def _counts(emulator: RiffusionEmulator) -> dict[str, int]:
    """Requests the emulator answered, by kind: uploads and composes made, status and song polls."""
    requests = _control(emulator, "GET", "requests")

    def count(method: str, path: str, status: int | None = None) -> int:
        return sum(
            1
            for r in requests
            if r["method"] == method
            and r["path"].removeprefix("/v1/riffusion").strip("/") == path
            and (status is None or r["status"] == status)
        )

    return {
        "uploads": count("POST", "music/upload-audio", 200),
        "composes": count("POST", "music/create-compose", 200),
        "status_polls": count("GET", "music/upload-audio"),
        "song_polls": count("GET", "music"),
    }


def _attempt(cluster: AirflowCluster, dag_id: str, run_id: str, task_id: str) -> tuple[int | None, int, str | None]:
    """(pid of the task's process, try number, state) of one task instance."""
    [row] = cluster.query(
        "SELECT pid, try_number, state FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ?",
        dag_id,
        run_id,
        task_id,
    )
    return row[0], row[1], row[2]


def _waiting(
    cluster: AirflowCluster, emulator: RiffusionEmulator, dag_id: str, run_id: str, task_id: str, polls: str, try_: int
) -> int:
    """Until try ``try_`` of the task runs and has polled its job; its process id."""
    since = _counts(emulator)[polls]

    def check() -> int | None:
        cluster.check_alive()
        pid, number, state = _attempt(cluster, dag_id, run_id, task_id)
        return pid if number == try_ and state == "running" and pid and _counts(emulator)[polls] > since else None

    return poll(
        check,
        timeout=DEFER_TIMEOUT,
        what=f"try {try_} of {task_id} to wait on its job",
        describe=lambda: cluster.diagnostics(dag_id, run_id),
    )


def _kill_while_waiting(
    cluster: AirflowCluster, emulator: RiffusionEmulator, dag_id: str, run_id: str, task_id: str, polls: str
) -> None:
    """SIGKILL the task's process (a worker lost mid-wait) and wait until its retry waits in turn."""
    pid = _waiting(cluster, emulator, dag_id, run_id, task_id, polls, try_=1)
    os.kill(pid, signal.SIGKILL)
    _log(f"{task_id}: killed try 1 (pid {pid}) while it waited")
    _waiting(cluster, emulator, dag_id, run_id, task_id, polls, try_=2)


@pytest.mark.parametrize(("durable", "paid"), [(True, 1), (False, 2)], ids=["durable", "not-durable"])
def test_a_task_killed_while_it_waits_reattaches_instead_of_paying_again(
    cluster: AirflowCluster, cluster_emulator: RiffusionEmulator, durable: bool, paid: int
) -> None:
    """Sync waits, retries=1: the upload's and the compose's process die mid-wait; each retry finds its job in
    the task state store and waits for it. Without durability each retry uploads and composes again."""
    dag_id = "riffusion_crash_durable" if durable else "riffusion_crash_not_durable"
    _configure(cluster_emulator, **HOLD)
    before = _counts(cluster_emulator)
    run_id = cluster.trigger(dag_id, f"crash-{uuid.uuid4().hex[:8]}")

    _kill_while_waiting(cluster, cluster_emulator, dag_id, run_id, "upload", "status_polls")
    _configure(cluster_emulator, **RELEASE_UPLOAD)
    _kill_while_waiting(cluster, cluster_emulator, dag_id, run_id, "compose", "song_polls")
    _configure(cluster_emulator, **RELEASE_SONGS)
    state = cluster.wait_for_run(dag_id, run_id, RUN_TIMEOUT)
    after = _counts(cluster_emulator)

    assert state == "success", cluster.diagnostics(dag_id, run_id)
    paid_for = {kind: after[kind] - before[kind] for kind in ("uploads", "composes")}
    _log(f"{dag_id}: {paid_for['uploads']} upload(s), {paid_for['composes']} compose(s)")
    assert after["uploads"] - before["uploads"] == paid
    assert after["composes"] - before["composes"] == paid
    assert [_attempt(cluster, dag_id, run_id, task)[1:] for task in ("upload", "compose")] == [(2, "success")] * 2
    upload = cluster.xcom(dag_id, run_id, "upload")
    compose = cluster.xcom(dag_id, run_id, "compose")
    assert upload["status"] == "complete" and upload["file_name"] == "crash take"
    assert compose["songs"] and {song["status"] for song in compose["songs"]} == {"completed"}
    assert {song["audio_upload_id"] for song in compose["songs"]} == {upload["audio_upload_id"]}


def test_a_wait_that_times_out_is_retried_without_a_second_upload(
    cluster: AirflowCluster, cluster_emulator: RiffusionEmulator
) -> None:
    """Try 1's wait (4 s) ends before the track is processed (7 s); the timeout is retryable because the retry
    reattaches, and try 2 waits for the same upload."""
    dag_id = "riffusion_wait_timeout"
    _configure(cluster_emulator, pending_polls=1, pending_seconds=7, upload_final_status="complete")
    before = _counts(cluster_emulator)
    run_id = cluster.trigger(dag_id, f"timeout-{uuid.uuid4().hex[:8]}")
    state = cluster.wait_for_run(dag_id, run_id, RUN_TIMEOUT)
    after = _counts(cluster_emulator)

    assert state == "success", cluster.diagnostics(dag_id, run_id)
    assert after["uploads"] - before["uploads"] == 1
    assert _attempt(cluster, dag_id, run_id, "upload")[1:] == (2, "success")
    first_try = (cluster.task_log_dir(dag_id, run_id, "upload") / "attempt=1.log").read_text()
    assert "did not finish before the wait's timeout" in first_try
    assert "A retry of the task waits for the same job again" in first_try
    second_try = (cluster.task_log_dir(dag_id, run_id, "upload") / "attempt=2.log").read_text()
    assert "Reconnecting to existing job" in second_try
    assert cluster.xcom(dag_id, run_id, "upload")["status"] == "complete"


def _clear(cluster: AirflowCluster, dag_id: str, run_id: str, task_id: str) -> None:
    """Clear one task instance of one run, as the UI's "Clear" does (the REST API)."""
    request = urllib.request.Request(
        f"{cluster.api_url}/api/v2/dags/{dag_id}/clearTaskInstances",
        method="POST",
        data=json.dumps({"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.read()


def test_clearing_a_deferred_compose_stops_its_trigger_and_the_rerun_reattaches(
    cluster: AirflowCluster, cluster_emulator: RiffusionEmulator
) -> None:
    """The trigger's on_kill logs the job it abandons (it goes on upstream); the cleared task's rerun
    finds the compose jobs in the task state store and waits for them instead of composing again."""
    _configure(cluster_emulator, **HOLD)
    before = _counts(cluster_emulator)
    run_id = cluster.trigger(DAG_ID, f"e2e-cleared-{uuid.uuid4().hex[:8]}")
    triggerers = lambda: _running_triggerers(cluster)  # noqa: E731
    _deferred_in_triggerer(cluster, run_id, "wait_for_upload", UPLOAD_TRIGGER, "status 'pending'", triggerers)
    _configure(cluster_emulator, **RELEASE_UPLOAD)
    job = _deferred_in_triggerer(cluster, run_id, "compose", SONGS_TRIGGER, " starting", triggerers)
    first_log = cluster.task_log_dir(DAG_ID, run_id, "compose") / f"attempt=1.log.trigger.{job}.log"

    _clear(cluster, DAG_ID, run_id, "compose")
    poll(
        lambda: "Stopped waiting for compose jobs" in first_log.read_text(),
        timeout=DEFER_TIMEOUT,
        what="the compose trigger's on_kill",
        describe=lambda: first_log.read_text()[-3000:],
    )
    abandoned = first_log.read_text()
    assert "The job goes on upstream" in abandoned
    assert "status" not in abandoned.split("Stopped waiting for compose jobs", 1)[1]  # no poll after it

    cluster.wait_for_task_state(DAG_ID, run_id, "compose", "deferred", DEFER_TIMEOUT)
    _configure(cluster_emulator, **RELEASE_SONGS)
    state = cluster.wait_for_run(DAG_ID, run_id, RUN_TIMEOUT)
    after = _counts(cluster_emulator)

    assert state == "success", cluster.diagnostics(DAG_ID, run_id)
    assert after["uploads"] - before["uploads"] == 1
    assert after["composes"] - before["composes"] == 1  # the rerun reattached
    assert cluster.xcom(DAG_ID, run_id, "compose")["songs"]
