"""pytest fixtures for DAG and task tests against the emulator.

Not registered as an entry point, so a deployment that merely installs the provider does not load
it into every pytest run. A test suite opts in, in its top-level ``conftest.py``::

    pytest_plugins = ["airflow_provider_riffusion.testing.pytest_plugin"]

(or ``-p airflow_provider_riffusion.testing.pytest_plugin``); the emulator needs the ``testing``
extra: ``pip install 'airflow-provider-riffusion[testing]'``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_riffusion.testing.emulator import RiffusionEmulator


@pytest.fixture
def riffusion_emulator() -> Iterator[RiffusionEmulator]:
    """A running emulator (revision 2025-02-25) for one test; stopped afterwards."""
    from airflow_provider_riffusion.testing.emulator import RiffusionEmulator

    with RiffusionEmulator(revision="2025-02-25") as emulator:
        yield emulator


@pytest.fixture
def riffusion_connection(
    riffusion_emulator: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RiffusionEmulator]:
    """The emulator, with ``riffusion_default`` pointing at it through ``AIRFLOW_CONN_RIFFUSION_DEFAULT``."""
    connection = {"conn_type": "riffusion", "password": riffusion_emulator.token, "host": riffusion_emulator.base_url}
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", json.dumps(connection))
    yield riffusion_emulator
