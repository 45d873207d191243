"""The connection form, declared once for both ways Airflow reads it.

Airflow 3.2+ reads ``conn-fields`` / ``ui-field-behaviour`` from provider info without importing
the hook; 2.11, 3.0 and 3.1 call the hook's legacy classmethods, which build on the same data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HOST_PLACEHOLDER = "https://api.useapi.net/v1/riffusion"
"""The form's hint for the base URL: the public API an empty host means (kept literal: provider info reads this
module before Airflow is ready for anything heavier)."""

SERVICE_CHOICES = ("riffusion", "flowmusic")
"""The services a connection can name (``services.SERVICES``, kept literal here for the same reason)."""

EXTRA_FIELDS: dict[str, dict[str, Any]] = {
    "service": {
        "label": "Service",
        "description": "riffusion (retired April 2025; the default) or flowmusic (its live successor, Flow Music). "
        "An empty base URL follows it.",
        "schema": {"type": ["string", "null"], "enum": list(SERVICE_CHOICES), "default": SERVICE_CHOICES[0]},
    },
    "user_id": {
        "label": "Default user_id",
        "description": "The account used when a task names none (Riffusion: its user_id; Flow Music: its email); "
        "required when several accounts are configured.",
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
        "user_id": "optional: a Riffusion user_id, or a Flow Music email",
        "timeout": "60",
    },
}


class ChoicesWidget:
    """A StringField drawn as Flask-AppBuilder's Select2 ``<select>`` of fixed choices (Airflow 2.11's Flask form).

    Airflow 2.11, 3.0 and 3.1 refuse the whole connection type when one field is not a String, Integer, Password
    or Boolean field, so a choice is a StringField with an ``any_of`` validator (3.0 and 3.1 turn that validator
    into the schema's ``enum``, their UI's dropdown); only 2.11 ever calls this widget, to draw it as one. A stored
    value that is not a choice is shown as it is, so the form does not silently replace it: the validator refuses
    it on save.
    """

    def __init__(self, choices: Sequence[str]) -> None:
        self.choices = tuple(choices)

    def __call__(self, field: Any, **kwargs: Any) -> Any:
        from flask_appbuilder.fieldwidgets import Select2Widget
        from wtforms import SelectField

        current = field.data or self.choices[0]
        choices = [*self.choices, *([] if current in self.choices else [current])]
        select = SelectField(choices=[(name, name) for name in choices], id=field.id).bind(
            None, field.name, _meta=field.meta
        )
        select.data = current
        return Select2Widget()(select, **kwargs)


def legacy_widgets() -> dict[str, Any]:
    """``EXTRA_FIELDS`` as the Flask form fields that Airflow 2.11, 3.0 and 3.1 render.

    All StringFields (see :class:`ChoicesWidget`): a field whose schema has an ``enum`` gets an ``any_of``
    validator, its schema ``default`` and a ``<select>`` widget.
    """
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import StringField
    from wtforms.validators import Optional, any_of

    widgets: dict[str, Any] = {}
    for name, field in EXTRA_FIELDS.items():
        schema = field["schema"]
        choices = schema.get("enum")
        widgets[name] = StringField(
            lazy_gettext(field["label"]),
            widget=ChoicesWidget(choices) if choices else BS3TextFieldWidget(),
            validators=[Optional(), any_of(list(choices))] if choices else [Optional()],
            default=schema.get("default"),
            description=field["description"],
        )
    return widgets


def legacy_field_behaviour() -> dict[str, Any]:
    """``UI_FIELD_BEHAVIOUR`` in the legacy spelling of ``get_ui_field_behaviour``."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }
