"""The example DAG under the CeleryExecutor: two workers that share no temp folder, a Redis broker.

The scheduler, dag-processor, triggerer, api-server and two ``airflow celery worker`` processes run
apart (``tests/airflow_cluster.py``), with a Redis server the test starts and stops. A cluster policy
(``airflow_local_settings.py``) sends the upload to worker a's queue and every other task to worker
b's, so the tasks meet only through the metadata database; the demo track is written to, and read
from, object storage (``file://`` through Airflow's ObjectStoragePath) that both reach, while each
worker's temp dir is its own. Once with waits on the workers, once deferred to the triggerer.

The deferred cluster also runs the same DAG on Flow Music (a copy under another dag_id whose tasks use a
``service: flowmusic`` connection, ``example_on_connection``) beside the Riffusion run, and the follower DAG
``riffusion_on_new_songs`` that both runs' stored songs start: one extra DAG run, overlapping the first.

Run: ``python -m pytest -m celery -s tests/test_celery.py`` (Airflow 3.3 with the celery provider; Debian's
redis-server, installed by ``scripts/install_redis.sh``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_riffusion.testing import RiffusionEmulator
from tests.airflow_cluster import AirflowCluster, example_on_connection, free_port, poll, title_slug
from tests.support import TOKEN

if int(version("apache-airflow").split(".")[0]) < 3 or find_spec("airflow.providers.celery") is None:
    pytest.skip("the Celery cluster test runs on Airflow 3 with the celery provider", allow_module_level=True)

pytestmark = pytest.mark.celery

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_DAG = REPO / "example_dags" / "riffusion_upload_compose.py"
FOLLOWER_DAG = EXAMPLE_DAG.with_name("riffusion_on_new_songs.py")
DAG_ID = "riffusion_upload_compose"
FLOW_DAG_ID = "riffusion_upload_compose_flowmusic"
FLOW_CONN_ID = "riffusion_flowmusic"
FOLLOWER_DAG_ID = "riffusion_on_new_songs"
WORKERS = ("celery-worker-a", "celery-worker-b")
ROUTING = '''
def task_policy(task):
    """The upload on worker a's queue, everything else on worker b's: tasks meet only through the DB."""
    task.queue = "riffusion-uploads" if task.task_id == "upload_track" else "riffusion-rest"
'''


def _log(message: str) -> None:
    print(f"\n[celery] {message}", flush=True)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: run scripts/install_redis.sh")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=(folder / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        poll(
            lambda: "Ready to accept connections" in (folder / "redis.log").read_text(errors="replace"),
            timeout=30,
            what="redis-server to accept connections",
        )
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def emulator() -> Iterator[RiffusionEmulator]:
    with RiffusionEmulator(token=TOKEN, pending_polls=2, song_polls=2) as emu:
        yield emu


@pytest.fixture(scope="module", params=["sync", "deferrable"])
def cluster(
    request: pytest.FixtureRequest,
    redis_url: str,
    emulator: RiffusionEmulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AirflowCluster, str]]:
    mode = request.param
    root = tmp_path_factory.mktemp(f"celery-{mode}")
    bucket = root / "bucket"
    connection = {
        "conn_type": "riffusion",
        "password": TOKEN,
        "host": emulator.base_url,
        "extra": {"retry_max_delay": 1},
    }
    dag_files, dag_ids, flow_env = [EXAMPLE_DAG], [DAG_ID], {}
    if mode == "deferrable":  # the Flow Music run and the follower DAG (the module's docstring)
        flow_host = emulator.base_url.removesuffix("/v1/riffusion") + "/v1/flowmusic"
        flow_connection = {**connection, "host": flow_host, "extra": {"service": "flowmusic", "retry_max_delay": 1}}
        flow_env[f"AIRFLOW_CONN_{FLOW_CONN_ID.upper()}"] = json.dumps(flow_connection)
        (root / "generated").mkdir()
        dag_files += [example_on_connection(EXAMPLE_DAG, FLOW_DAG_ID, FLOW_CONN_ID, root / "generated"), FOLLOWER_DAG]
        dag_ids += [FLOW_DAG_ID, FOLLOWER_DAG_ID]
    airflow = AirflowCluster(
        root,
        dag_files,
        {
            **flow_env,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": f"{redis_url}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"{redis_url}/1",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.celery_hostname.get_hostname",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(40),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "true" if mode == "deferrable" else "false",
            "AIRFLOW_CONN_RIFFUSION_DEFAULT": json.dumps(connection),
            "RIFFUSION_EXAMPLE_POLL_SECONDS": "1",
            "RIFFUSION_EXAMPLE_TRACKS": f"file://{bucket}/tracks",
            "RIFFUSION_EXAMPLE_SONGS": f"file://{bucket}/songs",
            "PYTHONPATH": str(REPO),
        },
        components=("scheduler", "dag-processor", "triggerer", "api-server", *WORKERS),
        component_env={
            worker: {"RIFFUSION_WORKER_NAME": worker.removeprefix("celery-"), "TMPDIR": str(_own(root, worker))}
            for worker in WORKERS
        },
        arguments={"queues_a": "riffusion-uploads", "queues_b": "riffusion-rest"},
    )
    (airflow.home / "config").mkdir(parents=True, exist_ok=True)
    (airflow.home / "config" / "airflow_local_settings.py").write_text(ROUTING)
    try:
        began = time.monotonic()
        started_in = airflow.start(timeout=240)
        # The api-server builds its execution API at the first call (7-18 s on 2 cores): before any task asks.
        with urllib.request.urlopen(f"{airflow.api_url}/execution/health", timeout=120) as answer:
            assert answer.status == 200
        for dag_id in dag_ids:
            airflow.wait_for_dag(dag_id, timeout=120)
        _log(f"{mode}: broker + 6 components ready in {started_in:.1f} s, DAG parsed {time.monotonic() - began:.1f} s")
        yield airflow, mode
    finally:
        _log(f"{mode}: cluster stopped in {airflow.stop():.1f} s; files under {root}")


def _own(root: Path, worker: str) -> Path:
    folder = root / f"tmp-{worker}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_tasks_run_on_two_workers_and_upload_once(
    cluster: tuple[AirflowCluster, str], emulator: RiffusionEmulator
) -> None:
    airflow, mode = cluster
    uploads_before, downloads_before = len(emulator.uploads), len(emulator.downloads)
    requests_before = len(emulator.requests)
    began = time.monotonic()
    run_id = airflow.trigger(DAG_ID, f"celery-{mode}-{uuid.uuid4().hex[:8]}")
    flow_run_id = None
    if mode == "deferrable":
        # Both runs write the demo track to the same shared path: the Flow Music run starts once the Riffusion
        # run has read it (its upload done), and overlaps the rest of it.
        airflow.wait_for_task_state(DAG_ID, run_id, "upload_track", "success", 240)
        flow_run_id = airflow.trigger(FLOW_DAG_ID, f"celery-flowmusic-{uuid.uuid4().hex[:8]}")
    state = airflow.wait_for_run(DAG_ID, run_id, 240)
    _log(f"{mode}: run {state} {time.monotonic() - began:.1f} s after `airflow dags trigger` returned")

    assert state == "success", airflow.diagnostics(DAG_ID, run_id)
    _assert_on_two_workers(airflow, run_id)
    new_uploads = [u for u in emulator.uploads[uploads_before:] if u.service == "riffusion"]
    assert len(new_uploads) == 1  # exactly one upload, though its wait ran on another worker
    upload = airflow.xcom(DAG_ID, run_id, "upload_track")
    assert upload["sha256"] == new_uploads[0].sha256
    track = airflow.xcom(DAG_ID, run_id, "make_demo_track")
    assert track.startswith("file://") and Path(track.removeprefix("file://")).is_file()  # in the shared store
    for worker in WORKERS:  # and not in either worker's own temp dir
        assert not list(_own(airflow.root, worker).rglob("demo-arpeggio.wav"))
    stored = airflow.xcom(DAG_ID, run_id, "store_songs")["files"]
    assert stored and all(Path(f["uri"].removeprefix("file://")).is_file() for f in stored)
    _assert_stored_under_titles(airflow, DAG_ID, run_id)
    events = {task: airflow.task_events(DAG_ID, run_id, task) for task in ("wait_for_upload", "compose")}
    deferred = {task: "deferred" in changes for task, changes in events.items()}
    assert deferred == dict.fromkeys(events, mode == "deferrable"), events

    if flow_run_id is not None:
        flow_state = airflow.wait_for_run(FLOW_DAG_ID, flow_run_id, 240)
        _log(f"{mode}: Flow Music run {flow_state} {time.monotonic() - began:.1f} s after the first trigger")
        assert flow_state == "success", airflow.diagnostics(FLOW_DAG_ID, flow_run_id)
        _assert_flow_music_chain(airflow, emulator, flow_run_id, uploads_before, downloads_before, requests_before)
        songs = [*stored, *airflow.xcom(FLOW_DAG_ID, flow_run_id, "store_songs")["files"]]
        _assert_follower_checked(airflow, songs)
        _log(f"{mode}: follower done {time.monotonic() - began:.1f} s after the first trigger")


def _assert_on_two_workers(airflow: AirflowCluster, run_id: str) -> None:
    hosts = dict(airflow.query("SELECT task_id, hostname FROM task_instance WHERE run_id = ?", run_id))
    assert hosts["upload_track"] == "worker-a", hosts
    assert {host for task, host in hosts.items() if task != "upload_track"} == {"worker-b"}, hosts


def _assert_stored_under_titles(airflow: AirflowCluster, dag_id: str, run_id: str) -> None:
    """Each song completed with a title the service gave, stored (whole) under a name that begins with it."""
    songs = airflow.xcom(dag_id, run_id, "compose")["songs"]
    files = airflow.xcom(dag_id, run_id, "store_songs")["files"]
    assert songs and [file["song_id"] for file in files] == [song["id"] for song in songs], (songs, files)
    for song, file in zip(songs, files, strict=True):
        assert song["status"] == "completed" and song["title"].strip() and file["title"] == song["title"], song
        name = Path(file["uri"]).name
        assert name.startswith(f"{title_slug(song['title'])}-") and name.endswith(".mp3"), name
        data = Path(file["uri"].removeprefix("file://")).read_bytes()
        assert len(data) == file["bytes"] and hashlib.sha256(data).hexdigest() == file["sha256"]


def _assert_flow_music_chain(
    airflow: AirflowCluster,
    emulator: RiffusionEmulator,
    run_id: str,
    uploads_before: int,
    downloads_before: int,
    requests_before: int,
) -> None:
    """The same DAG on Flow Music: one upload (on worker a), ready when it answered (no status request, no
    deferral), lyrics written, one job deferred to the triggerer, its clips stored as mp3 through the API."""
    _assert_on_two_workers(airflow, run_id)
    [record] = [u for u in emulator.uploads[uploads_before:] if u.service == "flowmusic"]
    upload = airflow.xcom(FLOW_DAG_ID, run_id, "upload_track")
    status = airflow.xcom(FLOW_DAG_ID, run_id, "wait_for_upload")
    compose = airflow.xcom(FLOW_DAG_ID, run_id, "compose")
    assert upload["sha256"] == record.sha256 and upload["audio_upload_id"] == record.audio_upload_id
    assert status["status"] == "complete" and status["lyrics"] == "", status
    assert status["audio_upload_id"] == upload["audio_upload_id"]
    flow_requests = [
        (r["method"], r["path"]) for r in emulator.requests[requests_before:] if r["path"].startswith("/v1/flowmusic/")
    ]
    assert flow_requests[:2] == [("POST", "/v1/flowmusic/files"), ("POST", "/v1/flowmusic/music/lyrics")], flow_requests
    events = {task: airflow.task_events(FLOW_DAG_ID, run_id, task) for task in ("wait_for_upload", "compose")}
    assert "deferred" not in events["wait_for_upload"] and "deferred" in events["compose"], events
    [job_id] = compose["job_ids"]
    assert all(song["job_id"] == job_id and song["wav_url"] for song in compose["songs"]), compose["songs"]
    _assert_stored_under_titles(airflow, FLOW_DAG_ID, run_id)
    files = airflow.xcom(FLOW_DAG_ID, run_id, "store_songs")["files"]
    flow_downloads = [d for d in emulator.downloads[downloads_before:] if d["service"] == "flowmusic"]
    assert [(d["song_id"], d["format"], d["authorization"]) for d in flow_downloads] == [
        (file["song_id"], "mp3", True) for file in files
    ]
    assert airflow.xcom(FLOW_DAG_ID, run_id, "report") == {
        "job_id": upload["job_id"],
        "songs": len(compose["songs"]),
        "files": len(files),
    }


def _assert_follower_checked(airflow: AirflowCluster, files: list[dict[str, Any]]) -> None:
    """The follower DAG ran for every stored song of both services (its runs may batch the asset events), on the
    workers, and read each file back whole."""
    wanted = {file["song_id"]: file for file in files}

    def arrived() -> dict[str, dict[str, Any]] | None:
        airflow.check_alive()
        runs = airflow.query("SELECT run_id, state, run_type FROM dag_run WHERE dag_id = ?", FOLLOWER_DAG_ID)
        assert all(state != "failed" for _, state, _ in runs), airflow.diagnostics(FOLLOWER_DAG_ID, runs[-1][0])
        songs: dict[str, dict[str, Any]] = {}
        for follower_id, state, run_type in runs:
            if state == "success":
                assert run_type == "asset_triggered", run_type
                songs.update(
                    (song["song_id"], song) for song in airflow.xcom(FOLLOWER_DAG_ID, follower_id, "check_new_songs")
                )
        return songs if set(wanted) <= set(songs) else None

    songs = poll(
        arrived,
        timeout=240,
        what="the follower DAG to check every stored song",
        describe=lambda: airflow.diagnostics(FOLLOWER_DAG_ID),
    )
    for song_id, file in wanted.items():
        song = songs[song_id]
        assert (song["uri"], song["sha256"], song["bytes"], song["title"]) == (
            file["uri"],
            file["sha256"],
            file["bytes"],
            file["title"],
        ), song
