"""Fixtures of the emulator's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_riffusion.testing import RiffusionEmulator
from tests.testing._support import TOKEN, Factory


@pytest.fixture
def start() -> Iterator[Factory]:
    """Start emulators with the test token; stop them all after the test."""
    started: list[RiffusionEmulator] = []

    def make(**kwargs: Any) -> RiffusionEmulator:
        kwargs.setdefault("token", TOKEN)
        emulator = RiffusionEmulator(**kwargs).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()
