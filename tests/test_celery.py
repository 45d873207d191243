"""The example DAG under the CeleryExecutor: two workers that share no temp folder, a Redis broker.

The scheduler, dag-processor, triggerer, api-server and two ``airflow celery worker`` processes run
apart (``tests/airflow_cluster.py``), with a Redis server the test starts and stops. A cluster policy
(``airflow_local_settings.py``) sends the upload to worker a's queue and every other task to worker
b's, so the tasks meet only through the metadata database; the demo track is written to, and read
from, object storage (``file://`` through Airflow's ObjectStoragePath) that both reach, while each
worker's temp dir is its own. Once with waits on the workers, once deferred to the triggerer.

Run: ``python -m pytest -m celery -s tests/test_celery.py`` (Airflow 3.3 with the celery provider; Debian's
redis-server, installed by ``scripts/install_redis.sh``).
"""

from __future__ import annotations

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

import pytest

from airflow_provider_riffusion.testing import RiffusionEmulator
from tests.airflow_cluster import AirflowCluster, free_port, poll
from tests.support import TOKEN

if int(version("apache-airflow").split(".")[0]) < 3 or find_spec("airflow.providers.celery") is None:
    pytest.skip("the Celery cluster test runs on Airflow 3 with the celery provider", allow_module_level=True)

pytestmark = pytest.mark.celery

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_DAG = REPO / "example_dags" / "riffusion_upload_compose.py"
DAG_ID = "riffusion_upload_compose"
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
    airflow = AirflowCluster(
        root,
        [EXAMPLE_DAG],
        {
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
        airflow.wait_for_dag(DAG_ID, timeout=120)
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
    uploads_before = len(emulator.uploads)
    began = time.monotonic()
    run_id = airflow.trigger(DAG_ID, f"celery-{mode}-{uuid.uuid4().hex[:8]}")
    state = airflow.wait_for_run(DAG_ID, run_id, 240)
    _log(f"{mode}: run {state} {time.monotonic() - began:.1f} s after `airflow dags trigger` returned")

    assert state == "success", airflow.diagnostics(DAG_ID, run_id)
    hosts = dict(airflow.query("SELECT task_id, hostname FROM task_instance WHERE run_id = ?", run_id))
    assert hosts["upload_track"] == "worker-a", hosts
    assert {host for task, host in hosts.items() if task != "upload_track"} == {"worker-b"}, hosts
    new_uploads = emulator.uploads[uploads_before:]
    assert len(new_uploads) == 1  # exactly one upload, though its wait ran on another worker
    upload = airflow.xcom(DAG_ID, run_id, "upload_track")
    assert upload["sha256"] == new_uploads[0].sha256
    track = airflow.xcom(DAG_ID, run_id, "make_demo_track")
    assert track.startswith("file://") and Path(track.removeprefix("file://")).is_file()  # in the shared store
    for worker in WORKERS:  # and not in either worker's own temp dir
        assert not list(_own(airflow.root, worker).rglob("demo-arpeggio.wav"))
    stored = airflow.xcom(DAG_ID, run_id, "store_songs")["files"]
    assert stored and all(Path(f["uri"].removeprefix("file://")).is_file() for f in stored)
    events = {task: airflow.task_events(DAG_ID, run_id, task) for task in ("wait_for_upload", "compose")}
    deferred = {task: "deferred" in changes for task, changes in events.items()}
    assert deferred == dict.fromkeys(events, mode == "deferrable"), events
