"""The example DAG in a real Airflow (``airflow dags test``, SQLite, temporary AIRFLOW_HOME) against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.testing.dag_run import run_dag_test
from tests.support import REVISIONS, TOKEN, connection_json

EXAMPLE_DAGS = Path(__file__).resolve().parent.parent / "example_dags"

pytestmark = pytest.mark.airflow_cli


@pytest.mark.parametrize("revision", REVISIONS)
def test_example_dag_uploads_waits_and_composes(revision: str, tmp_path: Path) -> None:
    with RiffusionEmulator(revision=revision, token=TOKEN, pending_polls=2, song_polls=2) as emu:
        run = run_dag_test(
            "riffusion_upload_compose",
            EXAMPLE_DAGS,
            airflow_home=tmp_path / "airflow",
            env={
                "AIRFLOW_CONN_RIFFUSION_DEFAULT": connection_json(emu.base_url),
                "RIFFUSION_EXAMPLE_POLL_SECONDS": "0.2",
            },
        )
        uploads = list(emu.uploads)

    assert run.succeeded, run.output[-4000:]
    upload = run.xcom("upload_track")
    status = run.xcom("wait_for_upload")
    compose = run.xcom("compose")

    [record] = uploads
    assert upload["sha256"] == record.sha256
    assert upload["file_name"] == record.file_name == "demo-arpeggio"
    assert status["status"] == "complete"
    assert status["lyrics"]
    assert status["audio_upload_id"] == upload["audio_upload_id"]
    assert compose["songs"] and all(song["status"] == "completed" for song in compose["songs"])
    assert all(song["title"] == "Arpeggio Dreams" for song in compose["songs"])
    assert run.xcom("report") == {"job_id": upload["job_id"], "songs": len(compose["songs"])}
    assert f"RIFFUSION upload job_id: {upload['job_id']}" in run.log_text()

    assert TOKEN not in run.log_text()
    assert all(TOKEN not in repr(value) for _, _, value in run.xcoms())
