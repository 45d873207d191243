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

Second comparison, against the http provider: a five-task DAG of the provider's operators and
sensors (upload, wait for it, compose, wait for the songs, store them) and the same five steps
made of the http provider's ``HttpOperator`` and ``HttpSensor`` (same task ids and edges), each
measured as its extra load time over a five-``EmptyOperator`` twin of that shape, by the same
method in the same rounds (all six files rotate together, so a slow moment hits them all). This
is what a DAG author choosing between our operators and raw HTTP calls pays at every parse.
Goal: ours costs at most 0.1 x the http version's extra (ratio of the two medians).

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
RATIO_GOAL = 0.1
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

FIVE_OURS = '''\
"""Five of the provider's tasks: upload, wait for it, compose, wait for the songs, store them."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import dag

from airflow_provider_riffusion.operators.riffusion import (
    CreateComposeOperator,
    DownloadSongsOperator,
    UploadAudioOperator,
)
from airflow_provider_riffusion.sensors.riffusion import SongsCompletedSensor, UploadCompletedSensor


@dag(dag_id="five_tasks_riffusion", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def five_tasks_riffusion() -> None:
    upload = UploadAudioOperator(task_id="upload_track", source="/data/track.wav")
    processed = UploadCompletedSensor(task_id="wait_for_upload", job_id=upload.output["job_id"], poke_interval=10)
    compose = CreateComposeOperator(
        task_id="compose",
        prompt_1="dreamy lo-fi hip hop, soft piano",
        audio_upload_id=processed.output["audio_upload_id"],
    )
    songs = SongsCompletedSensor(task_id="wait_for_songs", job_ids=compose.output["job_ids"], poke_interval=10)
    store = DownloadSongsOperator(task_id="store_songs", songs=songs.output, destination="/data/songs")
    upload >> processed >> compose >> songs >> store


five_tasks_riffusion()
'''

FIVE_HTTP = '''\
"""The same five steps with the http provider's HttpOperator and HttpSensor, against the same API."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import dag
from airflow.providers.http.operators.http import HttpOperator
from airflow.providers.http.sensors.http import HttpSensor

CONN = "riffusion_http"
JOB = "{{ ti.xcom_pull(task_ids='compose')['jobs'][0] }}"


@dag(dag_id="five_tasks_http", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def five_tasks_http() -> None:
    upload = HttpOperator(
        task_id="upload_track",
        http_conn_id=CONN,
        method="POST",
        endpoint="music/upload-audio/?file_name=track.wav",
        data="{{ params.track }}",
        headers={"Content-Type": "audio/mpeg"},
        params={"track": "/data/track.wav"},
        response_filter=lambda response: response.json(),
    )
    processed = HttpSensor(
        task_id="wait_for_upload",
        http_conn_id=CONN,
        endpoint="music/upload-audio/{{ ti.xcom_pull(task_ids='upload_track')['job_id'] }}",
        response_check=lambda response: response.json().get("status") not in ("pending", "processing"),
        poke_interval=10,
    )
    compose = HttpOperator(
        task_id="compose",
        http_conn_id=CONN,
        method="POST",
        endpoint="music/compose/",
        data={
            "prompt_1": "dreamy lo-fi hip hop, soft piano",
            "audio_upload_id": "{{ ti.xcom_pull(task_ids='wait_for_upload')['audio_upload_id'] }}",
        },
        headers={"Content-Type": "application/json"},
        response_filter=lambda response: response.json(),
    )
    songs = HttpSensor(
        task_id="wait_for_songs",
        http_conn_id=CONN,
        endpoint="music/" + JOB,
        response_check=lambda response: response.json().get("status") == "completed",
        poke_interval=10,
    )
    store = HttpOperator(
        task_id="store_songs",
        http_conn_id=CONN,
        method="GET",
        endpoint="music/" + JOB + "/download",
        response_filter=lambda response: len(response.content),
    )
    upload >> processed >> compose >> songs >> store


five_tasks_http()
'''

FIVE_EMPTY = '''\
"""The five-task shape (same task ids and edges) built from EmptyOperator."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import dag
from airflow.providers.standard.operators.empty import EmptyOperator


@dag(dag_id="five_tasks_empty", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def five_tasks_empty() -> None:
    upload = EmptyOperator(task_id="upload_track")
    processed = EmptyOperator(task_id="wait_for_upload")
    compose = EmptyOperator(task_id="compose")
    songs = EmptyOperator(task_id="wait_for_songs")
    store = EmptyOperator(task_id="store_songs")
    upload >> processed >> compose >> songs >> store


five_tasks_empty()
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
        five = {"five_ours": FIVE_OURS, "five_http": FIVE_HTTP, "five_empty": FIVE_EMPTY}
        for key, text in five.items():
            (work / f"{key}.py").write_text(text, encoding="utf-8")
        env = child_env(work, PYTHONPYCACHEPREFIX=str(work / "pycache"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        files = {"example": EXAMPLE, "shape": shape, "taskflow": taskflow} | {key: work / f"{key}.py" for key in five}
        for path in files.values():  # fill the bytecode cache
            run_worker([__file__, "--worker", str(path)], env, timeout=180)
        ms: dict[str, list[float]] = {key: [] for key in files}
        example_cpu: list[float] = []
        for index in range(rounds):
            keys = list(files)
            for key in keys[index % len(keys) :] + keys[: index % len(keys)]:  # rotate the order
                result = run_worker([__file__, "--worker", str(files[key])], env, timeout=120)
                if not result["dags"]:
                    raise RuntimeError(f"{files[key].name} defined no DAG")
                ms[key].append(result["ms"])
                if key == "example":
                    example_cpu.append(result["cpu_ms"])
        example_modules = importtime_after_marker(EXAMPLE, env)
        shape_modules = importtime_after_marker(shape, env)
        taskflow_modules = importtime_after_marker(taskflow, env)
        # The five-EmptyOperator twin imports what the example's shape imports (``dag``, EmptyOperator).
        five_modules = {key: importtime_after_marker(files[key], env) for key in ("five_ours", "five_http")}
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
    add_five_task_figures(report, ms, five_modules, shape_modules)
    report.note(f"{rounds} rounds of fresh interpreters (order rotated); bytecode cached as in a deployment")
    return report


def add_five_task_figures(
    report: Report, ms: dict[str, list[float]], five_modules: dict[str, dict[str, int]], shape_modules: dict[str, int]
) -> None:
    """Ours and the http provider's five-task DAG, each over its EmptyOperator twin, and their ratio."""
    extras: dict[str, float] = {}
    labels = {"five_ours": "provider's operators and sensors", "five_http": "http provider's HttpOperator/HttpSensor"}
    for key, label in labels.items():
        differences = [t - e for t, e in zip(ms[key], ms["five_empty"], strict=True)]
        extras[key] = median(differences)
        only = {name: us for name, us in five_modules[key].items() if name not in shape_modules}
        top = sorted(only.items(), key=lambda item: -item[1])[:4]
        report.add(
            f"five tasks, {label}: minus EmptyOperator twin",
            extras[key],
            "ms",
            detail=f"load {median(ms[key]):.1f} ms; paired differences {[round(d, 1) for d in differences]}; "
            f"{len(only)} modules beyond the twin's ({sum(only.values()) / 1000:.1f} ms self time), largest: "
            + ", ".join(f"{name} {us / 1000:.1f} ms" for name, us in top),
        )
    report.add("five tasks, EmptyOperator twin load (after import airflow)", median(ms["five_empty"]), "ms",
               detail=f"runs {[round(t, 1) for t in ms['five_empty']]}")  # fmt: skip
    ours, theirs = extras["five_ours"], extras["five_http"]
    ratio = ours / theirs if theirs > 0 else None
    report.add(
        "five tasks: ours / http extra parse cost",
        ratio,
        "x",
        goal=f"<= {RATIO_GOAL:g}",
        ok=ratio is not None and ratio <= RATIO_GOAL,
        detail=f"{ours:.1f} ms vs {theirs:.1f} ms over the same EmptyOperator twin (medians of paired differences)",
    )


def main(argv: list[str] | None = None) -> int:
    return script_main(__doc__, measure, worker, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
