"""The example DAG in a real Airflow (``airflow dags test``, SQLite, temporary AIRFLOW_HOME) against the emulator,
unchanged on each service: Riffusion (both API revisions) and Flow Music."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from airflow_provider_riffusion.operators.download_songs import EXTRA_KEYS
from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.testing.dag_run import run_dag_test
from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_0_PLUS
from tests.airflow_cluster import title_slug
from tests.support import REVISIONS, TOKEN, connection_json, without_airflows_mask_requests

EXAMPLE_DAGS = Path(__file__).resolve().parent.parent / "example_dags"

pytestmark = pytest.mark.airflow_cli

SERVICES = (
    # Airflow never sees which Riffusion revision answered: the older one runs once (marker `once`).
    pytest.param("riffusion", REVISIONS[0], id=f"riffusion-{REVISIONS[0]}", marks=pytest.mark.once),
    pytest.param("riffusion", REVISIONS[1], id=f"riffusion-{REVISIONS[1]}"),
    pytest.param("flowmusic", REVISIONS[1], id="flowmusic"),
)


@pytest.mark.parametrize(("service", "revision"), SERVICES)
def test_example_dag_uploads_waits_and_composes(service: str, revision: str, tmp_path: Path) -> None:
    with RiffusionEmulator(revision=revision, token=TOKEN, pending_polls=2, song_polls=2, service=service) as emu:
        run = run_dag_test(
            "riffusion_upload_compose",
            EXAMPLE_DAGS,
            airflow_home=tmp_path / "airflow",
            env={
                # Riffusion: the connection as it always was (no service named); Flow Music: the one extra.
                "AIRFLOW_CONN_RIFFUSION_DEFAULT": connection_json(
                    emu.base_url, **({"service": service} if service != "riffusion" else {})
                ),
                "RIFFUSION_EXAMPLE_POLL_SECONDS": "0.2",
                "RIFFUSION_EXAMPLE_SONGS": str(tmp_path / "songs"),
                # A paused follower is not queued: this run's follower is unpaused from the start.
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            },
        )
        uploads = list(emu.uploads)
        downloads = emu.downloads
        requests = emu.requests
        origin = emu.base_url.removesuffix(f"/v1/{service}")

    assert run.succeeded, run.output[-4000:]
    upload = run.xcom("upload_track")
    status = run.xcom("wait_for_upload")
    compose = run.xcom("compose")
    lyrics = run.xcom("write_lyrics")["lyrics"]
    songs = compose["songs"]

    # Every request went to the connection's service, none to the other one.
    assert requests and all(r["path"].startswith(f"/v1/{service}/") for r in requests), requests
    [record] = uploads
    assert record.service == service
    assert upload["sha256"] == record.sha256
    assert upload["file_name"] == "demo-arpeggio"
    assert status["status"] == "complete"
    assert status["audio_upload_id"] == upload["audio_upload_id"] == record.audio_upload_id
    assert songs and all(song["status"] == "completed" for song in songs)
    assert all(isinstance(song["title"], str) and song["title"].strip() for song in songs), songs
    assert lyrics and all(song["lyrics"] == lyrics for song in songs)
    if service == "riffusion":
        assert record.file_name == "demo-arpeggio"
        assert status["lyrics"] and status["lyrics"].strip() in lyrics  # the transcribed words, reworked
        status_requests = [r for r in requests if r["method"] == "GET" and "/music/upload-audio" in r["path"]]
        assert len(status_requests) >= 2, requests  # polled: pending (pending_polls=2), then complete
    else:
        # Flow Music takes no name, transcribes nothing, and its upload is ready when it answers: the wait
        # ends at once, so the request after the upload is the lyrics'.
        assert record.file_name == ""
        assert status["lyrics"] == ""
        assert [(r["method"], r["path"]) for r in requests[:2]] == [
            ("POST", "/v1/flowmusic/files"),
            ("POST", "/v1/flowmusic/music/lyrics"),
        ], requests
        assert compose["job_ids"] and {song["job_id"] for song in songs} == set(compose["job_ids"]), compose
        assert all(song["wav_url"].startswith(f"{origin}/_public/flowmusic/") for song in songs), songs

    files = run.xcom("store_songs")["files"]
    assert [file["song_id"] for file in files] == [song["id"] for song in songs]
    for file, song in zip(files, songs, strict=True):
        stored = Path(file["path"])
        assert stored.parent == tmp_path / "songs" and stored.name.startswith(f"{title_slug(song['title'])}-"), stored
        assert stored.suffix == ".mp3" and file["title"] == song["title"]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == file["sha256"]
        assert file["bytes"] == stored.stat().st_size and file["content_type"] == "audio/mpeg"
    # mp3 is the API's own download on both services (with the token; Flow Music's public URLs are for wav).
    assert [(d["song_id"], d["format"], d["service"], d["authorization"]) for d in downloads] == [
        (file["song_id"], "mp3", service, True) for file in files
    ]
    assert not list((tmp_path / "songs").glob(".*partial*"))  # nothing half-written left behind
    assert run.xcom("report") == {"job_id": upload["job_id"], "songs": len(songs), "files": len(files)}
    log = run.log_text()
    assert f"RIFFUSION upload job_id: {upload['job_id']}" in log
    assert f"RIFFUSION transcribed lyrics: {status['lyrics']!r}" in log

    # One asset event per stored song (Datasets on Airflow 2.11), and the follower DAG queued for the
    # scheduler (Airflow 3 runs it: tests/test_airflow_cluster.py after Riffusion, tests/test_celery.py after both).
    events = "asset_event" if AIRFLOW_V_3_0_PLUS else "dataset_event"
    extras = [json.loads(extra) for (extra,) in run.query(f"SELECT extra FROM {events}")]
    by_song = sorted(extras, key=lambda extra: extra["song_id"])
    assert by_song == sorted(({key: file[key] for key in EXTRA_KEYS} for file in files), key=lambda e: e["song_id"])
    queue = "asset_dag_run_queue" if AIRFLOW_V_3_0_PLUS else "dataset_dag_run_queue"
    assert run.query(f"SELECT COUNT(*) FROM {queue} WHERE target_dag_id = ?", "riffusion_on_new_songs")[0][0] >= 1

    assert TOKEN not in without_airflows_mask_requests(run.log_text())
    assert all(TOKEN not in repr(value) for _, _, value in run.xcoms())
