"""Peak memory growth of a process uploading 50 MiB and 500 MiB through ``RiffusionHook.upload_audio``.

Each measurement runs in a fresh worker process: it imports what it needs, constructs the hook
(or imports ``requests`` for the plain approach), resets the kernel's peak-RSS mark
(``/proc/self/clear_refs`` = 5; falls back to ``ru_maxrss``), uploads the file to the emulator
(running in another process) and reports peak RSS minus the RSS before the upload. The plain
approach is ``requests.post(url, data=open(f, "rb").read())``, the obvious code that reads the
file whole. Goal: the hook grows by at most 32 MiB for both sizes.

    python benchmarks/upload_memory.py [--quick]
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from _common import (
    MIB,
    EmulatorProcess,
    Report,
    child_env,
    emit_result,
    make_token,
    median,
    peak_rss_kib,
    reset_peak_rss,
    riffusion_conn_json,
    rss_kib,
    run_worker,
    script_main,
    temp_dir,
    write_mp3,
)

GOAL_MIB = 32
SIZES_MIB = (50, 500)
URL_ENV = "RIFFUSION_BENCH_URL"
TOKEN_ENV = "RIFFUSION_BENCH_TOKEN"


# -- the worker (a fresh process per measurement) -----------------------------------------------------


def worker(mode: str, path: str) -> None:
    if mode == "hook":
        from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

        hook = RiffusionHook()
    else:
        import requests
    before = rss_kib()
    method = reset_peak_rss()
    started = time.perf_counter()
    if mode == "hook":
        sent = hook.upload_audio(path, file_name="bench")["bytes"]
    else:
        url, token = os.environ[URL_ENV], os.environ[TOKEN_ENV]
        with open(path, "rb") as stream:
            data = stream.read()
        response = requests.post(
            f"{url}/music/upload-audio/",
            params={"file_name": "bench"},
            data=data,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "audio/mpeg"},
            timeout=300,
        )
        response.raise_for_status()
        sent = len(data)
    seconds = time.perf_counter() - started
    peak = peak_rss_kib(method)
    emit_result(
        {
            "before_kib": before,
            "peak_kib": peak,
            "growth_mib": max(0, peak - before) / 1024,
            "seconds": seconds,
            "bytes": sent,
            "method": method,
        }
    )


# -- the parent ---------------------------------------------------------------------------------------


def measure(quick: bool) -> Report:
    report = Report("upload_memory")
    repetitions = 1 if quick else 3
    token = make_token()
    with temp_dir("riffusion-bench-mem-") as work, EmulatorProcess(token, work) as emulator:
        env = child_env(
            work,
            AIRFLOW_CONN_RIFFUSION_DEFAULT=riffusion_conn_json(emulator.base_url, token),
            **{URL_ENV: emulator.base_url, TOKEN_ENV: token},
        )
        for size_mib in SIZES_MIB:
            path = write_mp3(work / f"track-{size_mib}.mp3", size_mib * MIB)
            runs: dict[str, list[dict[str, Any]]] = {"hook": [], "plain": []}
            for _ in range(repetitions):
                for mode in ("hook", "plain"):
                    result = run_worker([__file__, "--worker", mode, str(path)], env, timeout=300, token=token)
                    received = emulator.control("uploads")[-1]
                    if received["bytes"] != size_mib * MIB or result["bytes"] != size_mib * MIB:
                        raise RuntimeError(
                            f"{mode} upload of {size_mib} MiB arrived as {received['bytes']} bytes "
                            f"(sent {result['bytes']})"
                        )
                    runs[mode].append(result)
            path.unlink()
            hook = median([r["growth_mib"] for r in runs["hook"]])
            plain = median([r["growth_mib"] for r in runs["plain"]])
            report.add(
                f"hook upload {size_mib} MiB: peak RSS growth",
                hook,
                "MiB",
                goal=f"<= {GOAL_MIB} MiB",
                ok=hook <= GOAL_MIB,
                detail=f"runs {[round(r['growth_mib'], 1) for r in runs['hook']]}, "
                f"{median([r['seconds'] for r in runs['hook']]):.2f} s per upload",
            )
            report.add(
                f"plain requests.post(data=f.read()) {size_mib} MiB",
                plain,
                "MiB",
                detail=f"runs {[round(r['growth_mib'], 1) for r in runs['plain']]}, "
                f"{median([r['seconds'] for r in runs['plain']]):.2f} s per upload",
            )
        method = runs["hook"][0]["method"]
    report.note(
        f"medians of {repetitions} fresh processes per figure; peak from {method}; growth = peak minus RSS "
        "after the hook is constructed (cold: includes the connection lookup and lazy imports of the first call)"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    return script_main(__doc__, measure, worker, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
