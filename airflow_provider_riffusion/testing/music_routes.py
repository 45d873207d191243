"""The emulator's endpoints beyond upload and compose: lyrics, prompts, running jobs and free job slots, and
song downloads.

Downloads serve real audio: MPEG-1 Layer III frames (``audio/mpeg``) or a RIFF/WAVE file
(``audio/wav``) of the configured size (``download_bytes``), made as they are sent, so a test can
fetch 200 MB without the emulator holding it; ``stems`` answers JSON (its shape upstream is not
documented). Every download is recorded.

The scheduler lists the running jobs (``GET scheduler``), reports each account's free slots (``GET
scheduler/available``) and stops tracking a job on request (``DELETE scheduler/{job_id}``: its slot is free
at once, its songs go on being made).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from werkzeug.wrappers import Request, Response

from airflow_provider_riffusion.testing.fault_answers import STREAM_KEY
from airflow_provider_riffusion.testing.http import (
    API_PREFIX,
    ApiError,
    bad_request,
    json_response,
    not_found,
    raw_path,
    status_line,
)

if TYPE_CHECKING:
    from airflow_provider_riffusion.testing.state import EmulatorState

MP3_FRAME = bytes.fromhex("fffb9064")
"""An MPEG-1 Layer III frame header: 128 kbit/s, 44.1 kHz, no padding, so 417 bytes a frame."""
MP3_FRAME_BYTES = 417
WAV_HEADER_BYTES = 44
_MODERATED = re.compile(r"\bforbidden\b", re.IGNORECASE)


def mp3_body(song_id: str, size: int) -> tuple[int, Iterator[bytes]]:
    """Whole frames of about ``size`` bytes; the first frame carries the song id, so each song differs."""
    frames = max(1, size // MP3_FRAME_BYTES)
    tag = hashlib.sha256(song_id.encode()).digest()
    first = MP3_FRAME + tag + bytes(MP3_FRAME_BYTES - 4 - len(tag))
    frame = MP3_FRAME + bytes(MP3_FRAME_BYTES - 4)
    block = frame * 2048

    def chunks() -> Iterator[bytes]:
        yield first
        left = frames - 1
        while left > 0:
            count = min(left, 2048)
            yield block[: count * MP3_FRAME_BYTES]
            left -= count

    return frames * MP3_FRAME_BYTES, chunks()


def wav_body(song_id: str, size: int) -> tuple[int, Iterator[bytes]]:
    """A mono 16-bit 8 kHz sine of about ``size`` bytes, its pitch picked by the song id."""
    data = max(2, (size - WAV_HEADER_BYTES) // 2 * 2)
    rate, pitch = 8000, 220 + hashlib.sha256(song_id.encode()).digest()[0]
    header = (
        b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
    )
    period = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * pitch * i / rate))) for i in range(rate))

    def chunks() -> Iterator[bytes]:
        yield header + b"data" + struct.pack("<I", data)
        left = data
        while left > 0:
            yield period[: min(left, len(period))]
            left -= len(period)

    return WAV_HEADER_BYTES + data, chunks()


class MusicRoutes:
    """Mixed into ``ApiRoutes``: it supplies ``state``, ``resolve_user``, ``read_json`` and ``start_songs``."""

    state: EmulatorState
    resolve_user: Callable[..., str]
    read_json: Callable[[Request], dict[str, Any]]
    start_songs: Callable[..., Response]

    def music_table(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("GET", "music/download"): self.download,
            ("POST", "music/generate-lyrics"): self.generate_lyrics,
            ("POST", "generate-lyrics"): self.generate_lyrics,  # the docs show both paths
            ("POST", "music/create-prompt"): self.create_prompt,
            ("GET", "scheduler"): self.scheduler,
            ("GET", "scheduler/available"): self.scheduler_available,
        }

    def download(self, request: Request) -> Response:
        """``GET music/download``: mp3 or wav audio made as it is sent, or the stems' JSON; each one recorded."""
        song_id = request.args.get("id")
        if not song_id:
            raise bad_request("Parameter id is required")
        download_format = request.args.get("download_format", "mp3")
        if download_format not in ("mp3", "wav", "stems"):
            raise bad_request(f"download_format {download_format!r} is not one of mp3, wav, stems")
        if not self.state.has_song(song_id):
            raise not_found(f"Song {song_id!r} not found")
        if download_format == "stems":
            base = self.state.base_url
            stems = [
                {"name": name, "url": f"{base}/music/download?id={song_id}&stem={name}"} for name in ("vocals", "music")
            ]
            body = json.dumps({"id": song_id, "stems": stems}).encode()
            self.state.note_download(song_id, download_format, len(body))
            return Response(body, status=200, mimetype="application/json")
        size, chunks = (mp3_body if download_format == "mp3" else wav_body)(song_id, self.state.settings.download_bytes)
        self.state.note_download(song_id, download_format, size)
        response = Response(chunks, status=200, mimetype="audio/mpeg" if download_format == "mp3" else "audio/wav")
        response.headers["Content-Length"] = str(size)
        request.environ[STREAM_KEY] = True
        return response

    def generate_lyrics(self, request: Request) -> Response:
        values = self.read_json(request)
        prompt = values.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise bad_request("prompt is required and must be a non-empty string")
        self.resolve_user(values.get("user_id"), required=False)
        words = " ".join(prompt.split()[:8])
        lyrics = f"[Verse]\n{words}, all night long\n[Chorus]\n{words}, sing along"
        if isinstance(values.get("lyrics"), str):
            lyrics = f"{values['lyrics'].strip()}\n[Bridge]\n{words}"
        return json_response(200, {"lyrics": lyrics})

    def create_prompt(self, request: Request) -> Response:
        values = self.read_json(request)
        prompt = values.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise bad_request("prompt is required and must be a non-empty string")
        if "instrumental" in values and not isinstance(values["instrumental"], bool):
            raise bad_request("instrumental must be a boolean")
        if _MODERATED.search(prompt):
            return json_response(200, {"is_flagged": True, "reason": "moderation: prompt not allowed"})
        user_id = self.resolve_user(values.get("user_id"), required=False)
        lyrics = "" if values.get("instrumental") else f"{prompt} (sung)"
        reply = [values.get(name) if isinstance(values.get(name), str) else None for name in ("replyUrl", "replyRef")]
        return self.start_songs(user_id, " ".join(prompt.split()[:6]).title()[:60], lyrics, None, *reply)

    # The scheduler --------------------------------------------------------------------------------
    def _accounts(self) -> list[dict[str, Any]]:
        """Each account's slots: ``available`` its free ones (``free_slots`` less its running jobs); ``executing``
        its running jobs, plus as many more as ``free_slots`` below ``maxJobs`` (3) stands for."""
        with self.state.lock:
            others = max(0, 3 - self.state.settings.free_slots)
            running = [job.user_id for job in self.state.running_jobs()]
            return [
                {
                    "user_id": user,
                    "maxJobs": 3,
                    "executing": running.count(user) + others,
                    "available": self.state.available(user),
                }
                for user in self.state.user_ids
            ]

    def _executing(self) -> list[dict[str, Any]]:
        return [job.to_dict() for job in self.state.running_jobs()]

    def scheduler(self, request: Request) -> Response:
        with self.state.lock:  # one moment: the listed jobs are the ones the counts hold
            return json_response(200, {"executing": self._executing(), "accounts": self._accounts()})

    def scheduler_available(self, request: Request) -> Response:
        if not self.state.user_ids:
            raise ApiError(404, {"error": "No accounts configured", "code": 404})
        with self.state.lock:
            return json_response(200, {"executing": self._executing(), "available": self._accounts()})

    def cancel_job(self, request: Request) -> Response:
        """``DELETE scheduler/{job_id}``: 204 when the job ran (its slot is free now), 404 when it does not run
        (unknown, finished, or cancelled before). The job's songs go on being made either way."""
        job_id = path_job_id(request)
        if job_id is None:  # a bare "/" in the id: more than one segment
            raise not_found(f"No such endpoint: {request.path[len(API_PREFIX) :].strip('/')}")
        if not self.state.cancel_job(job_id):
            raise not_found(f"Unable to locate running job_id {job_id}")
        response = Response(status=status_line(204))
        response.headers.remove("Content-Type")
        return response


def path_job_id(request: Request) -> str | None:
    """The job id of ``{API_PREFIX}/scheduler/{job_id}``: one path segment, percent-decoded (as UTF-8).

    Read from the raw request target (werkzeug's server keeps it as ``RAW_URI``), so that an encoded ``/``
    (``%2F``) belongs to the id while a bare ``/`` separates segments: ``None`` unless exactly one segment
    follows ``scheduler/``. Without a raw target (another WSGI server), the decoded path is split instead.
    """
    path = raw_path(request)
    segments = [unquote_to_bytes(segment).decode("utf-8", "replace") for segment in path.strip(b"/").split(b"/")]
    head = [*API_PREFIX.strip("/").split("/"), "scheduler"]
    if len(segments) != len(head) + 1 or segments[: len(head)] != head or not segments[-1]:
        return None
    return segments[-1]
