"""1,000 deferrable waits in one event loop: ours (``UploadCompletedTrigger``) against the http provider's.

One worker process plays the triggerer: one asyncio loop runs N triggers at once, each
``run()`` as its own task, polling the emulator (another process) for uploads it keeps pending.
A probe coroutine sleeps 10 ms in a loop and records how late it wakes (event-loop lag). After
every trigger has polled about once (the start-up phase, measured apart), a fixed window
measures CPU seconds of the worker (``process_time``, all threads) per 1,000 polls, counting
polls as the emulator's ``/_emulator/stats`` request delta, the TCP connections it saw, and the
loop lag: p50/p99 over the probe's samples, for the steady window and the start-up phase
apart, plus the longest stall (a percentile over samples counts a 20-second stall as one
sample among thousands) and a time-weighted p99 (see ``time_weighted_p99``). Peak RSS
covers the whole run (VmHWM reset when the triggers start).

HTTPS by default, because the real API is HTTPS and a client that opens connections pays a TLS
handshake for each: the emulator serves a certificate for 127.0.0.1 (ECDSA P-256) signed by a CA
made for the run, and both clients verify it, told the way a deployment would tell them (ours:
``REQUESTS_CA_BUNDLE``; the http provider's aiohttp default context: ``SSL_CERT_FILE``).
``--plain-http`` measures without TLS, as earlier versions of this script did.

TCP connections opened: the emulator's count of distinct connections that carried an API
request (``/_emulator/stats``), from just before the triggers start to the end of the window,
so start-up counts. The parent also samples the worker's open connections to the emulator every
2 s (psutil, from outside the worker; ~35 ms of the parent's CPU per sample at 1,000 sockets), for
the peak held at once.

The triggers are used only through their public API: constructed with ``job_id``,
``poll_interval`` and ``riffusion_conn_id``, and ``run()`` iterated until its one event.

The http provider's ``HttpSensorTrigger`` waits while the endpoint answers 404, so it polls the
same status endpoint for ids the emulator does not know (our trigger gets ``200 pending`` with
a JSON body to decode, strictly more work on our side). Its connection is
``AIRFLOW_CONN_RIFFUSION_HTTP`` with the bearer header in ``extra``. Logs of both go to a file
at INFO, as in a triggerer. Goals, for ours: at most 32 TCP connections opened for the 1,000
waits, at most 0.3 x the http trigger's CPU per poll, and a loop lag p99 under 100 ms (start-up
and steady window alike).

The poll interval defaults to the provider's own default, 10 s (100 polls/s for 1,000 triggers):
at 1 s (1,000 polls/s) this 2-core machine, shared with the emulator and other work, reached
only 30-45 % of the asked rate with either trigger, so the loop-lag figures measured overload
rather than the triggers. The window is a whole number of intervals (6, quick: 1), because
triggers started together poll in waves.

    python benchmarks/trigger_scale.py [--quick] [--plain-http] [--triggers 1000] [--poll-interval 10] [--window 60]
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    PYTHON,
    EmulatorProcess,
    Figure,
    Report,
    TlsFiles,
    base_parser,
    child_env,
    exit_cleanly_on_sigterm,
    http_connection,
    make_tls_files,
    make_token,
    peak_rss_kib,
    percentile,
    reset_peak_rss,
    riffusion_conn_json,
    rss_kib,
    scrub,
    temp_dir,
)

CPU_GOAL_RATIO = 0.3
CONNECTIONS_GOAL = 32
"""TCP connections our triggers may open for 1,000 waits, start-up included (a shared pool, not one each)."""
LAG_GOAL_MS = 100.0
PROBE_SECONDS = 0.01
SAMPLE_SECONDS = 2.0
"""How often the parent counts the worker's open connections (each count reads /proc: not free)."""
RIFFUSION_CONN_ID = "riffusion_default"
HTTP_CONN_ID = "riffusion_http"


# -- the worker: one event loop, like the triggerer's ------------------------------------------------


def time_weighted_p99(lags: list[float]) -> float:
    """The delay that a callback becoming ready at a random moment exceeds with 1 % probability.

    A probe sample that woke ``lag`` late stands for a stall of ``lag`` seconds; a callback ready
    at a uniformly random moment inside it waits for the rest of it. So P(wait > x) is
    sum(max(0, lag - x)) over the phase's length, and this is the x where that equals 1 %. Unlike
    a percentile over samples, it cannot hide one 20-second stall among thousands of samples.
    """
    total = sum(PROBE_SECONDS + lag for lag in lags)
    target = 0.01 * total
    low, high = 0.0, max(lags, default=0.0)
    if sum(lags) <= target:
        return 0.0
    for _ in range(60):  # bisection on a decreasing piecewise-linear function
        middle = (low + high) / 2
        if sum(max(0.0, lag - middle) for lag in lags) > target:
            low = middle
        else:
            high = middle
    return high


def _make_triggers(kind: str, job_ids: list[str], poll_interval: float) -> list[Any]:
    if kind == "ours":
        from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger

        return [
            UploadCompletedTrigger(job_id=job_id, poll_interval=poll_interval, riffusion_conn_id=RIFFUSION_CONN_ID)
            for job_id in job_ids
        ]
    from airflow.providers.http.triggers.http import HttpSensorTrigger

    return [
        HttpSensorTrigger(
            endpoint="music/upload-audio/",
            http_conn_id=HTTP_CONN_ID,
            method="GET",
            data={"id": f"unknown-{job_id}"},
            poke_interval=poll_interval,
        )
        for job_id in job_ids
    ]


async def _run_triggers(triggers: list[Any], settings: dict[str, Any]) -> dict[str, Any]:
    import psutil

    root_url = settings["root_url"]
    # One client context for the benchmark's own stats calls, made before anything is measured.
    context = ssl.create_default_context(cafile=settings["ca_file"]) if settings["ca_file"] else None
    emulator = psutil.Process(settings["emulator_pid"])

    def stats() -> dict[str, int]:
        connection = http_connection(root_url, context)
        try:
            connection.request("GET", "/_emulator/stats")
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()

    lags: list[tuple[float, float]] = []
    running = True

    async def probe() -> None:
        while running:
            before = time.perf_counter()
            await asyncio.sleep(PROBE_SECONDS)
            lags.append((before, time.perf_counter() - before - PROBE_SECONDS))

    ended: list[str] = []

    async def consume(trigger: Any) -> None:
        try:
            async for event in trigger.run():
                ended.append(f"event {event.payload!r:.300}")
                return
            ended.append("run() returned without an event")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            ended.append(f"{type(error).__name__}: {error!s:.300}")

    n = len(triggers)
    probe_task = asyncio.create_task(probe())
    await asyncio.sleep(0.5)
    start_stats = await asyncio.to_thread(stats)
    method = reset_peak_rss()
    rss_before = rss_kib()
    cpu_start, t_start = time.process_time(), time.perf_counter()
    tasks = [asyncio.create_task(consume(trigger)) for trigger in triggers]

    # Start-up: until the emulator has answered about one poll per trigger.
    startup_deadline = t_start + settings["startup_timeout"]
    while time.perf_counter() < startup_deadline:
        current = await asyncio.to_thread(stats)
        if current["requests"] - start_stats["requests"] >= n:
            break
        await asyncio.sleep(0.25)
    t_started = time.perf_counter()
    startup_seconds, startup_cpu = t_started - t_start, time.process_time() - cpu_start
    startup_requests = current["requests"] - start_stats["requests"]
    await asyncio.sleep(settings["poll_interval"])  # let the first-poll wave pass

    window_stats = await asyncio.to_thread(stats)
    emulator_cpu = sum(emulator.cpu_times()[:2])
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(settings["window"])
    cpu1, t1 = time.process_time(), time.perf_counter()
    emulator_cpu = sum(emulator.cpu_times()[:2]) - emulator_cpu
    emulator_threads = emulator.num_threads()
    end_stats = await asyncio.to_thread(stats)
    alive = sum(not task.done() for task in tasks)

    running = False
    for task in tasks:
        task.cancel()
    _done, stuck = await asyncio.wait(tasks, timeout=30)
    await probe_task

    polls = end_stats["requests"] - window_stats["requests"]
    phases = {"window": (t0, t1), "startup": (t_start, t_started)}
    lag_figures: dict[str, Any] = {}
    for phase, (begin, end) in phases.items():
        phase_lags = [lag for when, lag in lags if begin <= when < end]
        lag_figures[phase] = {
            "samples": len(phase_lags),
            "p50_ms": percentile(phase_lags, 50) * 1000 if phase_lags else None,
            "p99_ms": percentile(phase_lags, 99) * 1000 if phase_lags else None,
            "time_p99_ms": time_weighted_p99(phase_lags) * 1000 if phase_lags else None,
            "max_ms": max(phase_lags) * 1000 if phase_lags else None,
            "stalled_share": sum(lag for lag in phase_lags if lag > 0.1) / max(end - begin, 1e-9),
        }
    return {
        "triggers": n,
        "alive_at_window_end": alive,
        "ended_early": len(ended),
        "ended_examples": sorted(set(ended))[:5],
        "stuck_after_cancel": len(stuck),
        "startup_seconds": startup_seconds,
        "startup_cpu": startup_cpu,
        "startup_requests": startup_requests,
        "window_seconds": t1 - t0,
        "window_cpu": cpu1 - cpu0,
        "polls": polls,
        "expected_polls": n * (t1 - t0) / settings["poll_interval"],
        "cpu_per_1000_polls": (cpu1 - cpu0) / polls * 1000 if polls else None,
        "emulator_cpu_per_1000_polls": emulator_cpu / polls * 1000 if polls else None,
        "emulator_threads": emulator_threads,
        "new_connections_in_window": end_stats["connections"] - window_stats["connections"],
        "connections_opened": end_stats["connections"] - start_stats["connections"],
        "requests_in_run": end_stats["requests"] - start_stats["requests"],
        "lag": lag_figures,
        "rss_before_mib": rss_before / 1024,
        "peak_rss_mib": peak_rss_kib(method) / 1024,
        "peak_method": method,
    }


def worker(kind: str, settings_path: str, result_path: str) -> None:
    settings = json.loads(Path(settings_path).read_text(encoding="utf-8"))
    triggers = _make_triggers(kind, settings["job_ids"], settings["poll_interval"])
    # Logs as a triggerer keeps them: formatted, at INFO, into a file (this process's stdout).
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    result = asyncio.run(_run_triggers(triggers, settings))
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")


# -- the parent --------------------------------------------------------------------------------------------


def make_uploads(emulator: EmulatorProcess, token: str, count: int) -> list[str]:
    """``count`` small uploads over one keep-alive connection; their status ids."""
    path = emulator.base_url.split(emulator.root_url, 1)[1] + "/music/upload-audio/"
    body = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(1024)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "audio/mpeg"}
    connection = emulator.connection()
    ids = []
    try:
        for index in range(count):
            connection.request("POST", f"{path}?file_name=wait-{index}", body=body, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
            if response.status != 200:
                raise RuntimeError(f"upload {index} answered {response.status}: {answer}")
            ids.append(answer.get("id") or answer["job_id"])
    finally:
        connection.close()
    return ids


def open_connections_to(pid: int, port: int) -> int:
    """TCP connections process ``pid`` holds open to ``port`` now (read from outside it, in /proc)."""
    import psutil

    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0
    return sum(1 for c in connections if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


def run_kind(kind: str, args: Any, token: str, work: Path, tls: TlsFiles | None) -> dict[str, Any]:
    """One emulator and one worker for one kind of trigger (fresh emulator: no leftover threads)."""
    with EmulatorProcess(token, work, pending_polls=10**9, tls=tls) as emulator:
        job_ids = make_uploads(emulator, token, args.triggers)
        emulator_port = int(emulator.root_url.rsplit(":", 1)[1])
        settings = {
            "job_ids": job_ids,
            "poll_interval": args.poll_interval,
            "window": args.window,
            "startup_timeout": args.startup_timeout,
            "root_url": emulator.root_url,
            "ca_file": str(tls.ca) if tls is not None else None,
            "emulator_pid": emulator.pid,
        }
        settings_path, result_path, log_path = (work / f"{kind}-{name}" for name in ("settings.json", "result.json",
                                                                                   "worker.log"))  # fmt: skip
        settings_path.write_text(json.dumps(settings), encoding="utf-8")
        env = child_env(
            work,
            AIRFLOW_CONN_RIFFUSION_DEFAULT=riffusion_conn_json(emulator.base_url, token),
            AIRFLOW_CONN_RIFFUSION_HTTP=json.dumps(
                {"conn_type": "http", "host": emulator.base_url + "/", "extra": {"Authorization": f"Bearer {token}"}}
            ),
        )
        if tls is not None:
            env = tls.trusting(env)
        budget = args.startup_timeout + args.poll_interval + args.window + 120
        peak_open = 0
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [PYTHON, __file__, "--worker", kind, str(settings_path), str(result_path)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + budget
                while process.poll() is None:
                    if time.monotonic() > deadline:
                        raise subprocess.TimeoutExpired(process.args, budget)
                    peak_open = max(peak_open, open_connections_to(process.pid, emulator_port))
                    time.sleep(SAMPLE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
                raise RuntimeError(f"{kind} worker did not finish within {budget:g} s") from None
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)
        text = log_path.read_text(encoding="utf-8", errors="replace")
        if process.returncode != 0 or not result_path.exists():
            raise RuntimeError(f"{kind} worker exited {process.returncode}: {scrub(text[-2000:], token)}")
        result = json.loads(result_path.read_text(encoding="utf-8"))
        result["log_lines"] = text.count("\n")
        result["peak_open_connections"] = peak_open
        result["ended_examples"] = [scrub(example, token) for example in result["ended_examples"]]
        if emulator.process is not None and emulator.process.poll() is not None:
            result["emulator_died"] = emulator.log_tail()
        return result


def measure(args: Any) -> Report:
    report = Report("trigger_scale")
    token = make_token()
    results: dict[str, dict[str, Any]] = {}
    with temp_dir("riffusion-bench-triggers-") as work:
        tls = None if args.plain_http else make_tls_files(work / "tls")
        for kind in ("ours", "http"):
            results[kind] = run_kind(kind, args, token, work, tls)
    ours, theirs = results["ours"], results["http"]
    transport = "plain HTTP" if args.plain_http else "HTTPS (TLS, certificate verified against the run's CA)"
    names = {"ours": "UploadCompletedTrigger", "http": "HttpSensorTrigger"}
    for kind, result in results.items():
        name = names[kind]
        rate = result["polls"] / result["expected_polls"] if result["expected_polls"] else 0
        report.add(
            f"{name}: CPU per 1,000 polls",
            result["cpu_per_1000_polls"],
            "s",
            detail=f"{result['polls']} polls in {result['window_seconds']:.0f} s = {rate:.0%} of the "
            f"{result['triggers']} x 1/{args.poll_interval:g} s asked; emulator CPU "
            f"{result['emulator_cpu_per_1000_polls'] or 0:.2f} s per 1,000 polls",
        )
        for phase, label in (("window", "steady window"), ("startup", "start-up")):
            lag = result["lag"][phase]
            report.add(
                f"{name}: event-loop lag p99, {label}",
                lag["p99_ms"],
                "ms",
                goal=f"< {LAG_GOAL_MS:g} ms" if kind == "ours" else "",
                ok=(lag["p99_ms"] is not None and lag["p99_ms"] < LAG_GOAL_MS) if kind == "ours" else None,
                detail=f"over {lag['samples']} probe samples, p50 {lag['p50_ms']:.1f} ms; time-weighted p99 "
                f"{lag['time_p99_ms']:.0f} ms; stalled > 100 ms {lag['stalled_share']:.0%} of the time",
            )
        longest = max(result["lag"][phase]["max_ms"] or 0 for phase in ("window", "startup"))
        report.add(
            f"{name}: longest event-loop stall",
            longest,
            "ms",
            detail="one probe sample, however long the stall: percentiles over samples cannot show it",
        )
        if longest > 1000:
            report.note(f"{name}: the event loop stalled for {longest / 1000:.1f} s in one piece")
        report.add(
            f"{name}: TCP connections opened for {result['triggers']:,} waits",
            result["connections_opened"],
            "",
            goal=f"<= {CONNECTIONS_GOAL}" if kind == "ours" else "",
            ok=result["connections_opened"] <= CONNECTIONS_GOAL if kind == "ours" else None,
            detail=f"start-up and window, {result['requests_in_run']} polls; at most "
            f"{result['peak_open_connections']} open at once (sampled every {SAMPLE_SECONDS:g} s)",
        )
        report.add(
            f"{name}: new TCP connections per poll (steady window)",
            result["new_connections_in_window"] / result["polls"] if result["polls"] else None,
            "",
            detail=f"{result['new_connections_in_window']} connections for {result['polls']} polls; "
            f"emulator threads at the end {result['emulator_threads']}",
        )
        report.add(
            f"{name}: peak RSS",
            result["peak_rss_mib"],
            "MiB",
            detail=f"{result['peak_rss_mib'] - result['rss_before_mib']:.0f} MiB above the "
            f"{result['rss_before_mib']:.0f} MiB before the triggers started",
        )
        report.add(
            f"{name}: start-up (first poll of all {result['triggers']})",
            result["startup_cpu"],
            "s CPU",
            detail=f"{result['startup_seconds']:.1f} s wall, {result['startup_requests']} polls answered; "
            f"{result['log_lines']} log lines in the whole run",
        )
        if result["startup_requests"] < result["triggers"]:
            report.note(
                f"{name}: start-up never completed: {result['startup_requests']} polls answered for "
                f"{result['triggers']} triggers within {args.startup_timeout:g} s (TLS trust? see the worker log)"
            )
        if result["ended_early"] or result["alive_at_window_end"] != result["triggers"]:
            report.note(
                f"{name}: {result['ended_early']} triggers ended before the window closed "
                f"({result['alive_at_window_end']} alive of {result['triggers']}): {result['ended_examples']}"
            )
        if result["polls"] < 0.5 * result["expected_polls"]:
            report.note(
                f"{name}: only {rate:.0%} of the asked poll rate was achieved (interval plus answer time is the "
                "ceiling): the emulator or the loop could not keep up; read CPU per poll with that in mind"
            )
        if result.get("emulator_died"):
            report.note(f"{name}: the emulator died: {result['emulator_died']}")
    if ours["cpu_per_1000_polls"] and theirs["cpu_per_1000_polls"]:
        ratio = ours["cpu_per_1000_polls"] / theirs["cpu_per_1000_polls"]
        report.figures.insert(
            0,
            Figure(
                "ours / http trigger CPU per poll",
                ratio,
                "x",
                goal=f"<= {CPU_GOAL_RATIO:g}",
                ok=ratio <= CPU_GOAL_RATIO,
                detail=f"{args.triggers} triggers each, poll interval {args.poll_interval:g} s, "
                f"{args.window:g} s window, over {transport}",
            ),
        )
    report.note(f"transport: {transport}")
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker(argv[1], argv[2], argv[3])
        return 0
    exit_cleanly_on_sigterm()
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=1000, help="concurrent triggers (default 1000)")
    parser.add_argument(
        "--poll-interval", type=float, default=10.0, help="seconds between polls (default 10, the provider's default)"
    )
    parser.add_argument("--window", type=float, default=None, help="measured seconds (default 6, quick 1 intervals)")
    parser.add_argument("--startup-timeout", type=float, default=90, help="max seconds for the first polls")
    parser.add_argument(
        "--plain-http", action="store_true", help="serve and poll over plain HTTP (default: HTTPS with a run's own CA)"
    )
    args = parser.parse_args(argv)
    if args.window is None:
        # Whole intervals: triggers started together poll in waves, so a window of k intervals holds k waves.
        args.window = args.poll_interval * (1 if args.quick else 6)
    report = measure(args)
    report.print()
    report.save(args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
