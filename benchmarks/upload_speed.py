"""Upload time of ``RiffusionHook.upload_audio`` against curl, to the same emulator in the same run.

One emulator process; one long-lived worker process per Python client, warmed with a small
upload first (so the figure is the transfer, not the first call's imports and connection
lookup), then driven one upload at a time over a pipe. Repetitions interleave curl, the hook and
a plain streaming ``requests.post(data=open(f, "rb"))`` (a reference for what ``requests``
itself costs), so load from other processes hits all three alike. Each time is the median.

curl: ``curl -X POST -T FILE -H 'Content-Type: audio/mpeg' -H 'Authorization: Bearer T' URL?file_name=x``
(the header is read from a 0600 file, so the token is on no command line), timed by curl's own
``%{time_total}``. Goal: hook <= 1.25 x curl.

    python benchmarks/upload_speed.py [--quick]
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import psutil
from _common import (
    MIB,
    PYTHON,
    RESULT_PREFIX,
    EmulatorProcess,
    Report,
    child_env,
    emit_result,
    make_token,
    median,
    riffusion_conn_json,
    script_main,
    scrub,
    temp_dir,
    write_mp3,
)

GOAL_RATIO = 1.25
URL_ENV = "RIFFUSION_BENCH_URL"
TOKEN_ENV = "RIFFUSION_BENCH_TOKEN"


# -- the worker: one process per client, one upload per line on stdin -------------------------------------


def worker(mode: str, warmup_path: str) -> None:
    if mode == "hook":
        from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

        hook = RiffusionHook()

        def upload(path: str) -> int:
            return int(hook.upload_audio(path, file_name="bench")["bytes"])

    else:
        import requests

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {os.environ[TOKEN_ENV]}"
        url = f"{os.environ[URL_ENV]}/music/upload-audio/"

        def upload(path: str) -> int:
            with open(path, "rb") as stream:
                response = session.post(
                    url, params={"file_name": "bench"}, data=stream, headers={"Content-Type": "audio/mpeg"}, timeout=300
                )
            response.raise_for_status()
            return os.path.getsize(path)

    upload(warmup_path)
    emit_result({"ready": True})
    for line in sys.stdin:
        path = line.strip()
        if not path:
            break
        started, cpu = time.perf_counter(), time.process_time()
        sent = upload(path)
        emit_result({"seconds": time.perf_counter() - started, "bytes": sent, "cpu": time.process_time() - cpu})


class Worker:
    def __init__(self, mode: str, warmup: Path, env: dict[str, str], stderr: IO[bytes], token: str) -> None:
        self.token = token
        self.process = subprocess.Popen(
            [PYTHON, __file__, "--worker", mode, str(warmup)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        self.read(timeout=120)

    def read(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        # A blocking readline is bounded by the worker's own request timeouts; the deadline
        # catches a worker that died.
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"worker exited with {self.process.wait(timeout=10)}")
            if line.startswith(RESULT_PREFIX):
                return json.loads(line[len(RESULT_PREFIX) :])
        raise RuntimeError("worker gave no answer in time")

    def upload(self, path: Path) -> tuple[float, float]:
        """Wall seconds and CPU seconds (the worker process, all threads) of one upload."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{path}\n")
        self.process.stdin.flush()
        result = self.read(timeout=300)
        return float(result["seconds"]), float(result["cpu"])

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)


def curl_upload(path: Path, url: str, header_file: Path, token: str) -> tuple[float, float]:
    """curl's own ``time_total`` and the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [
        "curl", "-sS", "-o", os.devnull, "-w", "%{http_code} %{time_total}", "-X", "POST", "-T", str(path),
        "-H", "Content-Type: audio/mpeg", "-H", f"@{header_file}", f"{url}/music/upload-audio?file_name=x",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    code, _, seconds = done.stdout.partition(" ")
    if done.returncode != 0 or code != "200":
        raise RuntimeError(f"curl failed ({done.returncode}, HTTP {code}): {scrub(done.stderr, token)[-500:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(seconds), (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(quick: bool) -> Report:
    report = Report("upload_speed")
    if shutil.which("curl") is None:
        report.add("hook / curl upload time", None, "x", goal=f"<= {GOAL_RATIO}", ok=None)
        report.note("curl is not installed on this machine: no reference to compare with (install curl)")
        return report
    size_mib = 50 if quick else 200
    repetitions = 3 if quick else 7
    token = make_token()
    clients = ("curl", "hook", "requests")
    times: dict[str, list[float]] = {client: [] for client in clients}
    cpu: dict[str, list[float]] = {client: [] for client in clients}
    emulator_cpu: dict[str, list[float]] = {client: [] for client in clients}
    with temp_dir("riffusion-bench-speed-") as work:
        header_file = work / "auth-header"
        header_file.touch(mode=0o600)
        header_file.write_text(f"Authorization: Bearer {token}\n", encoding="utf-8")
        warmup = write_mp3(work / "warmup.mp3", 4096)
        track = write_mp3(work / "track.mp3", size_mib * MIB)
        workers: list[Worker] = []
        with EmulatorProcess(token, work) as emulator, (work / "workers.log").open("wb") as worker_log:
            server = psutil.Process(emulator.pid)
            env = child_env(
                work,
                AIRFLOW_CONN_RIFFUSION_DEFAULT=riffusion_conn_json(emulator.base_url, token),
                **{URL_ENV: emulator.base_url, TOKEN_ENV: token},
            )
            try:
                hook = Worker("hook", warmup, env, worker_log, token)
                workers.append(hook)
                plain = Worker("requests", warmup, env, worker_log, token)
                workers.append(plain)
                uploads = {
                    "curl": lambda: curl_upload(track, emulator.base_url, header_file, token),
                    "hook": lambda: hook.upload(track),
                    "requests": lambda: plain.upload(track),
                }
                for _ in range(repetitions):
                    for client in clients:
                        server_before = sum(server.cpu_times()[:2])
                        seconds, client_cpu = uploads[client]()
                        emulator_cpu[client].append(sum(server.cpu_times()[:2]) - server_before)
                        times[client].append(seconds)
                        cpu[client].append(client_cpu)
            finally:
                for running in workers:
                    running.close()
            sizes = {record["bytes"] for record in emulator.control("uploads") if record["bytes"] > 4096}
            if sizes != {size_mib * MIB}:
                raise RuntimeError(f"uploads arrived with sizes {sorted(sizes)}, expected {size_mib * MIB}")
            hashing = []
            for _ in range(3):  # what the hook does on top of sending: sha256 of every byte it sends
                started = time.perf_counter()
                digest = hashlib.sha256()
                with track.open("rb") as stream:
                    while chunk := stream.read(MIB):
                        digest.update(chunk)
                hashing.append(time.perf_counter() - started)
    curl, hook_s, plain_s = (median(times[k]) for k in ("curl", "hook", "requests"))
    ratio = hook_s / curl
    report.add(
        f"hook / curl upload time ({size_mib} MiB)",
        ratio,
        "x",
        goal=f"<= {GOAL_RATIO}",
        ok=ratio <= GOAL_RATIO,
        detail=f"hook {hook_s:.3f} s ({size_mib / hook_s:.0f} MiB/s), curl {curl:.3f} s ({size_mib / curl:.0f} MiB/s)",
    )
    report.add(f"hook upload time ({size_mib} MiB)", hook_s, "s", detail=f"runs {[round(t, 3) for t in times['hook']]}")
    report.add(f"curl upload time ({size_mib} MiB)", curl, "s", detail=f"runs {[round(t, 3) for t in times['curl']]}")
    report.add(
        f"requests.post(data=file) upload time ({size_mib} MiB)",
        plain_s,
        "s",
        detail=f"ratio to curl {plain_s / curl:.2f}; runs {[round(t, 3) for t in times['requests']]}",
    )
    report.add(
        f"sha256 of the {size_mib} MiB file alone (the hook's 'sha256' output; curl hashes nothing)",
        median(hashing),
        "s",
        detail="the hook hashes on a helper thread beside the send, so it costs CPU more than wall time",
    )
    for client in clients:
        report.add(
            f"{client}: client CPU per upload (all threads)",
            median(cpu[client]),
            "s",
            detail=f"the emulator spent {median(emulator_cpu[client]):.3f} s of CPU on the same upload",
        )
    cores = os.cpu_count() or 1
    floor = max(median(times["curl"]), (median(cpu["hook"]) + median(emulator_cpu["hook"])) / cores)
    report.add(
        f"hook / curl floor on {cores} cores: (hook CPU + emulator CPU) / cores, over curl's time",
        floor / curl,
        "x",
        detail="the best ratio this machine allows while both ends hash; more cores lower it",
    )
    report.note(f"medians of {repetitions} interleaved repetitions; same emulator process for all clients")
    return report


def main(argv: list[str] | None = None) -> int:
    return script_main(__doc__, measure, worker, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
