"""The connection form as each Airflow version builds it, without a browser: Airflow 2.11 from the hook's
legacy ``get_connection_form_widgets()`` / ``get_ui_field_behaviour()`` (its Flask UI), 3.0 and 3.1 from the
same legacy methods through the api-server's ``hook_meta`` service, 3.2+ from ``conn-fields`` /
``ui-field-behaviour`` in provider info. ``tests/test_connection_ui.py`` drives the real form on 3.3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_0_PLUS

PROBE = """
import json
try:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
except ImportError:  # Airflow 2: the Flask UI renders ProvidersManager's widgets and behaviours
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    widgets = {name: str(info.field) for name, info in pm.connection_form_widgets.items() if "riffusion" in name}
    print(json.dumps({"widgets": widgets, "behaviour": pm.field_behaviours.get("riffusion")}))
else:
    [meta] = [m.model_dump() for m in HookMetaService.hook_meta_data() if m.connection_type == "riffusion"]
    print(json.dumps(meta, default=str))
"""


def form() -> dict[str, Any]:
    """What the UI gets, read in a fresh interpreter (Airflow caches it, and 3.1 leaves mock modules behind)."""
    with tempfile.TemporaryDirectory(prefix="riffusion-form-") as home:
        env = {**os.environ, "AIRFLOW_HOME": home}
        result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_form_relabels_hides_and_adds_the_extras() -> None:
    shown = form()
    if not AIRFLOW_V_3_0_PLUS:
        assert sorted(shown["widgets"]) == ["extra__riffusion__timeout", "extra__riffusion__user_id"]
        behaviour = shown["behaviour"]
        assert behaviour["relabeling"] == {"password": "API token", "host": "Base URL"}
        assert set(behaviour["hidden_fields"]) == {"login", "schema", "port"}
        return
    assert shown["hook_name"] == "Riffusion (useapi.net)"
    fields = shown["standard_fields"]
    assert fields["password"]["title"] == "API token" and not fields["password"]["hidden"]
    assert fields["host"]["title"] == "Base URL" and fields["host"]["placeholder"].startswith("https://api.useapi.net")
    assert fields["login"]["hidden"] and fields["port"]["hidden"]
    assert set(shown["extra_fields"]) == {"user_id", "timeout"}
    assert "Request timeout" in json.dumps(shown["extra_fields"]["timeout"])
