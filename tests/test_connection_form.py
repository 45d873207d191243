"""The connection form as each Airflow version builds it, without a browser: Airflow 2.11 from the hook's
legacy ``get_connection_form_widgets()`` / ``get_ui_field_behaviour()`` (its Flask UI: the form class its
webserver builds, rendered to HTML and submitted), 3.0 and 3.1 from the same legacy methods through the
api-server's ``hook_meta`` service, 3.2+ from ``conn-fields`` / ``ui-field-behaviour`` in provider info.
``tests/test_connection_ui.py`` drives the real form on 3.3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from typing import Any

import pytest

from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_0_PLUS

SERVICES = ["riffusion", "flowmusic"]  # literal on purpose: what the form must offer, in this order
EXTRAS = ("service", "user_id", "timeout")

PROBE = """
import json
try:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
except ImportError:  # Airflow 2: its Flask UI renders ProvidersManager's widgets into the webserver's form class
    from types import SimpleNamespace

    from flask import Flask
    from flask_babel import Babel
    from werkzeug.datastructures import MultiDict

    from airflow.providers_manager import ProvidersManager
    from airflow.www.forms import create_connection_form_class
    from airflow.www.views import ConnectionModelView

    pm = ProvidersManager()
    ours = {key: info for key, info in pm.connection_form_widgets.items() if key.startswith("extra__riffusion__")}
    # ConnectionModelView.process_form (what Save runs) reads only this of its view.
    view = SimpleNamespace(
        _iter_extra_field_names_and_sensitivity=lambda: (
            (key, info.field_name, info.is_sensitive) for key, info in pm.connection_form_widgets.items()
        )
    )
    app = Flask("probe")
    app.config.update(SECRET_KEY="probe", WTF_CSRF_ENABLED=False)
    Babel(app)
    with app.test_request_context():
        form_class = create_connection_form_class()
        empty = form_class()
        html = {key: str(empty[key]()) for key in ours}
        saved = {}
        for service in ("flowmusic", "riffusion", "", "suno"):
            # As the browser posts it: every field of the chosen type, the service as chosen.
            posted = {"conn_id": "probe", "conn_type": "riffusion", **{key: "" for key in ours}}
            posted["extra__riffusion__service"] = service
            form = form_class(formdata=MultiDict(posted))
            valid = form.validate()
            ConnectionModelView.process_form(view, form, True)
            saved[service] = {
                "valid": valid,
                "errors": form.errors,
                "extra": json.loads(form.extra.data or "{}"),
                "redrawn": str(form["extra__riffusion__service"]()),  # the form shown again after Save
            }
    print(json.dumps({"html": html, "behaviour": pm.field_behaviours.get("riffusion"), "saved": saved}))
else:
    [meta] = [m.model_dump() for m in HookMetaService.hook_meta_data() if m.connection_type == "riffusion"]
    print(json.dumps(meta, default=str))
"""


def _form() -> dict[str, Any]:
    """What the UI gets, read in a fresh interpreter (Airflow caches it, and 3.1 leaves mock modules behind)."""
    with tempfile.TemporaryDirectory(prefix="riffusion-form-") as home:
        env = {**os.environ, "AIRFLOW_HOME": home}
        result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def shown() -> dict[str, Any]:
    return _form()


class _Controls(HTMLParser):
    """The form controls in a piece of HTML: ``<input>``s, and each ``<select>`` with its options."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.controls: list[dict[str, Any]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("input", "select", "textarea"):
            self.controls.append({"tag": tag, **attributes, "options": []})
        elif tag == "option":
            self.controls[-1]["options"].append((attributes.get("value"), "selected" in attributes))


def _legacy_control(shown: dict[str, Any], name: str) -> dict[str, Any]:
    [control] = _Controls(shown["html"][f"extra__riffusion__{name}"]).controls
    return control


def ui_control(field: dict[str, Any]) -> str:
    """Which control Airflow 3's UI draws for an extra field: the first rules of its FlexibleForm's
    ``FieldSelector`` (the same order in 3.0 to 3.3): the first non-null ``type`` picks; a boolean is a
    switch, a string with a date/time ``format`` a picker, a string or number with an ``enum`` list a dropdown."""
    schema = field["schema"]
    declared = schema.get("type")
    if isinstance(declared, list):
        kind = next((name for name in declared if name != "null"), "string")
    else:
        kind = declared or "string"
    if kind == "boolean":
        return "switch"
    if kind == "string" and schema.get("format") in ("date", "date-time", "time"):
        return "date picker"
    if kind in ("string", "number", "integer") and isinstance(schema.get("enum"), list):
        return "dropdown"
    return f"{kind} input"


def service_choice(shown: dict[str, Any]) -> tuple[str, list[str], str | None]:
    """The service field as the version's UI draws it: (control, its choices in order, the preselected one)."""
    if not AIRFLOW_V_3_0_PLUS:
        control = _legacy_control(shown, "service")
        selected = [value for value, chosen in control["options"] if chosen]
        return (
            control["tag"],
            [value for value, _ in control["options"]],
            selected[0] if len(selected) == 1 else repr(selected),
        )
    field = shown["extra_fields"]["service"]
    return ui_control(field), list(field["schema"].get("enum") or []), field["value"]


def test_the_form_relabels_hides_and_adds_the_extras(shown: dict[str, Any]) -> None:
    if not AIRFLOW_V_3_0_PLUS:
        assert sorted(shown["html"]) == sorted(f"extra__riffusion__{name}" for name in EXTRAS)
        behaviour = shown["behaviour"]
        assert behaviour["relabeling"] == {"password": "API token", "host": "Base URL"}
        assert set(behaviour["hidden_fields"]) == {"login", "schema", "port"}
        for name in ("user_id", "timeout"):
            control = _legacy_control(shown, name)
            assert (control["tag"], control["type"]) == ("input", "text"), control
        return
    assert shown["hook_name"] == "Riffusion (useapi.net)"
    fields = shown["standard_fields"]
    assert fields["password"]["title"] == "API token" and not fields["password"]["hidden"]
    assert fields["host"]["title"] == "Base URL" and fields["host"]["placeholder"].startswith("https://api.useapi.net")
    assert fields["login"]["hidden"] and fields["port"]["hidden"]
    assert set(shown["extra_fields"]) == set(EXTRAS)
    assert "Request timeout" in json.dumps(shown["extra_fields"]["timeout"])
    assert shown["extra_fields"]["service"]["schema"]["title"] == "Service"
    for name in ("user_id", "timeout"):
        assert ui_control(shown["extra_fields"][name]) in ("string input", "number input"), shown["extra_fields"]


def test_the_service_field_offers_riffusion_and_flowmusic(shown: dict[str, Any]) -> None:
    """A choice of exactly the two services, riffusion preselected, on every Airflow version."""
    expected_control = "dropdown" if AIRFLOW_V_3_0_PLUS else "select"
    assert service_choice(shown) == (expected_control, SERVICES, "riffusion"), shown


@pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 3's UI stores its extra fields as they are")
def test_the_flask_form_saves_the_chosen_service_and_refuses_others(shown: dict[str, Any]) -> None:
    """Airflow 2.11's Save: the chosen service lands in the extra; a service that is none of them is refused."""
    saved = shown["saved"]
    for service in SERVICES:
        assert saved[service]["valid"], saved[service]
        assert saved[service]["extra"] == {"service": service}, saved[service]
    assert saved[""]["valid"] and saved[""]["extra"] == {}, saved[""]  # nothing chosen: the default applies
    refused = saved["suno"]
    assert not refused["valid"], refused
    assert refused["errors"] == {"extra__riffusion__service": ["Invalid value, must be one of: riffusion, flowmusic."]}
    # Redrawn with the refusal, the form shows the value it refused instead of quietly picking another.
    [control] = _Controls(refused["redrawn"]).controls
    assert control["options"] == [("riffusion", False), ("flowmusic", False), ("suno", True)], control
    [control] = _Controls(saved["flowmusic"]["redrawn"]).controls
    assert control["options"] == [("riffusion", False), ("flowmusic", True)], control
