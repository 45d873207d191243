"""What the example DAG file costs to parse, beyond the same DAG shape made of EmptyOperators.

Each measurement is a fresh interpreter that imports ``airflow`` first (both variants pay it, so
it is left out of the timing), then loads the DAG file the way a DAG processor does
(``importlib.util.spec_from_file_location`` + ``exec_module``) and times that. The shape file
(five ``EmptyOperator`` tasks with the example's task ids and edges, under the same ``@dag``
decorator) is written to a temp dir. Runs alternate between the two files; the figure is the
median of the paired differences. Bytecode is cached (``PYTHONPYCACHEPREFIX`` in a temp dir,
filled by one unmeasured run of each file), as it is in an installed deployment. One extra run
of each with ``-X importtime`` names the modules only the example pulls in.
Goal: <= 25 ms more than the shape.

    python benchmarks/parse_cost.py [--quick]
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    PYTHON,
    REPO,
    Report,
    child_env,
    emit_result,
    median,
    run_worker,
    script_main,
    temp_dir,
)

GOAL_MS = 25.0
EXAMPLE = REPO / "example_dags" / "riffusion_upload_compose.py"
MARKER = "--- riffusion-bench: dag import starts ---"

SHAPE = '''\
"""The example DAG's shape (same task ids and edges) built from EmptyOperator."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import dag
from airflow.providers.standard.operators.empty import EmptyOperator

POLL_SECONDS = float(os.environ.get("RIFFUSION_EXAMPLE_POLL_SECONDS", "10"))


@dag(
    dag_id="riffusion_upload_compose_shape",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["riffusion", "example"],
)
def riffusion_upload_compose_shape() -> None:
    make_demo_track = EmptyOperator(task_id="make_demo_track")
    upload = EmptyOperator(task_id="upload_track")
    processed = EmptyOperator(task_id="wait_for_upload")
    compose = EmptyOperator(task_id="compose")
    report = EmptyOperator(task_id="report")
    make_demo_track >> upload >> processed >> compose >> report
    upload >> report
    processed >> report


riffusion_upload_compose_shape()
'''

SHAPE_TASKFLOW = '''\
"""The same shape with its two Python tasks kept as TaskFlow @task: isolates the provider's own cost."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import dag, task
from airflow.providers.standard.operators.empty import EmptyOperator

POLL_SECONDS = float(os.environ.get("RIFFUSION_EXAMPLE_POLL_SECONDS", "10"))


@dag(
    dag_id="riffusion_upload_compose_shape_taskflow",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["riffusion", "example"],
)
def riffusion_upload_compose_shape_taskflow() -> None:
    @task
    def make_demo_track() -> str:
        return "demo.wav"

    @task
    def report(upload_result: Any, status: Any, composed: Any) -> None:
        pass

    upload = EmptyOperator(task_id="upload_track")
    processed = EmptyOperator(task_id="wait_for_upload")
    compose = EmptyOperator(task_id="compose")
    make_demo_track() >> upload >> processed >> compose
    report(upload.output, processed.output, compose.output)


riffusion_upload_compose_shape_taskflow()
'''


def worker(path: str) -> None:
    import importlib.util

    import airflow  # noqa: F401  (paid by both variants, outside the timing)
    from airflow.sdk.definitions._internal.contextmanager import DagContext

    name = f"unusual_prefix_bench_{Path(path).stem}"
    print(MARKER, file=sys.stderr, flush=True)
    started, cpu = time.perf_counter(), time.process_time()
    # As the DAG processor does: the module is registered, and DAGs made at module level are collected.
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    DagContext.current_autoregister_module_name = name
    spec.loader.exec_module(module)
    DagContext.current_autoregister_module_name = None
    elapsed, cpu_elapsed = time.perf_counter() - started, time.process_time() - cpu
    dags = sorted({dag.dag_id for dag, owner in DagContext.autoregistered_dags if owner is module})
    emit_result({"ms": elapsed * 1000, "cpu_ms": cpu_elapsed * 1000, "dags": dags})


def importtime_after_marker(path: Path, env: dict[str, str]) -> dict[str, int]:
    """Module -> self time (us) for the imports made while the DAG file was loaded."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", __file__, "--worker", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    _, _, after = done.stderr.partition(MARKER)
    modules: dict[str, int] = {}
    for line in after.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s+(.*)$", line)
        if match:
            modules[match.group(3).strip()] = int(match.group(1))
    return modules


def measure(quick: bool) -> Report:
    report = Report("parse_cost")
    rounds = 4 if quick else 12
    with temp_dir("riffusion-bench-parse-") as work:
        shape = work / "riffusion_upload_compose_shape.py"
        shape.write_text(SHAPE, encoding="utf-8")
        taskflow = work / "riffusion_upload_compose_shape_taskflow.py"
        taskflow.write_text(SHAPE_TASKFLOW, encoding="utf-8")
        env = child_env(work, PYTHONPYCACHEPREFIX=str(work / "pycache"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        files = {"example": EXAMPLE, "shape": shape, "taskflow": taskflow}
        for path in files.values():  # fill the bytecode cache
            run_worker([__file__, "--worker", str(path)], env, timeout=180)
        ms: dict[str, list[float]] = {key: [] for key in files}
        example_cpu: list[float] = []
        for index in range(rounds):
            keys = list(files)
            for key in keys[index % 3 :] + keys[: index % 3]:  # rotate the order
                result = run_worker([__file__, "--worker", str(files[key])], env, timeout=120)
                if not result["dags"]:
                    raise RuntimeError(f"{files[key].name} defined no DAG")
                ms[key].append(result["ms"])
                if key == "example":
                    example_cpu.append(result["cpu_ms"])
        example_modules = importtime_after_marker(EXAMPLE, env)
        shape_modules = importtime_after_marker(shape, env)
        taskflow_modules = importtime_after_marker(taskflow, env)
    example_ms, shape_ms, taskflow_ms = ms["example"], ms["shape"], ms["taskflow"]
    differences = [e - s for e, s in zip(example_ms, shape_ms, strict=True)]
    extra = median(differences)
    report.add(
        "example DAG parse minus EmptyOperator shape",
        extra,
        "ms",
        goal=f"<= {GOAL_MS:g} ms",
        ok=extra <= GOAL_MS,
        detail=f"paired differences {[round(d, 1) for d in differences]}",
    )
    report.add(
        "example DAG file load (after import airflow)",
        median(example_ms),
        "ms",
        detail=f"CPU {median(example_cpu):.1f} ms; runs {[round(t, 1) for t in example_ms]}",
    )
    report.add("EmptyOperator shape load (after import airflow)", median(shape_ms), "ms",
               detail=f"runs {[round(t, 1) for t in shape_ms]}")  # fmt: skip
    taskflow_differences = [e - t for e, t in zip(example_ms, taskflow_ms, strict=True)]
    report.add(
        "example minus shape with its 2 @task kept (provider's own share)",
        median(taskflow_differences),
        "ms",
        detail=f"shape+@task load {median(taskflow_ms):.1f} ms; paired differences "
        f"{[round(d, 1) for d in taskflow_differences]}",
    )
    only_example = {name: us for name, us in example_modules.items() if name not in shape_modules}
    provider = {name: us for name, us in example_modules.items() if name.startswith("airflow_provider_riffusion")}
    beyond_taskflow = {name: us for name, us in example_modules.items() if name not in taskflow_modules}
    top = sorted(only_example.items(), key=lambda item: -item[1])[:8]
    report.add(
        "modules imported only by the example DAG",
        len(only_example),
        "modules",
        detail=f"{sum(only_example.values()) / 1000:.1f} ms self time (-X importtime, one run); "
        f"{len(provider)} of them airflow_provider_riffusion.* ({sum(provider.values()) / 1000:.1f} ms); "
        f"{len(beyond_taskflow)} beyond the @task shape's ({sum(beyond_taskflow.values()) / 1000:.1f} ms)",
    )
    report.note("largest self times among them: " + ", ".join(f"{name} {us / 1000:.1f} ms" for name, us in top))
    report.note(f"{rounds} rounds of fresh interpreters (order rotated); bytecode cached as in a deployment")
    return report


def main(argv: list[str] | None = None) -> int:
    return script_main(__doc__, measure, worker, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
