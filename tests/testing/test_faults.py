"""Fault injection (``testing/faults.py``, ``fault_answers.py``): each kind of fault, what it matches, its checks."""

from __future__ import annotations

import hashlib
import json
import os
import time
from urllib.parse import quote

import pytest
import requests

from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from tests.testing._support import UPLOAD, Factory, client, compose, upload, url

# Faults -----------------------------------------------------------------------------------------------


def test_status_fault_with_retry_after_then_normal_answers(start: Factory) -> None:
    emu = start()
    session = client()
    emu.inject(
        Fault(
            method="POST", path="music/upload-audio/", kind="status", status=429, headers={"Retry-After": "1"}, times=2
        )
    )

    answers = [upload(session, emu) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "1"
    assert answers[0].json() == {"error": "Injected fault: Too Many Requests", "code": 429}
    assert len(emu.uploads) == 1, "a refused upload records nothing"
    assert [entry["status"] for entry in emu.requests] == [429, 429, 200]


def test_status_fault_bodies(start: Factory) -> None:
    emu = start()
    session = client()
    emu.inject(Fault(method="GET", path="accounts", status=596))
    emu.inject(Fault(method="GET", path="accounts", status=412, body={"error": "out of credits", "code": 412}))

    account_error = session.get(url(emu, "accounts"), timeout=10)
    credits = session.get(url(emu, "accounts"), timeout=10)

    assert account_error.status_code == 596
    assert "code" not in account_error.json() and "POST accounts" in account_error.json()["error"]
    assert credits.json() == {"error": "out of credits", "code": 412}


def test_faults_match_method_and_path_only(start: Factory) -> None:
    emu = start()
    session = client()
    emu.inject(Fault(method="GET", path="music", status=503))

    other_path = session.get(url(emu, "accounts"), timeout=10)
    other_method = compose(session, emu, prompt_1="x")
    matching = session.get(url(emu, "music"), params={"id": "x"}, timeout=10)
    used_up = session.get(url(emu, "music"), params={"id": "x"}, timeout=10)

    assert (other_path.status_code, other_method.status_code) == (200, 200)
    assert matching.status_code == 503
    assert used_up.status_code == 200


def scheduled(emu: RiffusionEmulator) -> list[str]:
    return [job["job_id"] for job in client().get(url(emu, "scheduler"), timeout=10).json()["executing"]]


def test_faults_on_delete_scheduler_job_match_its_decoded_path(start: Factory) -> None:
    """A refused DELETE leaves the job running; one whose answer is lost has stopped it (the retry says 404)."""
    emu = start()
    session = client()
    job_id = compose(session, emu, prompt_1="x").json()["jobs"][0]["id"]
    emu.inject(Fault(method="DELETE", path=f"scheduler/{job_id}", status=503))
    emu.inject(Fault(method="delete", path=f"/scheduler/{job_id}/", kind="drop_after_body"))
    emu.inject(Fault(method="DELETE", path="scheduler/user:alice/job:7", status=502))
    target = url(emu, f"scheduler/{job_id}")

    refused = session.delete(target, timeout=10)
    still_running = scheduled(emu)
    with pytest.raises(requests.exceptions.ConnectionError):
        session.delete(target, timeout=10)
    retried = session.delete(target, timeout=10)
    encoded = session.delete(url(emu, f"scheduler/{quote('user:alice/job:7', safe='')}"), timeout=10)

    assert refused.status_code == 503
    assert refused.json() == {"error": "Injected fault: Service Unavailable", "code": 503}
    assert still_running == [job_id]
    assert retried.status_code == 404
    assert scheduled(emu) == []
    assert encoded.status_code == 502  # the fault's path holds the id decoded
    assert [entry["status"] for entry in emu.requests if entry["method"] == "DELETE"] == [503, 0, 404, 502]


def test_html_fault(start: Factory) -> None:
    emu = start()
    emu.inject(Fault(method="POST", path="music/create-compose", kind="html"))

    response = compose(client(), emu, prompt_1="x")

    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.lstrip().startswith("<html>")


def test_malformed_and_missing_field_faults(start: Factory) -> None:
    emu = start()
    session = client()
    emu.inject(Fault(method="GET", path="music", kind="malformed"))
    emu.inject(Fault(method="POST", path=UPLOAD, kind="missing_field"))

    malformed = session.get(url(emu, "music"), params={"id": "x"}, timeout=10)
    missing = upload(session, emu)

    assert malformed.status_code == 200
    assert malformed.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(malformed.text)
    assert (missing.status_code, missing.json()) == (200, {})
    assert emu.uploads == []


def test_hang_fault_times_out_the_client_and_stop_releases_it(start: Factory) -> None:
    emu = start()
    emu.inject(Fault(method="GET", path="accounts", kind="hang", seconds=30))

    with pytest.raises(requests.exceptions.ReadTimeout):
        client().get(url(emu, "accounts"), timeout=0.3)

    assert [entry["status"] for entry in emu.requests] == [0]
    began = time.monotonic()
    emu.stop()
    assert time.monotonic() - began < 2


def test_hang_fault_closes_without_an_answer(start: Factory) -> None:
    emu = start()
    emu.inject(Fault(method="GET", path="music", kind="hang", seconds=0.2))
    began = time.monotonic()

    with pytest.raises(requests.exceptions.ConnectionError):
        client().get(url(emu, "music"), params={"id": "x"}, timeout=5)

    assert time.monotonic() - began >= 0.2
    assert client().get(url(emu, "music"), params={"id": "x"}, timeout=5).status_code == 200


def test_drop_fault_mid_upload_records_nothing(start: Factory) -> None:
    emu = start()
    session = client()
    emu.inject(Fault(method="POST", path=UPLOAD, kind="drop"))
    body = os.urandom(4 * 1024 * 1024)

    with pytest.raises(requests.exceptions.ConnectionError):
        upload(session, emu, body)

    assert emu.uploads == []
    retried = upload(client(), emu, body)
    assert retried.status_code == 200
    [record] = emu.uploads
    assert record.sha256 == hashlib.sha256(body).hexdigest()
    assert [entry["status"] for entry in emu.requests] == [0, 200]


def test_drop_fault_on_a_get(start: Factory) -> None:
    emu = start()
    emu.inject(Fault(method="GET", path="accounts", kind="drop"))

    with pytest.raises(requests.exceptions.ConnectionError):
        client().get(url(emu, "accounts"), timeout=5)

    assert client().get(url(emu, "accounts"), timeout=5).status_code == 200


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault(method="GET", path="music", kind="explode")
    with pytest.raises(ValueError, match="method"):
        Fault(method="PUT", path="music")
    assert Fault(method="delete", path="scheduler/job-1").method == "DELETE"
    with pytest.raises(ValueError, match="times"):
        Fault(method="GET", path="music", times=0)
    assert Fault(method="get", path="/music/").to_dict()["path"] == "music"
