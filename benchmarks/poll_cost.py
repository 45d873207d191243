"""CPU per status poll of the sync path, and how many TCP connections 1,000 polls take.

A fresh worker process uploads a small track (with its own hook, closed afterwards), then polls
its status 1,000 times with ``UploadCompletedSensor.poke`` against an emulator that keeps it
pending (``--pending-polls`` far above the number of polls), and again 1,000 times with a new
``RiffusionHook.get_upload_status``. One unmeasured poll first (connection lookup, lazy
imports); the CPU figure is ``time.process_time`` over the 1,000 that follow. The emulator's
``GET /_emulator/stats`` before and after gives the TCP connections it saw and the requests it
answered for them. Goal: 1 connection for all the polls of one sensor.

    python benchmarks/poll_cost.py [--quick]
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from typing import Any

from _common import (
    EmulatorProcess,
    Report,
    child_env,
    emit_result,
    make_token,
    median,
    riffusion_conn_json,
    run_worker,
    script_main,
    temp_dir,
)

POLLS = 1000
STATS_ENV = "RIFFUSION_BENCH_STATS_URL"


def _stats() -> dict[str, int]:
    with urllib.request.urlopen(os.environ[STATS_ENV], timeout=30) as response:  # loopback only
        return json.loads(response.read())


def _run(poll: Any) -> dict[str, Any]:
    before = _stats()
    started_cpu, started = time.process_time(), time.perf_counter()
    status = poll()
    first_cpu_ms, first_ms = (time.process_time() - started_cpu) * 1000, (time.perf_counter() - started) * 1000
    started_cpu, started = time.process_time(), time.perf_counter()
    for _ in range(POLLS):
        status = poll()
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    after = _stats()
    return {
        "cpu_us_per_poll": cpu / POLLS * 1e6,
        "wall_us_per_poll": wall / POLLS * 1e6,
        "first_poll_cpu_ms": first_cpu_ms,
        "first_poll_ms": first_ms,
        "connections": after["connections"] - before["connections"],
        "requests": after["requests"] - before["requests"],
        "polls": POLLS + 1,
        "last_status": status,
    }


def worker() -> None:
    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
    from airflow_provider_riffusion.sensors.riffusion import UploadCompletedSensor

    uploader = RiffusionHook()
    job_id = uploader.upload_audio(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(4096), file_name="poll.mp3")["job_id"]
    uploader.close()

    sensor = UploadCompletedSensor(task_id="wait_for_upload", job_id=job_id, poke_interval=1, timeout=60)
    context: Any = {}

    def poke() -> str:
        result = sensor.poke(context)
        if result.is_done:
            raise RuntimeError("the upload stopped being pending: raise --pending-polls")
        return "pending"

    hook = RiffusionHook()

    def get_status() -> str:
        return str(hook.get_upload_status(job_id)["status"])

    emit_result({"sensor": _run(poke), "hook": _run(get_status)})


def measure(quick: bool) -> Report:
    report = Report("poll_cost")
    repetitions = 1 if quick else 3
    token = make_token()
    runs: list[dict[str, Any]] = []
    with temp_dir("riffusion-bench-poll-") as work, EmulatorProcess(token, work, pending_polls=100_000) as emulator:
        env = child_env(
            work,
            AIRFLOW_CONN_RIFFUSION_DEFAULT=riffusion_conn_json(emulator.base_url, token),
            **{STATS_ENV: f"{emulator.root_url}/_emulator/stats"},
        )
        for _ in range(repetitions):
            runs.append(run_worker([__file__, "--worker"], env, timeout=240, token=token))
    for path in ("sensor", "hook"):
        results = [run[path] for run in runs]
        if any(r["requests"] != r["polls"] for r in results):
            report.note(f"{path}: requests seen {[r['requests'] for r in results]} for {POLLS + 1} polls (retries?)")
        connections = max(r["connections"] for r in results)
        label = "UploadCompletedSensor.poke" if path == "sensor" else "RiffusionHook.get_upload_status"
        report.add(
            f"{label}: TCP connections for {POLLS + 1} polls",
            connections,
            "conn",
            goal="1" if path == "sensor" else "",
            ok=(connections == 1) if path == "sensor" else None,
            detail=f"per run {[r['connections'] for r in results]}",
        )
        report.add(
            f"{label}: CPU per poll",
            median([r["cpu_us_per_poll"] for r in results]) / 1000,
            "ms",
            detail=f"wall {median([r['wall_us_per_poll'] for r in results]) / 1000:.2f} ms per poll; first poll "
            f"{median([r['first_poll_ms'] for r in results]):.0f} ms "
            f"({median([r['first_poll_cpu_ms'] for r in results]):.0f} ms CPU)",
        )
    report.note(f"medians of {repetitions} fresh worker processes; client CPU only (the emulator runs elsewhere)")
    return report


def main(argv: list[str] | None = None) -> int:
    return script_main(__doc__, measure, worker, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
