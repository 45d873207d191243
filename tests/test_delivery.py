"""Songs into storage (``delivery.py``, ``RiffusionHook.download_song``, ``DownloadSongsOperator``): streamed,
never half-written under the final name, kept on a retry, and reported as lineage."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.delivery import song_file_name
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.operators.riffusion import CreateComposeOperator, DownloadSongsOperator
from airflow_provider_riffusion.sources.kinds import sniff_kind
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.version_compat import AIRFLOW_V_3_0_PLUS
from tests.support import RecordingTI, task_context

DOWNLOAD = "music/download"


@pytest.fixture
def songs(connection: RiffusionEmulator) -> list[dict[str, Any]]:
    """Two finished songs of one compose, as the compose operator returns them."""
    operator = CreateComposeOperator(
        task_id="c", prompt_1="bossa nova", title="Girl From Ipanema", wait_for_completion=True, poll_interval=0.01
    )
    return list(operator.execute(task_context(RecordingTI()))["songs"])


def partials(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if ".partial-" in path.name]


@pytest.mark.parametrize(("download_format", "content_type"), [("mp3", "audio/mpeg"), ("wav", "audio/wav")])
def test_a_song_is_streamed_into_a_folder(
    connection: RiffusionEmulator, songs: list[dict[str, Any]], tmp_path: Path, download_format: str, content_type: str
) -> None:
    song = songs[0]
    stored = RiffusionHook().download_song(song["id"], tmp_path / "out", download_format, title=song["title"])

    path = Path(stored["path"])
    assert set(stored) == {"song_id", "path", "format", "bytes", "sha256", "content_type"}
    assert path.name == f"girl-from-ipanema-{song['id']}.{download_format}"
    data = path.read_bytes()
    assert stored["bytes"] == len(data) == connection.downloads[-1]["bytes"]
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert stored["content_type"] == content_type and sniff_kind(data[:16]) == download_format
    if download_format == "wav":
        with wave.open(str(path)) as track:
            assert track.getnframes() > 0  # a real WAV file
    assert partials(tmp_path) == []


def test_stems_are_stored_as_the_json_the_api_sent(
    connection: RiffusionEmulator, songs: list[dict[str, Any]], tmp_path: Path
) -> None:
    stored = RiffusionHook().download_song(songs[0]["id"], tmp_path, "stems")
    assert stored["path"].endswith(".stems.json") and stored["content_type"] == "application/json"
    assert json.loads(Path(stored["path"]).read_text())["stems"]  # as it came: its shape is undocumented


def test_a_file_of_the_same_size_is_kept_on_a_retry(
    connection: RiffusionEmulator, songs: list[dict[str, Any]], tmp_path: Path
) -> None:
    first = RiffusionHook().download_song(songs[0]["id"], tmp_path, title="x")
    before = Path(first["path"]).stat()
    again = RiffusionHook().download_song(songs[0]["id"], tmp_path, title="x")

    after = Path(again["path"]).stat()
    assert again == first
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not written again


def test_a_download_cut_mid_body_is_fetched_again_and_never_shows_half(
    connection: RiffusionEmulator, songs: list[dict[str, Any]], tmp_path: Path
) -> None:
    connection.download_bytes = 2 * 1024 * 1024
    connection.inject(Fault(method="GET", path=DOWNLOAD, kind="cut", size=300_000))

    stored = RiffusionHook().download_song(songs[0]["id"], tmp_path)

    data = Path(stored["path"]).read_bytes()
    assert len(data) == stored["bytes"] > 2_000_000 and hashlib.sha256(data).hexdigest() == stored["sha256"]
    assert len(connection.downloads) == 2 and partials(tmp_path) == []


def test_a_download_cut_every_time_leaves_nothing_under_the_final_name(
    connection: RiffusionEmulator, songs: list[dict[str, Any]], tmp_path: Path
) -> None:
    connection.download_bytes = 2 * 1024 * 1024
    connection.inject(Fault(method="GET", path=DOWNLOAD, kind="cut", size=300_000, times=100))

    with pytest.raises(exc.RiffusionNetworkError) as raised:
        RiffusionHook().download_song(songs[0]["id"], tmp_path, title="Cut")

    assert "the download of song" in str(raised.value) and "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("given", "fragment"), [("flac", "download_format 'flac'"), ("", "download_format ''")])
def test_a_format_the_api_does_not_serve_is_refused_before_any_request(
    connection: RiffusionEmulator, tmp_path: Path, given: str, fragment: str
) -> None:
    with pytest.raises(exc.RiffusionInputError, match=fragment):
        RiffusionHook().download_song("song-1", tmp_path, given)
    assert connection.requests == []


def test_an_unknown_song_is_named(connection: RiffusionEmulator, tmp_path: Path) -> None:
    with pytest.raises(exc.RiffusionNotFoundError, match="song nope"):
        RiffusionHook().download_song("nope", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_destination_that_cannot_be_written_is_one_line(
    connection: RiffusionEmulator, songs: list[dict[str, Any]], tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "songs").write_text("a file where a folder should be")
    with pytest.raises(exc.RiffusionDestinationError) as raised:
        RiffusionHook().download_song(songs[0]["id"], locked / "songs")
    assert "\n" not in str(raised.value) and "check the destination" in str(raised.value)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Girl From Ipanema", "girl-from-ipanema-s1.mp3"),
        ("Über  Café / Night:Mix", "uber-cafe-night-mix-s1.mp3"),
        ("../../etc/passwd", "etc-passwd-s1.mp3"),
        ("", "s1.mp3"),
        (None, "s1.mp3"),
        ("🎵🎵", "s1.mp3"),
    ],
)
def test_file_names_are_deterministic_and_safe(title: Any, expected: str) -> None:
    assert song_file_name("s1", title, "mp3") == expected
    # Sanitising changed the id: a digest of the whole id keeps it apart from "x-y", "x/y" ...
    # (tests/hooks/test_transfers.py)
    assert song_file_name("../x/y", "t", "wav") == f"t-x-y-h{hashlib.sha256(b'../x/y').hexdigest()[:12]}.wav"


# -- the operator ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["compose output", "song dicts", "one song", "song ids"])
def test_download_operator_takes_songs_in_every_shape(
    connection: RiffusionEmulator, songs: list[dict[str, Any]], tmp_path: Path, shape: str
) -> None:
    given: Any = {
        "compose output": {"job_ids": [s["id"] for s in songs], "songs": songs},
        "song dicts": songs,
        "one song": songs[0],
        "song ids": [s["id"] for s in songs],
    }[shape]
    operator = DownloadSongsOperator(task_id="store", songs=given, destination=str(tmp_path / "{{ ds }}"))
    operator.destination = str(tmp_path / "2025-01-01")  # as rendered
    result = operator.execute(task_context(RecordingTI()))

    expected = songs[:1] if shape == "one song" else songs
    assert [file["song_id"] for file in result["files"]] == [s["id"] for s in expected]
    for file in result["files"]:
        assert Path(file["path"]).parent == tmp_path / "2025-01-01"
        assert file["uri"] == Path(file["path"]).resolve().as_uri()
    assert "destination" in operator.template_fields and "songs" in operator.template_fields


@pytest.mark.parametrize("songs_value", [[], None, {"songs": []}, [{"title": "no id"}], ["None"]])
def test_download_operator_refuses_songs_without_ids(
    connection: RiffusionEmulator, tmp_path: Path, songs_value: Any
) -> None:
    with pytest.raises(exc.RiffusionInputError):
        DownloadSongsOperator(task_id="store", songs=songs_value, destination=str(tmp_path)).execute(
            task_context(RecordingTI())
        )
    assert connection.requests == []


@pytest.fixture
def memory_store() -> Iterator[Any]:
    if not AIRFLOW_V_3_0_PLUS:
        pytest.skip("object-storage destinations are tested on Airflow 3 (2.11's ObjectStoragePath differs)")
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    attach(protocol="memory", fs=fs)
    yield fs
    if fs.exists("/songs-bucket"):
        fs.rm("/songs-bucket", recursive=True)


def test_songs_go_into_object_storage(
    connection: RiffusionEmulator, songs: list[dict[str, Any]], memory_store: Any
) -> None:
    result = DownloadSongsOperator(
        task_id="store", songs=songs, destination="memory://songs-bucket/daily/", download_format="wav"
    ).execute(task_context(RecordingTI()))

    for file in result["files"]:
        assert file["path"] == file["uri"] and file["uri"].startswith("memory://songs-bucket/daily/girl-from")
        data = memory_store.cat_file(file["uri"].removeprefix("memory://"))
        assert hashlib.sha256(data).hexdigest() == file["sha256"] and sniff_kind(data[:16]) == "wav"
    listed = memory_store.ls("/songs-bucket/daily", detail=False)
    songs_there = sorted(key for key in listed if not key.rsplit("/", 1)[-1].startswith("."))
    assert songs_there == sorted("/" + f["uri"].removeprefix("memory://") for f in result["files"])
    for file in result["files"]:  # each song's sha256 recorded beside it, so a retry can keep it
        folder, name = file["uri"].removeprefix("memory://").rsplit("/", 1)
        assert memory_store.cat_file(f"{folder}/.{name}.sha256").decode() == f"{file['sha256']}  {name}\n"
    assert len(listed) == 2 * len(result["files"])


def test_compose_can_store_its_songs_itself(connection: RiffusionEmulator, tmp_path: Path) -> None:
    operator = CreateComposeOperator(
        task_id="compose",
        prompt_1="dub",
        title="Echo",
        wait_for_completion=True,
        poll_interval=0.01,
        download_to=str(tmp_path),
    )
    result = operator.execute(task_context(RecordingTI()))
    assert [file["song_id"] for file in result["files"]] == [song["id"] for song in result["songs"]]
    assert all(Path(file["path"]).is_file() for file in result["files"])


def test_download_to_needs_the_wait() -> None:
    with pytest.raises(ValueError, match="download_to needs wait_for_completion=True"):
        CreateComposeOperator(task_id="c", prompt_1="p", download_to="/tmp/x")


# -- lineage ---------------------------------------------------------------------------------


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real hook lineage collector for the test (Airflow hands out a no-op one unless a reader is registered)."""
    from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

    if importlib.util.find_spec("airflow.sdk") and importlib.util.find_spec("airflow.sdk.lineage"):  # Airflow 3.2+
        from airflow.sdk.lineage import HookLineageCollector

        fresh = HookLineageCollector()
        monkeypatch.setattr("airflow.sdk.lineage.get_hook_lineage_collector", lambda: fresh)
    else:
        lineage_hook = importlib.import_module("airflow.lineage.hook")  # before 3.2: a module singleton
        monkeypatch.setattr(lineage_hook, "_hook_lineage_collector", lineage_hook.HookLineageCollector())
    return get_hook_lineage_collector()


def test_the_hook_reports_the_uploaded_source_and_the_stored_songs(
    connection: RiffusionEmulator, collector: Any, wav_file: Path, tmp_path: Path
) -> None:
    hook = RiffusionHook()
    hook.upload_audio(wav_file)
    job_ids = hook.create_compose("ska")["job_ids"]
    stored = hook.download_song(job_ids[0], tmp_path, title="Ska")

    lineage = collector.collected_assets
    assert [item.asset.uri for item in lineage.inputs] == [wav_file.resolve().as_uri()]
    assert [item.asset.uri for item in lineage.outputs] == [Path(stored["path"]).resolve().as_uri()]


def test_openlineage_sees_the_stored_songs(
    connection: RiffusionEmulator, songs: list[dict[str, Any]], tmp_path: Path
) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    operator = DownloadSongsOperator(task_id="store", songs=songs, destination=str(tmp_path))
    result = operator.execute(task_context(RecordingTI()))

    lineage = operator.get_openlineage_facets_on_complete(None)
    assert lineage.inputs == []
    assert [(d.namespace, d.name) for d in lineage.outputs] == [
        ("file", str(Path(file["path"]).resolve())) for file in result["files"]
    ]


def test_openlineage_sees_the_uploaded_source(connection: RiffusionEmulator, wav_file: Path) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    from airflow_provider_riffusion.operators.riffusion import UploadAudioOperator

    operator = UploadAudioOperator(task_id="upload", source=str(wav_file))
    operator.execute(task_context(RecordingTI()))

    lineage = operator.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", str(wav_file.resolve()))]
    assert lineage.outputs == []
