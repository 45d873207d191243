"""The example DAG in a real Airflow (``airflow dags test``, SQLite, temporary AIRFLOW_HOME) against the emulator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from airflow_provider_riffusion.operators.download_songs import EXTRA_KEYS
from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.testing.dag_run import run_dag_test
from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_0_PLUS
from tests.support import EACH_REVISION, TOKEN, connection_json, without_airflows_mask_requests

EXAMPLE_DAGS = Path(__file__).resolve().parent.parent / "example_dags"

pytestmark = pytest.mark.airflow_cli


@pytest.mark.parametrize("revision", EACH_REVISION)
def test_example_dag_uploads_waits_and_composes(revision: str, tmp_path: Path) -> None:
    with RiffusionEmulator(revision=revision, token=TOKEN, pending_polls=2, song_polls=2) as emu:
        run = run_dag_test(
            "riffusion_upload_compose",
            EXAMPLE_DAGS,
            airflow_home=tmp_path / "airflow",
            env={
                "AIRFLOW_CONN_RIFFUSION_DEFAULT": connection_json(emu.base_url),
                "RIFFUSION_EXAMPLE_POLL_SECONDS": "0.2",
                "RIFFUSION_EXAMPLE_SONGS": str(tmp_path / "songs"),
                # A paused follower is not queued: this run's follower is unpaused from the start.
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            },
        )
        uploads = list(emu.uploads)
        downloads = emu.downloads

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
    lyrics = run.xcom("write_lyrics")["lyrics"]
    assert lyrics and status["lyrics"].strip() in lyrics  # the transcribed words, reworked
    assert all(song["lyrics"] == lyrics for song in compose["songs"])
    files = run.xcom("store_songs")["files"]
    assert [file["song_id"] for file in files] == [song["id"] for song in compose["songs"]]
    for file in files:
        stored = Path(file["path"])
        assert stored.parent == tmp_path / "songs" and stored.name.startswith("arpeggio-dreams-")
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == file["sha256"]
        assert file["bytes"] == stored.stat().st_size and file["content_type"] == "audio/mpeg"
    assert [d["song_id"] for d in downloads] == [file["song_id"] for file in files]
    assert not list((tmp_path / "songs").glob(".*partial*"))  # nothing half-written left behind
    assert run.xcom("report") == {"job_id": upload["job_id"], "songs": len(compose["songs"]), "files": len(files)}
    assert f"RIFFUSION upload job_id: {upload['job_id']}" in run.log_text()

    # One asset event per stored song (Datasets on Airflow 2.11), and the follower DAG queued for the
    # scheduler (tests/test_airflow_cluster.py shows it run on Airflow 3).
    events = "asset_event" if AIRFLOW_V_3_0_PLUS else "dataset_event"
    extras = sorted((json.loads(extra) for (extra,) in run.query(f"SELECT extra FROM {events}")), key=str)
    by_song = sorted(extras, key=lambda extra: extra["song_id"])
    assert by_song == sorted(({key: file[key] for key in EXTRA_KEYS} for file in files), key=lambda e: e["song_id"])
    queue = "asset_dag_run_queue" if AIRFLOW_V_3_0_PLUS else "dataset_dag_run_queue"
    assert run.query(f"SELECT COUNT(*) FROM {queue} WHERE target_dag_id = ?", "riffusion_on_new_songs")[0][0] >= 1

    assert TOKEN not in without_airflows_mask_requests(run.log_text())
    assert all(TOKEN not in repr(value) for _, _, value in run.xcoms())
