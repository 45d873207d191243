"""What the provider keeps in Airflow's task state store (3.3+), and the check that reads a kept value back.

Durable operators keep their job there (``operators/_durable.py``), rescheduled sensors their count of
failed polls (``sensors/_base.py``). Every kept value carries a format version; one this release cannot
read is named in one line (``RiffusionStateError``), never guessed at: a misread job could be submitted,
and paid for, a second time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_riffusion.services import MISSING, json_kind

Field = tuple[Callable[[Any], bool], str]
"""A stored field's check, and what it must be (for the message)."""


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


ID: Field = (_is_id, "an id string")
IDS: Field = (lambda value: isinstance(value, list) and bool(value) and all(map(_is_id, value)), "a list of ids")
TEXT: Field = (lambda value: isinstance(value, str), "a string")
OPTIONAL_TEXT: Field = (lambda value: value is None or isinstance(value, str), "a string or null")
COUNT: Field = (lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 0, "a count")
TEXTS: Field = (
    lambda value: isinstance(value, dict) and all(isinstance(text, str) for text in value.values()),
    "an object of strings",
)


def stored_problem(value: Any, shapes: Mapping[int, Mapping[str, Any]]) -> str | None:
    """Why this release cannot read a stored value (None: it can). ``shapes`` are the fields of each format
    version it reads (a field's :data:`Field`, or a nested mapping for an object); a value without a version
    is version 1."""
    if not isinstance(value, dict):
        return f"it is {json_kind(value)}, not an object"
    version, newest = value.get("version", 1), max(shapes)
    if isinstance(version, bool) or not isinstance(version, int):
        return f"its format version is {json_kind(version)}, not a number"
    if version > newest:
        return (
            f"it is format version {version}, written by a newer release of the provider (this one reads up to "
            f"version {newest}; upgrade the provider to read it)"
        )
    if version not in shapes:
        return f"it is format version {version}, which no release of the provider writes"
    return _shape_problem(value, shapes[version], "")


def _shape_problem(value: dict[str, Any], shape: Mapping[str, Any], prefix: str) -> str | None:
    for name, wanted in shape.items():
        path, found = f"{prefix}{name}", value.get(name, MISSING)
        if isinstance(wanted, Mapping):
            if not isinstance(found, dict):
                return f"its {path!r} is {json_kind(found)}, not an object"
            problem = _shape_problem(found, wanted, f"{path}.")
            if problem:
                return problem
        elif not wanted[0](found):
            return f"its {path!r} is {json_kind(found)}, not {wanted[1]}"
    return None
