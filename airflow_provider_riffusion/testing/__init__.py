"""A local stand-in for the useapi.net Riffusion API (decommissioned upstream) and its successor, Flow Music
API v1, for tests and demos.

``RiffusionEmulator`` serves both APIs over real HTTP on 127.0.0.1 (``/v1/riffusion``, ``/v1/flowmusic``);
``Fault`` makes it misbehave on purpose; ``UploadRecord`` is what it remembers of each upload. Importing this
package is cheap: werkzeug is loaded only when a server starts.

Shell: ``python -m airflow_provider_riffusion.testing --port 8765``. pytest: the ``riffusion_emulator``
and ``riffusion_connection`` fixtures (registered as a pytest plugin by this distribution).
"""

from __future__ import annotations

from airflow_provider_riffusion.testing.emulator import RiffusionEmulator
from airflow_provider_riffusion.testing.faults import Fault
from airflow_provider_riffusion.testing.state import UploadRecord

__all__ = ["Fault", "RiffusionEmulator", "UploadRecord"]
