"""Run a DAG with ``airflow dags test`` in a throwaway AIRFLOW_HOME (SQLite), and read what it left.

For end-to-end tests of DAGs that use this provider, the demo, and users' own DAG tests:
a real Airflow, in a subprocess, with nothing shared with the caller's Airflow installation.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def airflow_env(airflow_home: Path, dags_folder: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for an isolated Airflow: own home and SQLite DB, no examples, our DAGs folder."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__")}
    env.pop("AIRFLOW_HOME", None)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    env.update(extra or {})
    return env


def airflow_executable() -> str:
    """The ``airflow`` command of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "airflow"
    return str(candidate) if candidate.exists() else "airflow"


@dataclass
class DagTestRun:
    """What ``airflow dags test`` printed and stored."""

    dag_id: str
    returncode: int
    output: str
    airflow_home: Path

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and self.state() == "success"

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.airflow_home / "airflow.db") as db:
            return db.execute(sql, params).fetchall()

    def state(self) -> str | None:
        """The state of the DAG's most recent run."""
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", self.dag_id)
        return rows[0][0] if rows else None

    def task_states(self) -> dict[str, str]:
        rows = self.query("SELECT task_id, state FROM task_instance WHERE dag_id = ?", self.dag_id)
        return {task_id: state for task_id, state in rows}

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        """A task's XCom value, decoded from the JSON Airflow stores."""
        rows = self.query(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = ?", self.dag_id, task_id, key
        )
        if not rows:
            raise KeyError(f"no XCom {key!r} for task {task_id!r}; task states: {self.task_states()}")
        return _decode_xcom(rows[0][0])

    def xcoms(self) -> list[tuple[str, str, Any]]:
        """Every XCom of the DAG as (task_id, key, value)."""
        rows = self.query("SELECT task_id, key, value FROM xcom WHERE dag_id = ?", self.dag_id)
        return [(task_id, key, _decode_xcom(value)) for task_id, key, value in rows]

    def log_text(self) -> str:
        """All task logs under AIRFLOW_HOME plus the command's own output."""
        parts = [self.output]
        for path in sorted((self.airflow_home / "logs").rglob("*")):
            if path.is_file():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


def _decode_xcom(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str):  # SQLite hands JSON numbers back as numbers
        return value
    decoded = json.loads(value)
    # Some versions store the JSON text itself as a JSON string.
    if isinstance(decoded, str):
        try:
            return json.loads(decoded)
        except ValueError:
            return decoded
    return decoded


def _needs_stored_dags(dags_folder: Path) -> bool:
    """Before Airflow 3.1, ``dags test`` stores only the DAG it runs, yet an asset alias outlet needs its alias
    stored (Airflow 2), and an asset event queues only DAGs stored as scheduled on it (3.0): reserialize first
    when a DAG file there uses an alias. From 3.1 ``dags test`` stores the whole folder itself."""
    from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_1_PLUS

    if AIRFLOW_V_3_1_PLUS:
        return False
    return any("AssetAlias(" in path.read_text(errors="replace") for path in dags_folder.glob("*.py"))


def run_dag_test(
    dag_id: str,
    dags_folder: str | Path,
    *,
    env: dict[str, str] | None = None,
    airflow_home: str | Path | None = None,
    timeout: float = 600,
) -> DagTestRun:
    """``airflow db migrate`` then ``airflow dags test DAG_ID`` in a fresh home; never raises on DAG failure.

    Before Airflow 3.1, when a DAG file in ``dags_folder`` declares an asset alias, ``airflow dags reserialize``
    runs in between: there ``dags test`` stores only the DAG it runs, and an alias's events need the rest.
    """
    home = Path(airflow_home) if airflow_home else Path(tempfile.mkdtemp(prefix="airflow-home-"))
    home.mkdir(parents=True, exist_ok=True)
    run_env = airflow_env(home, Path(dags_folder).resolve(), env)
    airflow = airflow_executable()
    prepare = [["db", "migrate"]]
    if _needs_stored_dags(Path(dags_folder)):
        prepare.append(["dags", "reserialize"])
    for args in prepare:
        step = subprocess.run(
            [airflow, *args], env=run_env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if step.returncode != 0:
            return DagTestRun(dag_id, step.returncode, step.stdout + step.stderr, home)
    test = subprocess.run(
        [airflow, "dags", "test", dag_id],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return DagTestRun(dag_id, test.returncode, test.stdout + test.stderr, home)
