"""Shared fixtures: the bundled emulator over real HTTP on 127.0.0.1, and audio files to upload."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Before anything imports Airflow: the suite never reads or writes the developer's AIRFLOW_HOME, and
# leaves no home of its own behind.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="riffusion-tests-airflow-home-")
os.environ.pop("AIRFLOW_CONFIG", None)
# The emulator answers at once: the suite's waits poll every 10 ms, below the 1 s floor meant for the
# real service ([riffusion] min_poll_interval; tests/test_waits.py checks the floor itself).
os.environ["AIRFLOW__RIFFUSION__MIN_POLL_INTERVAL"] = "0.01"

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_riffusion.testing import RiffusionEmulator
from tests.support import EACH_REVISION, TOKEN, connection_json, write_wav

atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)


@pytest.fixture(params=EACH_REVISION)
def emulator(request: pytest.FixtureRequest) -> Iterator[RiffusionEmulator]:
    """The emulator in each API revision, answering pending once before complete."""
    with RiffusionEmulator(revision=request.param, token=TOKEN, pending_polls=1, song_polls=1) as emu:
        yield emu


@pytest.fixture
def connection(emulator: RiffusionEmulator, monkeypatch: pytest.MonkeyPatch) -> RiffusionEmulator:
    """``riffusion_default`` pointing at the emulator, through the env-var JSON form."""
    monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emulator.base_url))
    return emulator


@pytest.fixture
def flowmusic(monkeypatch: pytest.MonkeyPatch) -> Iterator[RiffusionEmulator]:
    """The emulator's Flow Music API, answering at once, with ``riffusion_default`` (``service: flowmusic``) on it."""
    with RiffusionEmulator(token=TOKEN, service="flowmusic", pending_polls=0, song_polls=0) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emulator.base_url, service="flowmusic"))
        yield emulator


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[RiffusionEmulator]:
    """An emulator that answers at once (nothing pending), with ``riffusion_default`` pointing at it."""
    with RiffusionEmulator(token=TOKEN, pending_polls=0, song_polls=0) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emulator.base_url))
        yield emulator


@pytest.fixture
def wav_file(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "morning tone.wav")


@pytest.fixture
def big_mp3(tmp_path: Path) -> Path:
    """An 8 MiB 'mp3' (ID3 header, varied bytes): larger than loopback socket buffers."""
    path = tmp_path / "big.mp3"
    block = bytes(range(256)) * 4096
    with path.open("wb") as out:
        out.write(b"ID3\x04\x00\x00\x00\x00\x00\x00")
        for _ in range(8):
            out.write(block)
    return path


AIRFLOW_INDEPENDENT = (
    "tests/testing/",
    "tests/services/",
    "tests/sources/test_kinds.py",
    "tests/sources/test_model.py",
)
"""Tests of code that never touches Airflow (the emulator, the services' shapes and bodies, the audio checks): CI
runs them on Airflow 3.3 only, and the rest of the suite on every minor. A test that runs a sensor, a trigger or
a DAG is not one of them, whatever it is about."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(AIRFLOW_INDEPENDENT):
            item.add_marker(pytest.mark.airflow_independent)
