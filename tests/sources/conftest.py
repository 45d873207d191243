"""Fixtures of the source tests: files to prepare, and a WAV tone to upload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import write_wav


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Write ``data`` to a file called ``name`` in a temporary directory."""

    def _write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_wav(tmp_path_factory.mktemp("wav") / "tone.wav", seconds=1.0).read_bytes()
