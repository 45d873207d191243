"""A real multi-process Airflow for end-to-end tests: scheduler, dag-processor, triggerer and api-server.

Each component is its own ``airflow`` process (in its own process group) sharing a temporary
AIRFLOW_HOME with a SQLite database, LocalExecutor and the api-server on a free loopback port.
Every wait is a poll with a deadline, and ``stop()`` ends every process group it started (SIGTERM,
then SIGKILL after a deadline), so a failing test cannot leave Airflow running.

Measured on 2 cores with Airflow 3.3.2: ``db migrate`` about 5 s, the four components healthy about
13 s later, a graceful stop about 3-5 s. LocalExecutor (Airflow 3.3's default) runs on SQLite: 3.3
does not refuse the combination, unlike 2.x.

What Airflow 3.3 records, which the tests read:

- ``task_instance`` / ``dag_run`` states and ``xcom`` values in the SQLite database;
- the ``log`` table: one row per state change of a task (``running``, ``deferred``, ``success`` ...);
- the ``trigger`` table while a task is deferred (the row is deleted when the trigger fires), with
  ``classpath`` and ``triggerer_id`` (the ``job`` row of the triggerer running it);
- the trigger's own log lines, which the triggerer writes not to its stdout but to
  ``logs/dag_id=D/run_id=R/task_id=T/attempt=N.log.trigger.<triggerer job id>.log``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from airflow_provider_riffusion.testing.dag_run import airflow_env, airflow_executable

T = TypeVar("T")

COMPONENTS: dict[str, tuple[str, ...]] = {
    # --skip-serve-logs: LocalExecutor and the triggerer write logs to local files anyway, and the log
    # servers would otherwise listen on fixed ports (8793, 8794) on every interface.
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer", "--skip-serve-logs"),
    "api-server": ("api-server", "--host", "127.0.0.1", "--port", "{api_port}"),
    # Celery workers (tests/test_celery.py): each its own pid file and queue; no log server (the api-server
    # reads the logs folder), so no fixed port either.
    **{
        f"celery-worker-{name}": (
            "celery",
            "worker",
            "--celery-hostname",
            f"{name}@localhost",
            "--concurrency",
            "1",
            "--pid",
            f"{{home}}/worker-{name}.pid",
            "--skip-serve-logs",
            "--queues",
            f"{{queues_{name}}}",
        )
        for name in ("a", "b")
    },
}
HEALTH_KEYS = {
    "scheduler": "scheduler",
    "dag-processor": "dag_processor",
    "triggerer": "triggerer",
    "api-server": "metadatabase",
}
"""What the api-server's health endpoint reports for each component (the api-server: its database)."""
FINAL_RUN_STATES = frozenset({"success", "failed"})
FINAL_TASK_STATES = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})


def title_slug(title: str) -> str:
    """A song title as the names of the files stored for it begin: lower-case ASCII letters and digits, dashes
    between (a title is no fixed text: the service gives it)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def example_on_connection(example: Path, dag_id: str, conn_id: str, folder: Path) -> Path:
    """A copy of an example DAG file, written into ``folder``, as another DAG (``dag_id``) whose provider tasks use
    the connection ``conn_id`` (``default_args``): so one cluster runs the same tasks against a second service
    beside the first (an ``AIRFLOW_CONN_*`` variable is one per process; a task names its connection). Fails when
    the example no longer declares its dag_id as this expects."""
    source = example.read_text()
    declared = f'dag_id="{example.stem}",'
    assert source.count(declared) == 1 and "default_args" not in source, f"{example} changed: update this copy"
    path = folder / f"{dag_id}.py"
    path.write_text(
        source.replace(declared, f'dag_id="{dag_id}",\n    default_args={{"riffusion_conn_id": "{conn_id}"}},')
    )
    return path


class ClusterError(AssertionError):
    """A wait that ran out of time or a component that died: the message carries the diagnostics."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.5,
    describe: Callable[[], str] | None = None,
) -> T:
    """Call ``check`` until it returns something other than None/False; fail with ``ClusterError`` at ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            details = describe() if describe else ""
            raise ClusterError(f"Timed out after {timeout:g} s waiting for {what}.\n{details}".rstrip())
        time.sleep(interval)


def _signal_group(pgid: int, signum: int) -> bool:
    """Signal a process group we created; False when nothing is left in it."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - only zombies left, which we reap ourselves
        return True
    return True


def _group_alive(pgid: int) -> bool:
    return _signal_group(pgid, 0)


@dataclass
class Component:
    """One running ``airflow <component>`` process, leader of its own process group."""

    name: str
    process: subprocess.Popen[bytes]
    output_path: Path
    output: IO[bytes]
    started: float = field(default_factory=time.monotonic)
    terminated: bool = False
    killed: bool = False
    stopped_in: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> None:
        """SIGTERM the leader once (a second SIGTERM makes Airflow components skip their clean shutdown)."""
        if not self.terminated and self.running():
            self.process.send_signal(signal.SIGTERM)
        self.terminated = True

    def stop(self, timeout: float, began: float | None = None) -> float:
        """SIGTERM the leader, wait up to ``timeout``, then SIGKILL the whole group; return the seconds it took.

        ``began``: when the SIGTERM was sent, if the caller sent it (``terminate()``) before calling this.
        """
        began = time.monotonic() if began is None else began
        self.terminate()
        try:
            self.process.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            self.killed = True
            _signal_group(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.reap_group(timeout=min(timeout, 5.0))
        self.output.close()
        if self.stopped_in is None:
            self.stopped_in = time.monotonic() - began
        return self.stopped_in

    def reap_group(self, timeout: float) -> None:
        """Children left in the group after the leader exited (executor workers ...) get SIGTERM, then SIGKILL."""
        if not _group_alive(self.pid):
            return
        _signal_group(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _group_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _signal_group(self.pid, signal.SIGKILL):
            self.killed = True

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.output_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class AirflowCluster:
    """Scheduler, dag-processor, triggerer and api-server of Airflow 3 in a temporary AIRFLOW_HOME.

    ``root`` holds ``airflow-home/`` (AIRFLOW_HOME, with the SQLite DB and ``logs/``), ``dags/``
    (copies of ``dag_files``), ``output/`` (the captured stdout+stderr of every process and CLI
    call) and ``tmp/`` (TMPDIR of every process). ``env`` adds to or overrides the environment.
    ``components`` chooses which start (the api-server always does: health is read from it).
    """

    def __init__(
        self,
        root: Path,
        dag_files: list[Path],
        env: dict[str, str] | None = None,
        components: Sequence[str] = ("scheduler", "dag-processor", "triggerer", "api-server"),
        *,
        component_env: dict[str, dict[str, str]] | None = None,
        arguments: dict[str, str] | None = None,
    ) -> None:
        unknown = set(components) - set(COMPONENTS)
        assert not unknown, f"unknown components {sorted(unknown)}; choose from {list(COMPONENTS)}"
        self.wanted = [name for name in COMPONENTS if name in components or name == "api-server"]
        self.component_env = component_env or {}
        """Environment of single components on top of ``env`` (a worker's own name, its own temp dir)."""
        self.arguments = arguments or {}
        """Values for the placeholders of ``COMPONENTS`` beyond the port and the home (a worker's queues)."""
        self.root = root
        self.home = root / "airflow-home"
        self.dags_folder = root / "dags"
        self.output_dir = root / "output"
        self.tmp_dir = root / "tmp"
        for folder in (self.home, self.dags_folder, self.output_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        for dag_file in dag_files:
            (self.dags_folder / dag_file.name).write_bytes(dag_file.read_bytes())
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        bin_dir = str(Path(sys.executable).parent)
        self.env = airflow_env(
            self.home,
            self.dags_folder,
            {
                "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
                "TMPDIR": str(self.tmp_dir),
                "PYTHONUNBUFFERED": "1",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                # The task supervisor often notices its task's exit only at its next wake-up, up to
                # min_heartbeat_interval (5 s) later; every executor report, and so every deferral's
                # settling, waits for it.
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                # No generated admin password printed to the api-server's output.
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                **(env or {}),
            },
        )
        self.env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
        self.airflow = airflow_executable()
        self.components: dict[str, Component] = {}
        self.retired: list[Component] = []
        self._outputs = 0

    # -- lifecycle --

    def __enter__(self) -> AirflowCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = 120) -> float:
        """Migrate the DB, start the components, wait until the api-server reports them all healthy."""
        began = time.monotonic()
        # Migrating first also writes airflow.cfg (with its generated JWT secret) that all processes share.
        self.cli("db", "migrate", timeout=timeout)
        for name in self.wanted:
            self.start_component(name)
        self.wait_healthy(timeout=max(timeout - (time.monotonic() - began), 10))
        return time.monotonic() - began

    def start_component(self, name: str) -> Component:
        if name in self.components and self.components[name].running():
            raise RuntimeError(f"{name} is already running (pid {self.components[name].pid})")
        self._outputs += 1
        output_path = self.output_dir / f"{self._outputs:02d}-{name}.log"
        output = output_path.open("wb")
        fields = {"api_port": self.api_port, "home": self.home, **self.arguments}
        argv = [self.airflow, *(arg.format(**fields) for arg in COMPONENTS[name])]
        process = subprocess.Popen(
            argv,
            env={**self.env, **self.component_env.get(name, {})},
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches every child
        )
        component = Component(name, process, output_path, output)
        self.components[name] = component
        return component

    def stop_component(self, name: str, timeout: float = 20) -> float:
        """Stop one component (SIGTERM, SIGKILL after ``timeout``); return how long it took."""
        component = self.components.pop(name)
        self.retired.append(component)
        return component.stop(timeout)

    def stop(self, timeout: float = 20) -> float:
        """Stop everything still running: SIGTERM all leaders at once, SIGKILL any group left at the deadline."""
        began = time.monotonic()
        components = list(self.components.values())
        self.retired.extend(components)
        self.components.clear()
        for component in components:
            component.terminate()
        deadline = began + timeout
        for component in components:
            component.stop(max(deadline - time.monotonic(), 0.1), began=began)
        for component in self.retired:  # anything a retired leader left behind
            component.reap_group(timeout=1)
        return time.monotonic() - began

    def stop_report(self) -> str:
        """How each stopped process ended: seconds to stop, and whether SIGKILL was needed."""
        return ", ".join(
            f"{c.name} {c.stopped_in:.1f} s{' (SIGKILL)' if c.killed else ''}"
            for c in self.retired
            if c.stopped_in is not None
        )

    # -- health --

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as response:
                return dict(json.loads(response.read()))
        except (OSError, ValueError, urllib.error.URLError):
            return None

    def is_healthy(self) -> bool:
        health = self.health() or {}
        reported = [name for name in self.wanted if name in HEALTH_KEYS]
        workers = [self.components[name] for name in self.wanted if name not in HEALTH_KEYS]
        return all((health.get(HEALTH_KEYS[name]) or {}).get("status") == "healthy" for name in reported) and all(
            " ready." in worker.output_path.read_text(errors="replace") for worker in workers
        )

    def get_json(self, path: str) -> Any:
        """GET ``path`` from the api-server (public endpoints, or any with the simple auth manager's all-admins)."""
        with urllib.request.urlopen(f"{self.api_url}{path}", timeout=10) as response:
            return json.loads(response.read())

    def wait_healthy(self, timeout: float) -> None:
        def check() -> bool:
            self.check_alive()
            return self.is_healthy()

        poll(
            check,
            timeout=timeout,
            what=f"{', '.join(self.wanted)} to report healthy",
            describe=self.diagnostics,
        )

    def check_alive(self) -> None:
        """Fail at once (with their output) when a component died instead of waiting out a deadline."""
        dead = [component for component in self.components.values() if not component.running()]
        if dead:
            names = ", ".join(f"{c.name} (exit {c.process.returncode})" for c in dead)
            raise ClusterError(f"Airflow component(s) exited: {names}.\n{self.diagnostics()}")

    # -- the CLI --

    def cli(self, *args: str, timeout: float = 90) -> str:
        """Run ``airflow ARGS`` in the cluster's environment; return its output, raise on failure or timeout."""
        self._outputs += 1
        output_path = self.output_dir / f"{self._outputs:02d}-cli-{'-'.join(args[:2])}.log"
        with output_path.open("wb") as output:
            process = subprocess.Popen(
                [self.airflow, *args],
                env=self.env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                raise ClusterError(
                    f"`airflow {' '.join(args)}` did not finish in {timeout:g} s:\n"
                    f"{output_path.read_text(errors='replace')[-3000:]}"
                ) from None
            finally:
                _signal_group(process.pid, signal.SIGKILL)  # nothing of a finished CLI call may linger
        text = output_path.read_text(errors="replace")
        if returncode != 0:
            raise ClusterError(f"`airflow {' '.join(args)}` exited {returncode}:\n{text[-3000:]}")
        return text

    # -- the metadata database --

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the SQLite DB (briefly: Airflow's processes write to it concurrently)."""
        db = sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def wait_for_dag(self, dag_id: str, timeout: float = 60) -> None:
        """Until the dag-processor has stored the DAG (needed before unpause/trigger)."""

        def check() -> bool:
            self.check_alive()
            return bool(self.query("SELECT 1 FROM dag WHERE dag_id = ?", dag_id))

        poll(
            check,
            timeout=timeout,
            what=f"the dag-processor to store DAG {dag_id!r}",
            describe=lambda: self.diagnostics(import_errors=True),
        )

    def trigger(self, dag_id: str, run_id: str) -> str:
        """``airflow dags trigger`` with a known run id."""
        self.cli("dags", "trigger", dag_id, "--run-id", run_id, "--output", "json")
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return rows[0][0] if rows else None

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        rows = self.query("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return dict(rows)

    def active_triggers(self, dag_id: str, run_id: str) -> list[tuple[str, str, int | None]]:
        """(task_id, trigger classpath, triggerer job id) of the run's deferred tasks right now."""
        return self.query(
            "SELECT ti.task_id, t.classpath, t.triggerer_id FROM task_instance AS ti "
            "JOIN trigger AS t ON ti.trigger_id = t.id WHERE ti.dag_id = ? AND ti.run_id = ?",
            dag_id,
            run_id,
        )

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float,
        on_poll: Callable[[], None] | None = None,
    ) -> str:
        """Until the run is success or failed; ``on_poll`` runs at every poll (to sample the trigger table)."""

        def check() -> str | None:
            self.check_alive()
            if on_poll is not None:
                on_poll()
            state = self.run_state(dag_id, run_id)
            return state if state in FINAL_RUN_STATES else None

        return poll(
            check,
            timeout=timeout,
            what=f"run {run_id!r} of {dag_id!r} to finish",
            describe=lambda: self.diagnostics(dag_id, run_id),
        )

    def wait_for_task_state(self, dag_id: str, run_id: str, task_id: str, state: str, timeout: float) -> None:
        def check() -> bool:
            self.check_alive()
            current = self.task_states(dag_id, run_id).get(task_id)
            if current in FINAL_TASK_STATES and current != state:
                raise ClusterError(
                    f"{task_id} became {current!r} while waiting for {state!r}.\n{self.diagnostics(dag_id, run_id)}"
                )
            return current == state

        poll(
            check,
            timeout=timeout,
            what=f"task {task_id!r} of run {run_id!r} to be {state!r}",
            interval=0.25,
            describe=lambda: self.diagnostics(dag_id, run_id),
        )

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        rows = self.query(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ? AND map_index = -1",
            dag_id,
            run_id,
            task_id,
            key,
        )
        if not rows:
            raise KeyError(f"no XCom {key!r} of {task_id!r} in run {run_id!r}: {self.task_states(dag_id, run_id)}")
        value = rows[0][0]
        decoded = json.loads(value.decode() if isinstance(value, bytes) else value)
        if isinstance(decoded, str):  # some versions store the JSON text as a JSON string
            try:
                return json.loads(decoded)
            except ValueError:
                return decoded
        return decoded

    def task_events(self, dag_id: str, run_id: str, task_id: str) -> list[str]:
        """The state changes Airflow logged for a task, oldest first (the ``log`` table)."""
        rows = self.query(
            "SELECT event FROM log WHERE dag_id = ? AND run_id = ? AND task_id = ? ORDER BY id",
            dag_id,
            run_id,
            task_id,
        )
        return [row[0] for row in rows]

    def scheduler_processed_deferral(self, dag_id: str, run_id: str, task_id: str) -> bool:
        """Whether the scheduler has handled the executor's report of the worker that deferred the task.

        Until it has, a trigger that fires hits Airflow 3.3's race between that stale "success" report
        and the resumed task (apache/airflow#66374, #72716): the scheduler marks the task failed.
        """
        wanted = f"TaskInstance Finished: dag_id={dag_id}, task_id={task_id}, run_id={run_id},"
        for component in [*self.retired, *self.components.values()]:
            if component.name != "scheduler":
                continue
            for line in component.output_path.read_text(errors="replace").splitlines():
                if wanted in line and ", state=deferred," in line:
                    return True
        return False

    def jobs(self, job_type: str) -> dict[int, tuple[str | None, Any]]:
        """``job`` rows of one type: id -> (state, end_date)."""
        rows = self.query("SELECT id, state, end_date FROM job WHERE job_type = ? ORDER BY id", job_type)
        return {row[0]: (row[1], row[2]) for row in rows}

    # -- files --

    def task_log_dir(self, dag_id: str, run_id: str, task_id: str) -> Path:
        """Where the default ``log_filename_template`` puts a task's logs."""
        return self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"

    def trigger_logs(self, dag_id: str, run_id: str, task_id: str) -> dict[int, Path]:
        """The trigger log files of a task, keyed by the triggerer job id that wrote each."""
        found: dict[int, Path] = {}
        for path in self.task_log_dir(dag_id, run_id, task_id).glob("attempt=*.log.trigger.*.log"):
            job_id = path.name.rsplit(".trigger.", 1)[1].removesuffix(".log")
            if job_id.isdigit():
                found[int(job_id)] = path
        return found

    def captured_outputs(self) -> list[Path]:
        """Everything the processes and CLI calls printed (stdout and stderr)."""
        return sorted(self.output_dir.glob("*.log"))

    def files(self) -> Iterator[Path]:
        """Every file under AIRFLOW_HOME (logs, config, DB) and every captured output."""
        for base in (self.home, self.output_dir):
            for path in sorted(base.rglob("*")):
                if path.is_file():
                    yield path

    def files_containing(self, needle: str) -> list[Path]:
        data = needle.encode()
        hits = []
        for path in self.files():
            try:
                if data in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
        return hits

    # -- diagnostics --

    def diagnostics(self, dag_id: str | None = None, run_id: str | None = None, *, import_errors: bool = False) -> str:
        parts: list[str] = []
        if dag_id and run_id:
            try:
                parts.append(f"run state: {self.run_state(dag_id, run_id)}; tasks: {self.task_states(dag_id, run_id)}")
                parts.append(f"active triggers: {self.active_triggers(dag_id, run_id)}")
            except sqlite3.Error as error:
                parts.append(f"(DB not readable: {error})")
        if import_errors:
            with contextlib.suppress(sqlite3.Error):
                parts.append(f"import errors: {self.query('SELECT filename, stacktrace FROM import_error')}")
        for component in [*self.retired, *self.components.values()]:
            status = "running" if component.running() else f"exited {component.process.returncode}"
            parts.append(f"--- {component.name} (pid {component.pid}, {status}) {component.output_path.name}")
            parts.append(component.tail())
        if dag_id and run_id:
            for path in sorted(self.home.glob(f"logs/dag_id={dag_id}/run_id={run_id}/task_id=*/*")):
                text = path.read_text(errors="replace").splitlines()
                errors = [line[:600] for line in text if '"level":"error"' in line or "[error" in line]
                if errors:
                    parts.append(f"--- errors in {path.relative_to(self.home)}")
                    parts.extend(errors[-5:])
        return "\n".join(parts)
