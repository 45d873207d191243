"""pytest fixtures for DAG and task tests against the emulator.

Not registered as an entry point, so a deployment that merely installs the provider does not load
it into every pytest run. A test suite opts in, in its top-level ``conftest.py``::

    pytest_plugins = ["airflow_provider_riffusion.testing.pytest_plugin"]

(or ``-p airflow_provider_riffusion.testing.pytest_plugin``); the emulator needs the ``testing``
extra: ``pip install 'airflow-provider-riffusion[testing]'``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_riffusion.testing.emulator import RiffusionEmulator


@pytest.fixture
def riffusion_emulator(request: pytest.FixtureRequest) -> Iterator[RiffusionEmulator]:
    """A running emulator (revision 2025-02-25) for one test; stopped afterwards.

    Its ``base_url`` names Riffusion, or the service given by indirect parametrization:
    ``@pytest.mark.parametrize("riffusion_emulator", ["flowmusic"], indirect=True)``.
    """
    from airflow_provider_riffusion.testing.emulator import RiffusionEmulator

    service = getattr(request, "param", "riffusion")
    with RiffusionEmulator(revision="2025-02-25", service=service) as emulator:
        yield emulator


@pytest.fixture
def riffusion_connection(
    riffusion_emulator: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RiffusionEmulator]:
    """The emulator, with ``riffusion_default`` pointing at it through ``AIRFLOW_CONN_RIFFUSION_DEFAULT`` (with
    the extra ``{"service": "flowmusic"}`` when the emulator's service is Flow Music)."""
    connection: dict[str, Any] = {
        "conn_type": "riffusion",
        "password": riffusion_emulator.token,
        "host": riffusion_emulator.base_url,
    }
    if riffusion_emulator.service == "flowmusic":
        connection["extra"] = {"service": "flowmusic"}
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", json.dumps(connection))
    yield riffusion_emulator


@pytest.fixture(scope="session")
def riffusion_airflow_db() -> Path:
    """Airflow's metadata database, migrated once per test session, in the throwaway ``AIRFLOW_HOME`` that
    the suite's ``conftest.py`` set before Airflow was imported; ``dag.test()`` needs it."""
    home = os.environ.get("AIRFLOW_HOME", "")
    if not home or Path(home).expanduser().resolve() == (Path.home() / "airflow").resolve():
        pytest.fail(
            "AIRFLOW_HOME is not a throwaway folder: set it at the top of conftest.py, before Airflow is imported "
            "(README, 'Testing your DAGs'), so tests never touch ~/airflow."
        )
    from airflow_provider_riffusion.testing.dag_run import airflow_executable

    migrated = subprocess.run(
        [airflow_executable(), "db", "migrate"], env=os.environ.copy(), capture_output=True, text=True, check=False
    )
    if migrated.returncode != 0:
        pytest.fail(f"airflow db migrate failed in {home}: {migrated.stdout[-2000:]}{migrated.stderr[-2000:]}")
    return Path(home)
