"""HTTPS end to end: both clients check the API's certificate against the same CA bundle.

The emulator serves TLS with a certificate for 127.0.0.1 signed by a CA made for the test. With
``REQUESTS_CA_BUNDLE`` pointing at that CA, the hook uploads and the trigger waits; without it, both
refuse the certificate at once, with the same one-line message, before any request is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from airflow_provider_riffusion.exceptions import RiffusionConnectionConfigError
from airflow_provider_riffusion.hooks import riffusion as hook_module
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.testing.tls import write_ca_and_certificate
from airflow_provider_riffusion.triggers.riffusion import UploadCompletedTrigger, result_from_event
from tests.support import TOKEN, connection_json, one_event


class HttpsApi(NamedTuple):
    emulator: RiffusionEmulator
    ca_pem: Path


@pytest.fixture
def https_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpsApi]:
    """An HTTPS emulator behind ``riffusion_default``, and the CA that signed its certificate."""
    files = write_ca_and_certificate(tmp_path, "riffusion test CA")
    server_context = files.server_context()
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    hook_module.shared_ssl_context.cache_clear()  # one context per process: made again for this test
    try:
        with RiffusionEmulator(token=TOKEN, ssl_context=server_context) as emulator:
            monkeypatch.setenv("AIRFLOW_CONN_RIFFUSION_DEFAULT", connection_json(emulator.base_url))
            yield HttpsApi(emulator, files.ca)
    finally:
        hook_module.shared_ssl_context.cache_clear()


def _wait(job_id: str) -> dict[str, Any]:
    return one_event(UploadCompletedTrigger(job_id=job_id, poll_interval=0.01))


def test_both_clients_trust_the_ca_bundle_requests_uses(
    https_api: HttpsApi, wav_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https_api.ca_pem))
    emulator = https_api.emulator
    assert emulator.base_url.startswith("https://127.0.0.1:")

    uploaded = RiffusionHook().upload_audio(wav_file)
    event = _wait(uploaded["job_id"])

    assert event["status"] == "success", event
    assert event["result"]["audio_upload_id"] == uploaded["audio_upload_id"]
    [record] = emulator.uploads
    assert record.sha256 == uploaded["sha256"]
    assert {entry["method"] for entry in emulator.requests} == {"POST", "GET"}


def test_an_untrusted_certificate_fails_both_clients_at_once_with_one_message(
    https_api: HttpsApi, wav_file: Path
) -> None:
    emulator = https_api.emulator
    expected = (
        rf"^The TLS certificate of {emulator.base_url} was refused \(unable to get local issuer certificate\): "
        r"point REQUESTS_CA_BUNDLE at the CA bundle that signs it"
    )

    with pytest.raises(RiffusionConnectionConfigError, match=expected) as refused:
        RiffusionHook().upload_audio(wav_file)
    event = _wait("some-job")
    with pytest.raises(RiffusionConnectionConfigError, match=expected) as refused_in_trigger:
        result_from_event(event, expected="result")

    assert str(refused.value) == str(refused_in_trigger.value)
    assert "\n" not in str(refused.value) and TOKEN not in str(refused.value)
    assert emulator.requests == []  # refused during the handshake: nothing was sent, nothing retried
