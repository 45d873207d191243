"""Fail when a venv holds a package its lock file does not pin at that version: the lock is then stale.

Usage: .venv/bin/python scripts/check_lock.py LOCK_FILE VENV_PYTHON. bootstrap.sh installs with the lock as constraints,
which pins everything the lock names but lets a dependency it does not name through at any version; this
catches that (a dependency added to pyproject.toml since the last `bash scripts/lock.sh`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# What the venv itself brings, not an install of ours.
SEEDED = {"pip", "setuptools", "wheel"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(lock_file: Path) -> dict[str, set[str]]:
    """Package -> the versions the lock names (a universal lock may name two, under exclusive markers)."""
    pins: dict[str, set[str]] = {}
    for line in lock_file.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line)
        if match:
            pins.setdefault(normalized(match[1]), set()).add(match[2])
    return pins


def main(lock_file: str, python: str) -> int:
    pins = locked(Path(lock_file))
    uv = Path(sys.executable).parent / "uv"  # this venv's, which bootstrap.sh installed
    freeze = subprocess.run(
        [str(uv), "pip", "freeze", "--exclude-editable", "--python", python], check=True, capture_output=True, text=True
    ).stdout
    stray = []
    for line in freeze.splitlines():
        name, _, version = line.partition("==")
        if version and normalized(name) not in SEEDED and version not in pins.get(normalized(name), set()):
            stray.append(f"{name} {version}")
    if stray:
        print(
            f"{lock_file} does not pin {', '.join(stray)}: a dependency added since the lock was made "
            "(run `bash scripts/lock.sh`), or installed by hand (remove it, or the venv).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
