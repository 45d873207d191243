"""Run the example DAG end to end: emulator in the background, a throwaway Airflow, a short report.

Prints the upload's job id, the transcribed lyrics and the songs; exits 0 on success, and
non-zero with a one-line reason otherwise. The emulator is stopped in every case.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airflow_provider_riffusion.testing.dag_run import run_dag_test

ROOT = Path(__file__).resolve().parent.parent


SERVICE = os.environ.get("RIFFUSION_SERVICE", "riffusion")
"""The service the demo runs against (``RIFFUSION_SERVICE=flowmusic``): the emulator serves both."""
SERVICE_NAMES = {"riffusion": "Riffusion (retired April 2025)", "flowmusic": "Flow Music (Riffusion's live successor)"}


def start_emulator(workdir: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m airflow_provider_riffusion.testing`` on a free port; wait until it says where it listens."""
    ready = workdir / "emulator-url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_riffusion.testing",
            "--service",
            SERVICE,
            "--port",
            "0",
            "--pending-polls",
            "2",
            "--song-polls",
            "2",
            "--ready-file",
            str(ready),
        ],
        env={**os.environ, "RIFFUSION_EMULATOR_TOKEN": token},
        stdout=(workdir / "emulator.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text().strip():
            return process, ready.read_text().strip()
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"demo failed: the emulator did not start (see {workdir / 'emulator.log'})")


SONGS = Path(os.environ.get("RIFFUSION_DEMO_SONGS") or ROOT / "artifacts" / "demo-songs")
"""Where the demo's songs land (kept: the demo ends by listing them); ``RIFFUSION_DEMO_SONGS`` moves them (tests)."""


def main() -> int:
    if SERVICE not in SERVICE_NAMES:
        print(f"demo failed: RIFFUSION_SERVICE={SERVICE!r} is not one of {sorted(SERVICE_NAMES)}")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="riffusion-demo-"))
    try:
        succeeded = run(workdir)
    except BaseException:
        print(f"demo failed; its files are kept in {workdir}")
        raise
    if succeeded:
        shutil.rmtree(workdir, ignore_errors=True)  # the throwaway Airflow home, the emulator's log
        return 0
    print(f"demo failed; its files are kept in {workdir}")
    return 1


def run(workdir: Path) -> bool:
    shutil.rmtree(SONGS, ignore_errors=True)  # this demo's songs only
    token = f"demo-{secrets.token_hex(8)}"
    emulator, base_url = start_emulator(workdir, token)
    try:
        print(f"Service: {SERVICE_NAMES[SERVICE]}, emulated at {base_url}")
        print(f"Airflow home {workdir / 'airflow'}; running riffusion_upload_compose ...")
        run = run_dag_test(
            "riffusion_upload_compose",
            ROOT / "example_dags",
            airflow_home=workdir / "airflow",
            env={
                "AIRFLOW_CONN_RIFFUSION_DEFAULT": json.dumps(
                    {"conn_type": "riffusion", "password": token, "host": base_url, "extra": {"service": SERVICE}}
                ),
                "RIFFUSION_EXAMPLE_POLL_SECONDS": "1",
                "RIFFUSION_EXAMPLE_SONGS": str(SONGS),
            },
        )
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    (workdir / "airflow-dags-test.log").write_text(run.output)
    if not run.succeeded:
        failed = [task for task, state in run.task_states().items() if state not in ("success", None)]
        print(f"demo failed: DAG run {run.state()}, tasks {failed}; log: {workdir / 'airflow-dags-test.log'}")
        return False
    upload, status, compose = run.xcom("upload_track"), run.xcom("wait_for_upload"), run.xcom("compose")
    print(f"upload job_id:     {upload['job_id']} ({upload['bytes']} bytes, sha256 {upload['sha256'][:12]}...)")
    untranscribed = " (Flow Music transcribes no upload: it is ready when it answers)" if SERVICE == "flowmusic" else ""
    print(f"transcribed lyrics: {status['lyrics']!r}{untranscribed}")
    print(f"written lyrics:    {run.xcom('write_lyrics')['lyrics'].splitlines()[:2]}")
    for song in compose["songs"]:
        print(f"song: {song['title']!r} [{song['status']}] {song['download_url']}")
    print(f"songs stored in {SONGS}:")
    for file in run.xcom("store_songs")["files"]:
        path = Path(file["path"])
        print(f"  {path.name}  {path.stat().st_size} bytes on disk  sha256 {file['sha256']}")
    print(f"demo succeeded on {SERVICE_NAMES[SERVICE]}")
    return True


if __name__ == "__main__":
    sys.exit(main())
