"""Peak memory growth of a process storing a 200 MiB song through ``RiffusionHook.download_song``.

As ``upload_memory.py`` does for uploads: each measurement runs in a fresh worker process, which
constructs the hook, resets the kernel's peak-RSS mark, downloads one song from the emulator (in
another process, serving 200 MiB of mp3 frames it makes as it sends them) into a temporary folder,
and reports peak RSS minus the RSS before. The plain approach is ``requests.get(url).content`` written
to a file, the obvious code that holds the body whole. Goal: the hook grows by at most 32 MiB.

    python benchmarks/download_memory.py [--quick]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
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
)

GOAL_MIB = 32
SIZE_MIB = {False: 200, True: 50}
URL_ENV = "RIFFUSION_BENCH_URL"
TOKEN_ENV = "RIFFUSION_BENCH_TOKEN"


def worker(mode: str, song_id: str, folder: str) -> None:
    if mode == "hook":
        from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

        hook = RiffusionHook()
    else:
        import requests
    before = rss_kib()
    method = reset_peak_rss()
    started = time.perf_counter()
    if mode == "hook":
        stored = hook.download_song(song_id, folder, title="bench")["bytes"]
    else:
        url, token = os.environ[URL_ENV], os.environ[TOKEN_ENV]
        response = requests.get(
            f"{url}/music/download", params={"id": song_id}, headers={"Authorization": f"Bearer {token}"}, timeout=300
        )
        response.raise_for_status()
        stored = (Path(folder) / "plain.mp3").write_bytes(response.content)
    seconds = time.perf_counter() - started
    peak = peak_rss_kib(method)
    emit_result({"growth_mib": max(0, peak - before) / 1024, "seconds": seconds, "bytes": stored, "method": method})


def measure(quick: bool) -> Report:
    report = Report("download_memory")
    repetitions = 1 if quick else 3
    size = SIZE_MIB[quick] * MIB
    token = make_token()
    with temp_dir("riffusion-bench-dl-") as work, EmulatorProcess(token, work) as emulator:
        env = child_env(
            work,
            AIRFLOW_CONN_RIFFUSION_DEFAULT=riffusion_conn_json(emulator.base_url, token),
            **{URL_ENV: emulator.base_url, TOKEN_ENV: token},
        )
        song_id = run_worker([__file__, "--worker-compose"], env, timeout=120, token=token)
        emulator.control("settings", {"download_bytes": size})
        runs: dict[str, list[dict[str, Any]]] = {"hook": [], "plain": []}
        for index in range(repetitions):
            for mode in ("hook", "plain"):
                folder = work / f"{mode}-{index}"
                folder.mkdir()
                result = run_worker([__file__, "--worker", mode, song_id, str(folder)], env, timeout=300, token=token)
                if abs(result["bytes"] - size) > MIB:
                    raise RuntimeError(f"{mode} stored {result['bytes']} bytes of a {size}-byte song")
                runs[mode].append(result)
                for path in folder.iterdir():
                    path.unlink()
        hook = median([r["growth_mib"] for r in runs["hook"]])
        plain = median([r["growth_mib"] for r in runs["plain"]])
        report.add(
            f"hook download {SIZE_MIB[quick]} MiB: peak RSS growth",
            hook,
            "MiB",
            goal=f"<= {GOAL_MIB} MiB",
            ok=hook <= GOAL_MIB,
            detail=f"runs {[round(r['growth_mib'], 1) for r in runs['hook']]}, "
            f"{median([r['seconds'] for r in runs['hook']]):.2f} s per download",
        )
        report.add(
            f"plain requests.get(url).content {SIZE_MIB[quick]} MiB",
            plain,
            "MiB",
            detail=f"runs {[round(r['growth_mib'], 1) for r in runs['plain']]}, "
            f"{median([r['seconds'] for r in runs['plain']]):.2f} s per download",
        )
    report.note(f"medians of {repetitions} fresh processes per figure; peak from {runs['hook'][0]['method']}")
    return report


def compose_worker() -> None:
    """A finished song to download (a fresh process, as the measurements are)."""
    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

    emit_result(RiffusionHook().create_compose("benchmark drones")["job_ids"][0])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--worker-compose"]:
        compose_worker()
        return 0
    return script_main(__doc__, measure, worker, args)


if __name__ == "__main__":
    sys.exit(main())
