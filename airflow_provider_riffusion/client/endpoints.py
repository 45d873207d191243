"""Deprecated since 0.3.0 (removed in 1.0): release 0.2.0's endpoint constants, for ``RiffusionHook.call``.

0.2.0's README showed ``hook.call(SONGS, id=job_id)`` with these names; they now stand for the connection's
service's operations. Call ``hook.call("songs", id=job_id)`` instead (``services/riffusion.py`` lists them).
"""

from __future__ import annotations

import warnings
from typing import Any

from airflow.exceptions import AirflowProviderDeprecationWarning

from airflow_provider_riffusion.services.riffusion import ENDPOINTS

OPERATIONS = {
    "UPLOAD": "upload",
    "UPLOAD_STATUS": "upload_status",
    "COMPOSE": "compose",
    "SONGS": "songs",
    "ACCOUNTS": "accounts",
    "DOWNLOAD": "download",
    "GENERATE_LYRICS": "lyrics",
    "CREATE_PROMPT": "prompt",
    "SCHEDULER_AVAILABLE": "slots",
}
"""Each 0.2.0 name, and the operation it is now."""


def __getattr__(name: str) -> Any:
    if name not in OPERATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"{__name__}.{name} is deprecated and goes in 1.0: call hook.call({OPERATIONS[name]!r}, ...) instead.",
        AirflowProviderDeprecationWarning,
        stacklevel=2,
    )
    return ENDPOINTS[OPERATIONS[name]]
