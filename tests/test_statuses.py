"""The status vocabulary (``statuses.py``): every word, and what it means on every path."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_riffusion.client import normalize
from airflow_provider_riffusion.statuses import Progress, songs_progress, upload_progress

UPLOAD_ID = "3f2b8c1e-0000-4000-8000-000000000001"
KINDS = {
    "pending": Progress.PENDING,
    "complete": Progress.READY,
    "failed": Progress.FAILED,
    "unknown": Progress.UNKNOWN_READY,
}


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("pending", "pending"),
        ("", "pending"),
        ("   ", "pending"),
        ("processing", "pending"),
        ("queued", "pending"),
        ("PENDING", "pending"),
        ("complete", "complete"),
        ("completed", "complete"),
        ("Completed", "complete"),
        (" COMPLETE ", "complete"),
        ("failed", "failed"),
        ("error", "failed"),
        ("cancelled", "failed"),
        ("Failed", "failed"),
        ("ERROR", "failed"),
        ("ready", "unknown"),
        ("transcribed", "unknown"),
        ("generating_audio", "unknown"),
    ],
)
def test_classify_upload_status(word: str, kind: str) -> None:
    assert upload_progress(word) is KINDS[kind]


@pytest.mark.parametrize(
    ("statuses", "kind"),
    [
        ([], "pending"),
        (["completed", "completed"], "complete"),
        (["complete", "Completed"], "complete"),
        (["completed", "queued"], "pending"),
        (["generating_audio"], "pending"),
        ([None], "pending"),
        (["completed", "failed"], "failed"),
        (["queued", "ERROR"], "failed"),
    ],
)
def test_classify_songs(statuses: list[Any], kind: str) -> None:
    assert songs_progress(statuses) is KINDS[kind]


def test_missing_status_field_counts_as_pending() -> None:
    status = normalize.upload_status({"is_flagged": False, "transcribed_lyrics": ""}, {"id": UPLOAD_ID})
    assert status["status"] == ""
    assert upload_progress(status["status"]) is Progress.PENDING
