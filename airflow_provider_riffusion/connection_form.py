"""The connection form, declared once for both ways Airflow reads it.

Airflow 3.2+ reads ``conn-fields`` / ``ui-field-behaviour`` from provider info without importing
the hook; 2.11, 3.0 and 3.1 call the hook's legacy classmethods, which build on the same data.
"""

from __future__ import annotations

from typing import Any

HOST_PLACEHOLDER = "https://api.useapi.net/v1/riffusion"
"""The form's hint for the base URL: the public API an empty host means (kept literal: provider info reads this
module before Airflow is ready for anything heavier)."""

EXTRA_FIELDS: dict[str, dict[str, Any]] = {
    "user_id": {
        "label": "Default user_id",
        "description": "Riffusion account used when a task names none; required when several accounts are configured.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Request timeout (seconds)",
        "description": "Seconds for each request's whole answer from the API (default 60).",
        "schema": {"type": ["number", "null"]},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login", "schema", "port"],
    "relabeling": {"password": "API token", "host": "Base URL"},
    "placeholders": {
        # The form cannot mark a standard field required, so the placeholder says it.
        "password": "Required: your useapi.net API token",
        "host": HOST_PLACEHOLDER,
        "user_id": "optional, e.g. the account's user_id",
        "timeout": "60",
    },
}


def legacy_widgets() -> dict[str, Any]:
    """``EXTRA_FIELDS`` as the Flask form fields that Airflow 2.11, 3.0 and 3.1 render."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import StringField
    from wtforms.validators import Optional

    return {
        name: StringField(
            lazy_gettext(field["label"]),
            widget=BS3TextFieldWidget(),
            validators=[Optional()],
            description=field["description"],
        )
        for name, field in EXTRA_FIELDS.items()
    }


def legacy_field_behaviour() -> dict[str, Any]:
    """``UI_FIELD_BEHAVIOUR`` in the legacy spelling of ``get_ui_field_behaviour``."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }
