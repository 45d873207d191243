"""The emulator's API endpoints: upload, upload status, compose, songs and accounts (``music_routes.py``:
lyrics, prompts, the scheduler's jobs and free slots, and downloads).

Each handler checks what the real service would (accounts, parameters, content types, ranges)
and raises ``ApiError`` for every error answer, so the order of checks reads top to bottom.
Status words come from the provider's own vocabulary (``statuses.py``), the one the clients
decide with.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from airflow_provider_riffusion.services.riffusion import SONG_STEPS, UPLOAD_PENDING
from airflow_provider_riffusion.testing.faults import ConnectionAborted
from airflow_provider_riffusion.testing.http import ApiError, bad_request, json_object, json_response, not_found
from airflow_provider_riffusion.testing.music_routes import MusicRoutes
from airflow_provider_riffusion.testing.state import (
    EmulatorState,
    SchedulerJob,
    SongJob,
    StoredUpload,
    UploadRecord,
    utc_now_iso,
)

READ_CHUNK = 1024 * 1024
"""Upload bodies are hashed in 1 MiB pieces: big enough to be fast, small enough to never hold a file."""

CONTENT_TYPES = {
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/wav": "wav",
    "audio/wave": "wav",
}
AUDIO_EXTENSIONS = (".mp3", ".m4a", ".wav", ".mp4")

_INT_RANGES: dict[str, tuple[int, int]] = {
    **{f"prompt_{n}_strength": (20, 100) for n in (1, 2, 3)},
    **{f"prompt_{n}_{edge}": (0, 100) for n in (1, 2, 3) for edge in ("start", "end")},
    "lyrics_strength": (0, 100),
    "lyrics_weirdness": (0, 100),
    "maxJobs": (1, 10),
}
"""The documented ranges (``API.md``), written out here rather than taken from the client, so the two can disagree."""
_STRING_FIELDS = (
    "prompt_1",
    "prompt_2",
    "prompt_3",
    "lyrics",
    "title",
    "audio_upload_id",
    "model",
    "user_id",
    "replyUrl",
    "replyRef",
)
_MAX_REPLY_LENGTH = 1024
_MODERATED = re.compile(r"\bforbidden\b", re.IGNORECASE)

Handler = Callable[[Request], Response]


def fake_lyrics(file_name: str) -> str:
    """Deterministic 'transcribed' lyrics, so tests can assert on them."""
    return f"{file_name} in the morning light\nsinging {file_name} through the night"


class ApiRoutes(MusicRoutes):
    """The endpoints, by method and path relative to the API base; all state lives in ``EmulatorState``."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.table: dict[tuple[str, str], Handler] = {
            ("POST", "music/upload-audio"): self.upload_audio,
            ("GET", "music/upload-audio"): self.upload_status,
            ("POST", "music/create-compose"): self.create_compose,
            ("GET", "music"): self.get_music,
            ("GET", "accounts"): self.accounts,
            **self.music_table(),
        }

    def resolve_user(self, given: Any, *, required: bool) -> str:
        """The account a call runs on: the given ``user_id``, the only account, or (create calls) any."""
        accounts = self.state.user_ids
        if given not in (None, ""):
            if not isinstance(given, str) or given not in accounts:
                raise bad_request(f"Unknown user_id {given!r}: configured accounts are {', '.join(accounts) or 'none'}")
            return given
        if not accounts:
            raise bad_request("No Riffusion account is configured: add one with POST accounts")
        if len(accounts) == 1:
            return accounts[0]
        if required:
            raise bad_request("user_id is required when more than one account is configured")
        return self.state.next_account()

    # Upload ---------------------------------------------------------------------------------------
    def upload_audio(self, request: Request) -> Response:
        user_id = self.resolve_user(request.args.get("user_id"), required=True)
        file_name = request.args.get("file_name")
        if not file_name:
            raise bad_request("Parameter file_name is required")
        if file_name.lower().endswith(AUDIO_EXTENSIONS):
            raise bad_request(f"Parameter file_name must not have an extension, got {file_name!r}")
        content_type = request.mimetype
        if content_type not in CONTENT_TYPES:
            raise bad_request(
                f"Content-Type {content_type or '(none)'!r} is not supported; use one of {', '.join(CONTENT_TYPES)}"
            )
        size, digest = self.hash_body(request)
        if size == 0:
            raise bad_request("The request body is empty: send the audio file's bytes")

        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        flagged = self.state.settings.flag_uploads
        if self.state.revision == "2025-02-17":
            job_id = str(uuid.uuid4())
            record = UploadRecord(file_name, content_type, size, digest, user_id, job_id, job_id, chunked)
            body: dict[str, Any] = {"job_id": job_id}
            transcription_job_id = job_id
        else:
            audio_upload_id, transcription_job_id = str(uuid.uuid4()), str(uuid.uuid4())
            composite = f"{audio_upload_id}:{transcription_job_id}"
            record = UploadRecord(file_name, content_type, size, digest, user_id, composite, audio_upload_id, chunked)
            body = {
                "is_flagged": flagged,
                "id": composite,
                "audio_upload_id": audio_upload_id,
                "transcription_job_id": transcription_job_id,
            }
        self.state.add_upload(StoredUpload(record, transcription_job_id, utc_now_iso(), time.monotonic()))
        return json_response(200, body)

    @staticmethod
    def hash_body(request: Request) -> tuple[int, str]:
        """Stream the body through sha256 without keeping it; a client that goes away aborts the request."""
        digest = hashlib.sha256()
        size = 0
        stream = request.stream
        try:
            while chunk := stream.read(READ_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        except (ClientDisconnected, OSError) as error:
            raise ConnectionAborted("the client went away during the upload") from error
        return size, digest.hexdigest()

    def upload_status(self, request: Request) -> Response:
        self.resolve_user(request.args.get("user_id"), required=True)
        status_id = request.args.get("id")
        if not status_id:
            raise bad_request("Parameter id is required")
        polled = self.state.poll_upload(status_id)
        if polled is None:
            raise not_found(f"Upload {status_id!r} not found")
        stored, polls, age = polled
        settings = self.state.settings
        done = polls > settings.pending_polls and age >= settings.pending_seconds
        status = settings.upload_final_status if done else UPLOAD_PENDING
        lyrics = fake_lyrics(stored.record.file_name) if done else ""
        record = stored.record
        if self.state.revision == "2025-02-17":
            return json_response(
                200, {"is_flagged": settings.flag_uploads, "transcribed_lyrics": lyrics, "status": status}
            )
        extension = CONTENT_TYPES[record.content_type]
        return json_response(
            200,
            {
                "status": status,
                "lyrics": lyrics,
                "id": record.job_id,
                "audio_upload_id": record.audio_upload_id,
                "transcription_job_id": stored.transcription_job_id,
                "created_at": stored.created_at,
                "user_id": record.user_id,
                "name": f"{record.file_name}.{extension}",
                "type": record.content_type,
                "storage_name": f"{record.audio_upload_id}.{extension}",
                "audible_magic_response": {"statusCode": 2005, "statusDescription": "No match found"},
                "is_flagged": settings.flag_uploads,
            },
        )

    # Compose and songs ----------------------------------------------------------------------------
    @staticmethod
    def read_json(request: Request) -> dict[str, Any]:
        """A create call's JSON object, without its null fields."""
        return {key: value for key, value in json_object(request).items() if value is not None}

    def start_songs(
        self,
        user_id: str,
        title: str,
        lyrics: str,
        audio_upload_id: str | None,
        reply_url: str | None = None,
        reply_ref: str | None = None,
    ) -> Response:
        """One running job of two songs, in the configured answer shape; 429 while the account has no free slot.

        The job's id is its first song's (the ``job_id`` of that answer shape); it takes a slot until
        ``GET music`` reports one of its songs finished, or ``DELETE scheduler/{job_id}``.
        """
        created_at = utc_now_iso()
        job_id = str(uuid.uuid4())
        songs = [
            SongJob(song_id, user_id, title, lyrics, audio_upload_id, created_at, job_id=job_id)
            for song_id in (job_id, str(uuid.uuid4()))
        ]
        job = SchedulerJob(job_id, user_id, created_at, time.monotonic(), reply_url, reply_ref)
        if not self.state.start_job(job, songs):
            raise ApiError(429, {"error": "All job slots of the account are busy", "code": 429})
        if self.state.compose_shape == "job_id":
            return json_response(200, {"job_id": songs[0].id, "user_id": user_id})
        return json_response(200, {"jobs": [{"id": song.id} for song in songs]})

    def create_compose(self, request: Request) -> Response:
        values = self.read_json(request)
        self.check_compose(values)
        user_id = self.resolve_user(values.get("user_id", request.args.get("user_id")), required=False)
        audio_upload_id = values.get("audio_upload_id")
        if audio_upload_id is not None and not self.state.has_chain_id(audio_upload_id):
            which = "the upload's job_id" if self.state.revision == "2025-02-17" else "the upload's audio_upload_id"
            raise bad_request(f"audio_upload_id {audio_upload_id!r} is not a known upload (pass {which})")
        if any(_MODERATED.search(values.get(f"prompt_{n}", "")) for n in (1, 2, 3)):
            return json_response(422, {"is_flagged": True, "reason": "moderation", "error": "Prompt moderated"})

        title = values.get("title") or " ".join(values["prompt_1"].split()[:6]).title()[:60]
        return self.start_songs(
            user_id, title, values.get("lyrics", ""), audio_upload_id, values.get("replyUrl"), values.get("replyRef")
        )

    @staticmethod
    def check_compose(values: dict[str, Any]) -> None:
        """Types and ranges as documented; ``bool`` is not an int here, as in JSON."""
        prompt = values.get("prompt_1")
        if not isinstance(prompt, str) or not prompt.strip():
            raise bad_request("prompt_1 is required and must be a non-empty string")
        for name in _STRING_FIELDS:
            if name in values and not isinstance(values[name], str):
                raise bad_request(f"{name} must be a string")
        for name in ("replyUrl", "replyRef"):
            if len(values.get(name, "")) > _MAX_REPLY_LENGTH:
                raise bad_request(f"{name} must be at most {_MAX_REPLY_LENGTH} characters")
        for name, (low, high) in _INT_RANGES.items():
            if name not in values:
                continue
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad_request(f"{name} must be an integer between {low} and {high}")
            if not low <= value <= high:
                raise bad_request(f"{name} must be between {low} and {high}, got {value}")

    def get_music(self, request: Request) -> Response:
        self.resolve_user(request.args.get("user_id"), required=True)
        song_id = request.args.get("id")
        if not song_id:
            raise bad_request("Parameter id is required")
        polled = self.state.poll_song(song_id)
        if polled is None:
            return json_response(200, [])
        song, polls = polled
        song_polls = self.state.settings.song_polls
        status = self.state.settings.song_final_status if polls > song_polls else SONG_STEPS[min(polls, 2) - 1]
        if polls > song_polls:
            self.state.finish_song(song.id)  # the job has made its songs: its slot is free again
        base = self.state.base_url
        duration = 120 + random.Random(song.id).randint(0, 120) + 0.5
        return json_response(
            200,
            [
                {
                    "id": song.id,
                    "title": song.title,
                    "status": status,
                    "download_url": f"{base}/music/download?id={song.id}",
                    "image_url": f"https://riffusion.invalid/images/{song.id}.jpg",
                    "share_url": f"https://riffusion.invalid/song/{song.id}",
                    "duration_s": duration,
                    "lyrics": song.lyrics,
                    "audio_upload_id": song.audio_upload_id,
                    "created_at": song.created_at,
                    "user_id": song.user_id,
                }
            ],
        )

    # Accounts -------------------------------------------------------------------------------------
    def account_body(self, user_id: str) -> dict[str, Any]:
        return {"user_id": user_id, "maxJobs": 3, "created": "2025-02-17T00:00:00.000Z", "error": None}

    def accounts(self, request: Request) -> Response:
        if not self.state.user_ids:
            raise not_found("No accounts configured")
        return json_response(200, {user_id: self.account_body(user_id) for user_id in self.state.user_ids})

    def account(self, request: Request, user_id: str) -> Response:
        if user_id not in self.state.user_ids:
            raise not_found(f"Account {user_id!r} not found")
        return json_response(200, self.account_body(user_id))
