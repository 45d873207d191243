"""README's "A test of your own DAG, step by step", run as written: the three files it shows, copied
verbatim into a new project, and ``python -m pytest tests`` in a fresh interpreter with no Airflow
settings of ours (the docs cannot drift from what works)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import write_wav

README = Path(__file__).resolve().parent.parent / "README.md"
RECIPE = re.compile(r"<!-- recipe: (?P<path>[\w/.]+) -->\n```python\n(?P<code>.*?)```", re.DOTALL)

pytestmark = pytest.mark.airflow_cli


def test_the_readme_recipe_runs_as_written(tmp_path: Path) -> None:
    files = {match["path"]: match["code"] for match in RECIPE.finditer(README.read_text())}
    assert set(files) == {"tests/conftest.py", "dags/my_dag.py", "tests/test_my_dag.py"}
    for relative, code in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(code)
    write_wav(tmp_path / "dags" / "take.wav")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PYTEST"))}
    env["HOME"] = str(tmp_path / "home")  # had the recipe touched ~/airflow, it would show up here

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
    assert not (tmp_path / "home" / "airflow").exists()
