"""A stand-in for Airflow 3.3's task state store, for tests that run a task's code in-process.

The real store is exercised by the ``airflow dags test`` runs (tests/operators/test_durable.py,
tests/test_sensor_modes_dag.py); this one lets a unit test put any value under a key, as a stranger or an
older release could have.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class MemoryStore:
    """One task instance's store: JSON in, JSON out, as Airflow keeps it."""

    def __init__(self, **values: Any) -> None:
        self.values: dict[str, str] = {key: json.dumps(value) for key, value in values.items()}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)
        self.writes += 1


def context_with_store(ti: Any, store: MemoryStore) -> Context:
    """The part of a task's context the operators and sensors read: ``ti`` and ``task_state_store``."""
    return cast("Context", {"ti": ti, "task_state_store": store})
