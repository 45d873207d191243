"""Run every benchmark, each in its own subprocess, and print their figures against the goals.

    python benchmarks/run_all.py            # about 6 minutes on 2 cores; stops by itself within 10
    python benchmarks/run_all.py --quick    # smaller sizes, fewer repetitions; within 3 minutes
    python benchmarks/run_all.py --only trigger_scale --json results.json

Exit status: 0 when every benchmark ran and met its goals, 1 when a goal was missed, 2 when a
benchmark failed or ran out of time (its process group is stopped, so no emulator is left behind).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, PYTHON, machine_summary

# name -> (time cap in seconds: full, quick)
BENCHMARKS: dict[str, tuple[float, float]] = {
    "upload_memory": (150, 45),
    "upload_speed": (120, 40),
    "parse_cost": (300, 150),
    "poll_cost": (90, 30),
    "trigger_scale": (330, 150),
    "download_memory": (150, 45),
}
BUDGET = {False: 740.0, True: 223.0}
"""The whole run's limit; a benchmark gets the smaller of its cap and what is left."""


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the benchmark's process group (it cleans up), then SIGKILL whatever is left."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_one(name: str, quick: bool, limit: float, out_dir: Path) -> dict[str, Any]:
    json_out = out_dir / f"{name}.json"
    command = [PYTHON, str(BENCH_DIR / f"{name}.py"), "--json-out", str(json_out)] + (["--quick"] if quick else [])
    started = time.monotonic()
    process = subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL)
    try:
        process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        stop_group(process)
        return {"script": name, "error": f"stopped after {limit:.0f} s (time limit)", "seconds": limit}
    except BaseException:
        stop_group(process)
        raise
    seconds = time.monotonic() - started
    if process.returncode != 0 or not json_out.exists():
        return {"script": name, "error": f"exited with {process.returncode}", "seconds": seconds}
    result = json.loads(json_out.read_text(encoding="utf-8"))
    result["seconds"] = seconds
    return result


def shown(figure: dict[str, Any]) -> str:
    value = figure["value"]
    if value is None:
        return "n/a"
    unit = figure["unit"]
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f} {unit}".strip()
    return f"{value:.3g} {unit}".strip()


def print_table(results: list[dict[str, Any]]) -> None:
    rows = [("benchmark", "figure", "value", "goal", "")]
    for result in results:
        if "error" in result:
            rows.append((result["script"], "(did not complete)", result["error"], "", "ERROR"))
            continue
        for figure in result["figures"]:
            verdict = {True: "PASS", False: "FAIL", None: ""}[figure["ok"]]
            rows.append((result["script"], figure["name"], shown(figure), figure["goal"], verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    print()
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions (under 3 minutes)")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), help="run just this one (repeatable)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)

    machine = machine_summary()
    names = args.only or list(BENCHMARKS)
    command = " ".join(["python", "benchmarks/run_all.py", *(argv if argv is not None else sys.argv[1:])])
    print(f"{command}: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {machine['nproc']} cores, {machine['cpu']}, {machine['ram']} RAM, "
        f"load average {machine['loadavg']}, Python {machine['python']}"
    )
    deadline = time.monotonic() + BUDGET[args.quick]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="riffusion-bench-all-") as out:
        for name in names:
            left = deadline - time.monotonic()
            if left < 10:
                results.append({"script": name, "error": "not run: the whole run's time budget is spent"})
                continue
            cap = BENCHMARKS[name][1 if args.quick else 0]
            results.append(run_one(name, args.quick, min(cap, left), Path(out)))
    print_table(results)
    timings = ", ".join(f"{r['script']} {r['seconds']:.0f} s" for r in results if "seconds" in r)
    print(f"\ntime per benchmark: {timings}; load average now {machine_summary()['loadavg']}")
    for result in results:
        for text in result.get("notes", []):
            print(f"note ({result['script']}): {text}")
    if args.json is not None:
        args.json.write_text(json.dumps({"command": command, "machine": machine, "results": results}, indent=2))
    if any("error" in r for r in results):
        return 2
    if any(f["ok"] is False for r in results for f in r["figures"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
