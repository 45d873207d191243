"""Helpers the emulator's tests share: the test token, and requests to the emulator over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import requests

from airflow_provider_riffusion.testing import RiffusionEmulator

TOKEN = "emu-test-SECRET-8f3a21"
UPLOAD = "music/upload-audio"
MP3 = {"Content-Type": "audio/mpeg"}

Factory = Callable[..., RiffusionEmulator]


class Server(Protocol):
    """Anything with a base URL: an emulator object, or one started from the CLI in another process."""

    @property
    def base_url(self) -> str: ...


class AtUrl:
    """An emulator known only by its base URL (the CLI case)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url


def client(token: str | None = TOKEN) -> requests.Session:
    session = requests.Session()
    if token is not None:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def url(emulator: Server, path: str) -> str:
    return f"{emulator.base_url}/{path}"


def upload(
    session: requests.Session,
    emulator: Server,
    data: Any = b"ID3 fake audio",
    file_name: str = "song",
    content_type: str = "audio/mpeg",
    **params: str,
) -> requests.Response:
    return session.post(
        url(emulator, UPLOAD),
        params={"file_name": file_name, **params},
        data=data,
        headers={"Content-Type": content_type},
        timeout=10,
    )


def status_of(session: requests.Session, emulator: RiffusionEmulator, upload_id: str, **params: str) -> Any:
    response = session.get(url(emulator, UPLOAD), params={"id": upload_id, **params}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def compose(session: requests.Session, emulator: RiffusionEmulator, **body: Any) -> requests.Response:
    return session.post(url(emulator, "music/create-compose"), json=body, timeout=10)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a condition with a deadline (instead of sleeping for a guessed time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.01)
