"""Where each service lives on the emulator's one server, as on ``api.useapi.net`` (and a stand-in CDN).

Free of werkzeug: the emulator object, the state and ``Fault`` all need these names without a server.
"""

from __future__ import annotations

RIFFUSION = "riffusion"
FLOWMUSIC = "flowmusic"
SERVICES = (RIFFUSION, FLOWMUSIC)
"""The APIs the emulator serves side by side; a connection's ``service`` extra picks one."""

SERVICE_PREFIXES = {service: f"/v1/{service}" for service in SERVICES}
"""Each service's endpoints live under ``/v1/<service>`` (``/v1/riffusion/music``, ``/v1/flowmusic/jobs``)."""

PUBLIC_PREFIX = "/_public/flowmusic"
"""Flow Music's public clip files (``wav_url``, ``audio_url``): no token, as a CDN serves them."""
