"""DownloadSongsOperator: the songs into your own storage, with an asset event for each file stored.

The download URLs the service answers with are kept only for a while; a pipeline's real end is the
songs in a folder or bucket of its own, and downstream DAGs that start when new songs land. Every
stored song becomes an asset event through each ``AssetAlias`` in the task's ``outlets``, so each
file's own URI is the asset (Datasets through the compat layer on Airflow 2.11).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_riffusion.exceptions import RiffusionInputError
from airflow_provider_riffusion.hooks import UsesRiffusionHook
from airflow_provider_riffusion.services import RENDERED_NOTHING

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


EXTRA_KEYS = ("song_id", "title", "job_id", "format", "bytes", "sha256")
"""What each asset event's ``extra`` holds: plain values (Airflow 2.11 needs them hashable)."""


class DownloadSongsOperator(UsesRiffusionHook, BaseOperator):
    """
    Store songs (``GET music/download``) in a folder or object store, with an asset event per file.

    On Flow Music, mp3 comes through the API and wav from each song's public ``wav_url`` (without the
    token, https only): pass the songs a compose or songs wait returned, which carry it.

    :param songs: What to fetch (templated; mappable): a compose's output (its ``songs``), a list of
        song dicts (``id``, ``title``), one song dict, a list of song ids, or one id.
    :param destination: A folder (templated): a local path, an ``ObjectStoragePath`` or an
        object-storage URI such as ``s3://bucket/songs/{{ run_id }}/`` (its provider must be installed;
        the connection is the path's ``conn_id`` or ``destination_conn_id``).
    :param download_format: ``mp3`` (default), ``wav``, or ``stems`` (Riffusion only: the API's JSON about the
        stems, stored as it came: its shape is undocumented).
    :param destination_conn_id: The Airflow connection of a string object-storage URI (templated).
    :param user_id: The account (templated; an email on Flow Music); defaults to the connection's ``user_id``.
    :param outlets: Give an ``AssetAlias`` to get one asset event per stored song, each with
        ``extra`` = ``song_id``, ``title``, ``job_id``, ``format``, ``bytes``, ``sha256``.

    Files are named ``<title>-<song id>.<ext>`` (safe characters only; distinct ids never share a name),
    written so that a crash never leaves half a file under that name; a file already there whose
    recorded sha256 (``.<name>.sha256`` beside it) proves it is this song is kept, not fetched again,
    so retries are free. Only audio of the format is stored. Returns ``files`` (each ``song_id``,
    ``title``, ``job_id``, ``path``, ``uri``, ``format``, ``bytes``, ``sha256``, ``content_type``) and
    ``destination``.
    """

    template_fields: Sequence[str] = ("songs", "destination", "download_format", "destination_conn_id", "user_id")
    ui_color = "#d1fff0"

    def __init__(
        self,
        *,
        songs: Any,
        destination: Any,
        download_format: str = "mp3",
        destination_conn_id: str | None = None,
        user_id: str | None = None,
        riffusion_conn_id: str = "riffusion_default",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.songs = songs
        self.destination = destination
        self.download_format = download_format
        self.destination_conn_id = destination_conn_id
        self.user_id = user_id
        self.riffusion_conn_id = riffusion_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            files = store_songs(self, context, self.songs, self.destination, self.download_format)
        finally:
            self.hook.close()
        return {"files": files, "destination": str(self.destination)}

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: every stored song is an output dataset."""
        from airflow_provider_riffusion.lineage import operator_lineage

        return operator_lineage([], [file["uri"] for file in getattr(self, "_stored", [])])


def songs_to_fetch(songs: Any) -> list[dict[str, Any]]:
    """Each song to fetch as ``{"id", "title", "job_id"}``, from whatever shape ``songs`` came in."""
    if isinstance(songs, dict) and "songs" not in songs and "job_ids" in songs:
        raise RiffusionInputError(
            f"songs is the output of a compose that did not wait for its songs (job_ids {shown(songs['job_ids'])}): "
            "set wait_for_completion=True on it, or wait with a SongsCompletedSensor and pass that sensor's output."
        )
    if isinstance(songs, dict) and "songs" in songs:
        songs = songs["songs"]
    if isinstance(songs, (str, dict)):
        songs = [songs]
    if not isinstance(songs, (list, tuple)) or not songs:
        raise RiffusionInputError(
            f"songs is {type(songs).__name__} {shown(songs)}: pass a compose's output, songs or song ids."
        )
    found = []
    for song in songs:
        song = song if isinstance(song, dict) else {"id": song}
        song_id = song.get("id")
        if not isinstance(song_id, str) or song_id.strip() in RENDERED_NOTHING:
            raise RiffusionInputError(
                f"a song has no id (a {type(song).__name__} with keys {shown(sorted(map(str, song)))}): "
                "pass songs as the compose or SongsCompletedSensor returned them, or song ids."
            )
        found.append({"id": song_id, "title": song.get("title"), "job_id": song.get("job_id") or song_id, "song": song})
    return found


def shown(value: Any, width: int = 160) -> str:
    """``value`` for a one-line message: whole, or shortened at a word boundary with a mark, never cut mid-word."""
    text = repr(value)
    if len(text) <= width:
        return text
    short = textwrap.shorten(text, width, placeholder=" ...(more)")
    return (
        short if not short.startswith("...") else f"(a {type(value).__name__} of length {len(text)}, too long to show)"
    )


def store_songs(operator: Any, context: Context, songs: Any, destination: Any, download_format: str) -> list[dict]:
    """Download every song into ``destination`` through ``operator.hook``; emit the asset events of its outlets."""
    files = []
    wanted = songs_to_fetch(songs)  # bad input is named before the connection is even read
    # A format the service serves only from a public URL (Flow Music's wav) is fetched from the song's own URL.
    public_key = operator.hook.settings.service.DOWNLOAD_FORMATS.get(download_format)
    for song in wanted:
        stored = operator.hook.download_song(
            song["id"],
            destination,
            download_format,
            operator.user_id,
            title=song["title"],
            destination_conn_id=getattr(operator, "destination_conn_id", None),
            url=song["song"].get(public_key) if public_key else None,
        )
        path = stored["path"]
        uri = path if "://" in path else Path(path).resolve().as_uri()
        files.append({**stored, "title": song["title"], "job_id": song["job_id"], "uri": uri})
    operator._stored = files
    emit_asset_events(operator, context, files)
    return files


def emit_asset_events(operator: Any, context: Context, files: list[dict[str, Any]]) -> None:
    """One event per stored file through each ``AssetAlias`` among the task's outlets (the file's URI is the asset)."""
    from airflow.providers.common.compat.sdk import Asset, AssetAlias

    aliases = [outlet for outlet in getattr(operator, "outlets", None) or [] if isinstance(outlet, AssetAlias)]
    if not aliases:
        return
    events = context["outlet_events"]
    for alias in aliases:
        for file in files:
            events[alias].add(Asset(file["uri"]), extra={key: file.get(key) for key in EXTRA_KEYS})
    operator.log.info("Asset events: %d song(s) through %s", len(files), [alias.name for alias in aliases])
