"""``[core] hostname_callable`` for the Celery test: each worker records its own name, not the machine's."""

from __future__ import annotations

import os
import socket


def get_hostname() -> str:
    return os.environ.get("RIFFUSION_WORKER_NAME") or socket.getfqdn()
