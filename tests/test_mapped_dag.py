"""The folder DAG (dynamic task mapping) in a real Airflow against the emulator: one upload per
file, each arriving intact, each waited for and composed from."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.testing.dag_run import DagTestRun, run_dag_test
from tests.support import TOKEN, connection_json, without_airflows_mask_requests, write_wav

EXAMPLE_DAGS = Path(__file__).resolve().parent.parent / "example_dags"

pytestmark = pytest.mark.airflow_cli


def returned(run: DagTestRun, task_id: str) -> list[Any]:
    """The return values of every mapped instance of ``task_id``."""
    return [value for task, key, value in run.xcoms() if task == task_id and key == "return_value"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_folder_dag(emulator: RiffusionEmulator, airflow_home: Path, folder: str = "") -> DagTestRun:
    temp = airflow_home.parent / "tmp"  # the DAG's generated demo tracks land in the test's own folder
    temp.mkdir(parents=True, exist_ok=True)
    return run_dag_test(
        "riffusion_upload_folder",
        EXAMPLE_DAGS,
        airflow_home=airflow_home,
        env={
            "AIRFLOW_CONN_RIFFUSION_DEFAULT": connection_json(emulator.base_url),
            "RIFFUSION_EXAMPLE_POLL_SECONDS": "0.2",
            "RIFFUSION_EXAMPLE_FOLDER": folder,
            "TMPDIR": str(temp),
        },
    )


def assert_uploaded_and_composed(run: DagTestRun, uploads: list[Any], files: list[Path]) -> None:
    assert run.succeeded, run.output[-4000:]
    assert len(uploads) == len(files)
    assert sorted(record.sha256 for record in uploads) == sorted(sha256(path) for path in files)
    assert sorted(record.file_name for record in uploads) == sorted(path.stem for path in files)

    upload_results = returned(run, "upload")
    assert sorted(result["sha256"] for result in upload_results) == sorted(r.sha256 for r in uploads)
    statuses = returned(run, "wait_for_upload")
    assert len(statuses) == len(files) and all(status["status"] == "complete" for status in statuses)
    composed = returned(run, "compose")
    assert len(composed) == len(files)
    assert all(result["songs"] and all(s["status"] == "completed" for s in result["songs"]) for result in composed)
    composed_from = {song["audio_upload_id"] for result in composed for song in result["songs"]}
    assert composed_from == {record.audio_upload_id for record in uploads}
    titles = {song["title"] for result in composed for song in result["songs"]}
    assert titles == {f"Folder remix {n}" for n in range(1, len(files) + 1)}  # templated per map index
    songs = sum(len(result["songs"]) for result in composed)
    assert run.xcom("report") == {"tracks": len(files), "songs": songs}

    assert TOKEN not in without_airflows_mask_requests(run.log_text())
    assert all(TOKEN not in repr(value) for _, _, value in run.xcoms())


@pytest.mark.once  # the next test runs the same DAG over a harder folder
def test_folder_dag_uploads_the_generated_demo_tracks(tmp_path: Path) -> None:
    with RiffusionEmulator(revision="2025-02-17", token=TOKEN, pending_polls=1, song_polls=1) as emu:
        run = run_folder_dag(emu, tmp_path / "airflow")
        uploads = list(emu.uploads)

    assert run.succeeded, run.output[-4000:]
    files = [Path(source) for source in run.xcom("list_tracks")]
    assert len(files) == 3
    assert_uploaded_and_composed(run, uploads, files)
    assert all(not record.chunked for record in uploads)


def test_folder_dag_uploads_every_audio_file_under_a_given_folder(tmp_path: Path) -> None:
    folder = tmp_path / "album"
    (folder / "b-sides").mkdir(parents=True)
    files = [
        write_wav(folder / "01 opening.wav", seconds=0.3),
        write_wav(folder / "02 théme.WAV", seconds=0.4),
        folder / "b-sides" / "03 outro.mp3",
        folder / "b-sides" / "04 loop.m4a",
    ]
    files[2].write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 64)
    files[3].write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(range(256)) * 32)
    (folder / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0 not audio")
    (folder / "notes.txt").write_text("ignored")

    with RiffusionEmulator(revision="2025-02-25", token=TOKEN, pending_polls=1, song_polls=1) as emu:
        run = run_folder_dag(emu, tmp_path / "airflow", folder=f"file://{folder}")
        uploads = list(emu.uploads)

    assert_uploaded_and_composed(run, uploads, files)
    assert sorted(record.content_type for record in uploads) == ["audio/mp4", "audio/mpeg", "audio/wav", "audio/wav"]
