"""Apache Airflow provider for the useapi.net Riffusion API and its live successor, Flow Music API v1.

Kept import-light on purpose: Airflow's provider discovery and every DAG parse import it.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    from airflow_provider_riffusion.connection_form import EXTRA_FIELDS, UI_FIELD_BEHAVIOUR

    module = "airflow_provider_riffusion"
    return {
        "package-name": "airflow-provider-riffusion",
        "name": "Riffusion (useapi.net)",
        "description": "Upload audio to the useapi.net Riffusion or Flow Music API, wait for it, and compose music "
        "from it.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Riffusion (useapi.net)",
                "external-doc-url": "https://useapi.net/docs/api-riffusion-v1",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Riffusion (useapi.net)", "python-modules": [f"{module}.hooks.riffusion"]}],
        "operators": [
            {
                "integration-name": "Riffusion (useapi.net)",
                "python-modules": [f"{module}.operators.riffusion"],
            }
        ],
        "sensors": [{"integration-name": "Riffusion (useapi.net)", "python-modules": [f"{module}.sensors.riffusion"]}],
        "triggers": [
            {"integration-name": "Riffusion (useapi.net)", "python-modules": [f"{module}.triggers.riffusion"]}
        ],
        "connection-types": [
            {
                "connection-type": "riffusion",
                "hook-class-name": f"{module}.hooks.riffusion.RiffusionHook",
                "hook-name": "Riffusion (useapi.net)",
                "conn-fields": EXTRA_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
        "extra-links": [f"{module}.operators.riffusion.RiffusionSongsLink"],
        "config": {
            "riffusion": {
                "description": "Settings of the Riffusion (useapi.net) provider.",
                "options": {
                    "min_poll_interval": {
                        "description": "The shortest pause, in seconds, between two polls of a wait (sensor, "
                        "trigger or operator): a poke_interval or poll_interval below it is raised to it, "
                        "with a warning, so no setting polls the API in a hot loop. More than 0.",
                        "version_added": "0.2.0",
                        "type": "float",
                        "example": "1",
                        "default": "1",
                    },
                    "triggerer_pool_size": {
                        "description": "The most connections one triggerer opens to one API host with one token: "
                        "every deferred wait of a connection shares this pool instead of opening its own.",
                        "version_added": "0.3.0",
                        "type": "integer",
                        "example": "16",
                        "default": "16",
                    },
                },
            }
        },
    }
