"""README's "A complete DAG": it builds as written, and its templates render on a manual run of Airflow 3,
which has no logical date (so no ``ds``), as well as on a scheduled run."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pendulum
import pytest

from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_0_PLUS

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- readme-dag -->\n```python\n(?P<code>.*?)```", re.DOTALL)


@pytest.fixture
def readme_dag(tmp_path: Path) -> object:
    match = BLOCK.search(README.read_text())
    assert match, "README.md has no block marked <!-- readme-dag -->"
    code = match["code"]
    if not AIRFLOW_V_3_0_PLUS:  # what the README's comment tells a 2.11 user to write
        code = code.replace("from airflow.sdk import dag, task", "from airflow.decorators import dag, task")
    path = tmp_path / "riffusion_daily.py"
    path.write_text(code)
    return runpy.run_path(str(path))["riffusion_daily"]()


@pytest.mark.parametrize(
    ("dag_run", "day"),
    [
        (SimpleNamespace(logical_date=None, run_after=pendulum.datetime(2026, 12, 6, 9)), "2026-12-06"),
        (SimpleNamespace(logical_date=pendulum.datetime(2026, 12, 5), run_after=None), "2026-12-05"),
    ],
    ids=["manual run without a logical date", "scheduled run"],
)
def test_the_readme_dag_renders_its_templates_on_any_run(readme_dag: object, dag_run: object, day: str) -> None:
    context = {"dag_run": dag_run}
    upload = readme_dag.get_task("upload")  # type: ignore[attr-defined]
    compose = readme_dag.get_task("compose")  # type: ignore[attr-defined]
    assert upload.render_template(upload.source, context) == f"/data/tracks/{day}.mp3"
    assert compose.render_template(compose.title, context) == f"Daily {day}"
    if dag_run.logical_date is None:  # type: ignore[attr-defined]
        with pytest.raises(jinja2.UndefinedError):  # what the README's templates avoid
            upload.render_template("{{ ds }}", context)
