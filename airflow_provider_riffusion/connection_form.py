"""The connection form, declared once for both ways Airflow reads it.

Airflow 3.2+ reads ``conn-fields`` / ``ui-field-behaviour`` from provider info without importing
the hook; 2.11, 3.0 and 3.1 call the hook's legacy classmethods, which build on the same data.
"""

from __future__ import annotations

from typing import Any

DEFAULT_BASE_URL = "https://api.useapi.net/v1/riffusion"

EXTRA_FIELDS: dict[str, dict[str, Any]] = {
    "user_id": {
        "label": "Default user_id",
        "description": "Riffusion account used when a task names none; required when several accounts are configured.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Request timeout (seconds)",
        "description": "Seconds to wait for each HTTP request to the API (default 60).",
        "schema": {"type": ["number", "null"]},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login", "schema", "port"],
    "relabeling": {"password": "API token", "host": "Base URL"},
    "placeholders": {
        # The form cannot mark a standard field required, so the placeholder says it.
        "password": "Required: your useapi.net API token",
        "host": DEFAULT_BASE_URL,
        "user_id": "optional, e.g. the account's user_id",
        "timeout": "60",
    },
}
