"""Shared plumbing for the benchmarks: the emulator in its own process, workers, results.

Nothing here prints the token: it reaches the emulator and the workers through environment
variables (never a command line that ``ps`` shows), and every error text that leaves a child
process is scrubbed before it is shown.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable
TOKEN_ENV = "RIFFUSION_EMULATOR_TOKEN"
"""The emulator reads its token from here; the benchmarks never pass it on a command line."""
RESULT_PREFIX = "BENCH-RESULT "
MIB = 1024 * 1024


# -- results -------------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured number, with the goal it is held against (if any)."""

    name: str
    value: float | None
    unit: str
    goal: str = ""
    ok: bool | None = None
    detail: str = ""

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        if abs(self.value) >= 100 or float(self.value).is_integer():
            return f"{self.value:,.0f} {self.unit}".strip()
        return f"{self.value:.3g} {self.unit}".strip()


@dataclass
class Report:
    """What one benchmark script hands to ``run_all.py``."""

    script: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *args: Any, **kwargs: Any) -> Figure:
        figure = Figure(*args, **kwargs)
        self.figures.append(figure)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(text)

    def print(self) -> None:
        print(f"\n== {self.script} ==")
        width = max((len(f.name) for f in self.figures), default=10)
        for figure in self.figures:
            verdict = {True: "PASS", False: "FAIL", None: ""}[figure.ok]
            goal = f"  goal {figure.goal}" if figure.goal else ""
            print(f"  {figure.name:<{width}}  {figure.shown():>16}{goal}  {verdict}")
            if figure.detail:
                print(f"  {'':<{width}}    {figure.detail}")
        for text in self.notes:
            print(f"  note: {text}")

    def save(self, path: Path | None) -> None:
        if path is not None:
            path.write_text(
                json.dumps(
                    {"script": self.script, "figures": [asdict(f) for f in self.figures], "notes": self.notes}, indent=2
                ),
                encoding="utf-8",
            )


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM (``run_all.py`` running out of time) into SystemExit, so cleanup in ``finally`` runs."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def script_main(doc: str, measure: Callable[[bool], Any], worker: Callable[..., None], argv: list[str]) -> int:
    """The ``main`` of a benchmark script: ``--worker ARGS`` runs its worker, else measure and report."""
    if argv[:1] == ["--worker"]:
        worker(*argv[1:])
        return 0
    exit_cleanly_on_sigterm()
    args = base_parser(doc.splitlines()[0]).parse_args(argv)
    report = measure(args.quick)
    report.print()
    report.save(args.json_out)
    return 0


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions / smaller sizes (for a smoke run)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the figures here (run_all.py)")
    return parser


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


# -- secrets -------------------------------------------------------------------------------------


def make_token() -> str:
    return "bench-" + secrets.token_urlsafe(18)


def scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


# -- environment -----------------------------------------------------------------------------------


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def child_env(airflow_home: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker: a throwaway AIRFLOW_HOME, no inherited connections or config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.pop("AIRFLOW_CONFIG", None)
    env.update(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def riffusion_conn_json(base_url: str, token: str) -> str:
    return json.dumps({"conn_type": "riffusion", "password": token, "host": base_url})


def write_mp3(path: Path, size: int) -> Path:
    """An 'mp3' of ``size`` bytes written fast: an ID3 header, a little data, the rest a sparse hole."""
    with path.open("wb") as out:
        out.write(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 16)
        out.truncate(size)
    return path


# -- TLS: a CA made for the run, and a certificate for 127.0.0.1 that it signed -----------------------


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one run's CA and of the emulator's certificate; clients are told to trust ``ca`` only."""

    ca: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts the run's CA (for the benchmark's own control calls)."""
        return ssl.create_default_context(cafile=str(self.ca))

    def trusting(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` made to trust this CA only, the way a deployment tells each client: ``requests`` and our
        async client read ``REQUESTS_CA_BUNDLE`` (else ``CURL_CA_BUNDLE``); aiohttp's default context (the
        http provider's async hook) loads OpenSSL's default paths, which ``SSL_CERT_FILE`` and
        ``SSL_CERT_DIR`` override. Inherited system bundles are dropped, so both verify the same way."""
        env = {key: value for key, value in env.items() if key not in ("SSL_CERT_DIR", "CURL_CA_BUNDLE")}
        env.update(REQUESTS_CA_BUNDLE=str(self.ca), SSL_CERT_FILE=str(self.ca))
        return env


def make_tls_files(folder: Path) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1 signed by it (the emulator's own, ``testing/tls.py``): a real
    chain checked by each client, not ``verify=False``, so the handshake's cost is counted."""
    from airflow_provider_riffusion.testing.tls import write_ca_and_certificate

    return TlsFiles(*write_ca_and_certificate(folder, "riffusion benchmark CA"))


def serve_tls_emulator(argv: Sequence[str]) -> int:
    """``python benchmarks/_common.py --tls-emulator ...``: the emulator over HTTPS until SIGTERM.

    The emulator's command line has no TLS option (only its Python API takes an ``ssl_context``),
    so this is its command line's twin for HTTPS: same ``--port``/``--ready-file``/``--pending-polls``,
    token from ``$RIFFUSION_EMULATOR_TOKEN``, the base URL written atomically once listening.
    """
    parser = argparse.ArgumentParser(prog="_common.py --tls-emulator")
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--pending-polls", type=int, default=1)
    args = parser.parse_args(argv)
    from airflow_provider_riffusion.testing import RiffusionEmulator

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    stopping = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    emulator = RiffusionEmulator(
        token=os.environ[TOKEN_ENV], pending_polls=args.pending_polls, port=args.port, ssl_context=context
    )
    emulator.start()
    try:
        print(f"Riffusion emulator (TLS) listening on {emulator.base_url}", flush=True)
        partial = args.ready_file.with_name(args.ready_file.name + ".partial")
        partial.write_text(emulator.base_url + "\n", encoding="utf-8")
        os.replace(partial, args.ready_file)
        while not stopping.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


def http_connection(
    root_url: str, context: ssl.SSLContext | None = None, timeout: float = 60
) -> http.client.HTTPConnection:
    """A plain ``http.client`` connection to the emulator (HTTPS, verified with ``context``, for https URLs)."""
    parts = urllib.parse.urlsplit(root_url)
    assert parts.hostname is not None and parts.port is not None, root_url
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


# -- the emulator in another process -----------------------------------------------------------------


class EmulatorProcess:
    """``python -m airflow_provider_riffusion.testing --port 0 --ready-file F`` as a context manager.

    With ``tls`` it serves HTTPS with ``tls.cert`` instead (through ``serve_tls_emulator``, same options).
    """

    def __init__(
        self,
        token: str,
        workdir: Path,
        *,
        pending_polls: int = 1,
        extra_args: Sequence[str] = (),
        tls: TlsFiles | None = None,
    ) -> None:
        if tls is not None and extra_args:
            raise ValueError("the TLS emulator takes --pending-polls only")
        self.token = token
        self.workdir = workdir
        self.args = ["--pending-polls", str(pending_polls), *extra_args]
        self.tls = tls
        self.client_context = tls.client_context() if tls is not None else None
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.root_url = ""
        self._log = workdir / "emulator.log"

    def __enter__(self) -> EmulatorProcess:
        ready = self.workdir / f"emulator-ready-{os.getpid()}-{time.monotonic_ns()}"
        env = child_env(self.workdir, **{TOKEN_ENV: self.token})
        if self.tls is None:
            program = ["-m", "airflow_provider_riffusion.testing"]
        else:
            tls_args = ["--cert", str(self.tls.cert), "--key", str(self.tls.key)]
            program = [str(BENCH_DIR / "_common.py"), "--tls-emulator", *tls_args]
        with self._log.open("wb") as log:
            self.process = subprocess.Popen(
                [PYTHON, *program, "--port", "0", "--ready-file", str(ready), *self.args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                if self.process.poll() is not None:
                    raise RuntimeError(f"the emulator exited with {self.process.returncode}: {self.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the emulator did not start within 60 s: {self.log_tail()}")
                time.sleep(0.05)
            self.base_url = ready.read_text(encoding="utf-8").strip()
            match = re.match(r"(https?://[^/]+)", self.base_url)
            assert match, self.base_url
            self.root_url = match.group(1)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return scrub(self._log.read_text(encoding="utf-8", errors="replace")[-chars:], self.token)
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def control(self, name: str, payload: Any = None, timeout: float = 30) -> Any:
        url = f"{self.root_url}/_emulator/{name}"
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        # loopback only; over HTTPS verified against the run's CA
        with urllib.request.urlopen(request, timeout=timeout, context=self.client_context) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, int]:
        return self.control("stats")

    def connection(self, timeout: float = 60) -> http.client.HTTPConnection:
        """A keep-alive ``http.client`` connection to the emulator (HTTPS when it serves TLS)."""
        return http_connection(self.root_url, self.client_context, timeout)


# -- workers -------------------------------------------------------------------------------------------


def emit_result(result: Any) -> None:
    """A worker's answer: one line on stdout that the parent picks out."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_worker(args: Sequence[str], env: dict[str, str], *, timeout: float, token: str = "") -> Any:
    """Run ``python <args>`` and return the JSON it emitted; fail with its (scrubbed) output otherwise."""
    process = subprocess.Popen(
        [PYTHON, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
        tail = scrub(err.decode(errors="replace")[-1500:], token)
        raise RuntimeError(f"worker {args[:3]} did not finish within {timeout:g} s: {tail}") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    text = out.decode(errors="replace")
    for line in reversed(text.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    detail = scrub((err.decode(errors="replace") + text)[-2000:], token)
    raise RuntimeError(f"worker {args[:3]} exited {process.returncode} without a result: {detail}")


def rss_kib() -> int:
    """This process's resident set now (KiB)."""
    with contextlib.suppress(OSError, AttributeError):
        match = re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())
        if match:
            return int(match.group(1))
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak_rss() -> str:
    """Reset the kernel's peak-RSS mark (VmHWM) so a later ``peak_rss_kib`` covers only what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return "VmHWM after clear_refs"
    except OSError:
        return "ru_maxrss"


def peak_rss_kib(method: str) -> int:
    """Peak resident set (KiB): VmHWM when it could be reset, else ``ru_maxrss`` (the whole life)."""
    if method.startswith("VmHWM"):
        with contextlib.suppress(OSError):
            match = re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())
            if match:
                return int(match.group(1))
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def machine_summary() -> dict[str, str]:
    """nproc, CPU model and RAM, as the README table states them."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    load = "unknown"
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return {"nproc": str(os.cpu_count()), "cpu": model, "ram": ram, "loadavg": load, "python": sys.version.split()[0]}


if __name__ == "__main__":
    if sys.argv[1:2] != ["--tls-emulator"]:
        sys.exit("usage: python benchmarks/_common.py --tls-emulator --cert C --key K --ready-file F [...]")
    sys.exit(serve_tls_emulator(sys.argv[2:]))
