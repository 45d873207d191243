"""Flow Music API v1 on the emulator: ``/v1/flowmusic/...`` beside Riffusion, and the public clip files.

Endpoints: ``POST files``, ``POST music``, ``GET jobs``, ``GET|DELETE jobs/{jobid}``, ``GET accounts``,
``GET accounts/{email}``, ``GET music/download``, ``POST music/lyrics``, ``GET music``; and, without a
token as a CDN serves them, ``GET /_public/flowmusic/<percent-encoded clip>.wav`` and ``.m4a``. Names and
limits come from useapi.net's Flow Music docs, written out here rather than taken from the client, so the
two can disagree. Errors are ``{"error": "<message>", "code": <status>}`` (the lyrics 422 nests an object).

Where the docs are silent, the emulator chooses what the real service most plausibly does, or makes it a
setting:

- ``GET jobs``: its shape is the setting ``flowmusic_jobs_shape``: ``email`` (the default, as the docs show it:
  ``{email: {"running", "maxJobs", "jobs": [{"jobid", "status", "created_at"}]}}``, ``{}`` when nothing runs,
  an idle account left out), ``accounts`` (as useapi's Mureka API:
  ``{"total", "accounts": {email: {"total", "jobs": [{"jobid", "elapsed"}]}}, "availableAccounts"}``, an
  account without a running job left out, ``availableAccounts`` listing every configured account, as
  Mureka's does) or ``list`` (``[{"jobid", "email", "started", "elapsed"}]``). Capacity is ``maxJobs`` in
  ``GET accounts`` (the setting ``free_slots``).
- A 429 carries ``Retry-After`` only when the setting ``flowmusic_retry_after`` is set.
- ``POST music``: a prompt of blanks counts as empty; a JSON ``null`` of a known parameter counts as absent,
  while an unknown parameter is refused even when ``null``; no account configured at all answers 400 (waiting
  would not help); an account whose balance is below ``flowmusic_credits_per_job`` answers 402.
  ``mode: sync`` answers 200 at once with the ended record: completed, or failed (with its ``error``) when
  ``song_final_status`` is ``failed``. Instrumental clips carry ``lyrics: null``.
- ``DELETE jobs/{jobid}`` stops tracking a running job: its slot is free at once; its record stays and still
  ends when polled (the docs: the song may still finish, and its credits are spent).
- A jobid in the path must be percent-encoded: a bare ``:`` or ``@`` answers 400 (checked on the raw
  request target; a server that does not keep it, unlike werkzeug's, skips the check).
- ``GET accounts/{email}`` also carries the documented ``credits_remaining`` and ``tokens_remaining`` (12
  tokens a credit) beside ``credits.balance``, and both account answers carry ``access_token_expires_at``.
- A 596 (setting ``account_error``) names the account of the ``email`` query parameter, else the first one.
- ``POST files`` takes audio only (image types are refused: the emulator has no use for them);
  ``duration_s`` is the body's size at 128 kbit/s; a Content-Length over 40 MiB is refused before any byte is
  read, and after a 413 the server drains at most 64 MiB more, then closes the connection.
- ``GET music`` (list clips) answers ``{"email", "clips", "limit", "offset", "next"}`` with the whole clip
  objects (``audio_url`` and ``wav_url`` included), most recent first.
- Public files answer GET only, 404 JSON for an unknown clip; a fault matches them by their whole decoded
  path without the leading slash: ``Fault(method="GET", path="_public/flowmusic/<clip id>.wav")``.
"""

from __future__ import annotations

import hashlib
import re
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from airflow_provider_riffusion.testing.fault_answers import STREAM_KEY
from airflow_provider_riffusion.testing.faults import ConnectionAborted
from airflow_provider_riffusion.testing.flowmusic_state import FlowClip, FlowJob, asset_id, clip_id, job_id
from airflow_provider_riffusion.testing.http import (
    CLOSE_KEY,
    FLOWMUSIC_PREFIX,
    ApiError,
    bad_request,
    json_object,
    json_response,
    not_found,
    raw_target_path,
    status_line,
)
from airflow_provider_riffusion.testing.music_routes import mp3_body, wav_body
from airflow_provider_riffusion.testing.paths import FLOWMUSIC, PUBLIC_PREFIX
from airflow_provider_riffusion.testing.state import EmulatorState, UploadRecord, utc_now_iso

MAX_UPLOAD_BYTES = 40 * 1024 * 1024
"""The documented 40 MB cap on audio uploads (41,943,040 bytes)."""
LINGER_BYTES = 64 * 1024 * 1024
"""How much of a refused upload's body the server still drains so the client reads the 413."""
READ_CHUNK = 1024 * 1024
UPLOAD_TYPES = {
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/wave": "wav",
    "audio/x-wav": "wav",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/aac": "m4a",
}
REFERENCES = 10
"""``refAudio1``..``refAudio10`` and ``refImage1``..``refImage10``."""
MUSIC_KEYS = frozenset(
    {
        "prompt",
        "email",
        "instrumental",
        "lyrics",
        "ghostwriter",
        "mode",
        "replyUrl",
        "replyRef",
        "model",
        *(f"refAudio{n}" for n in range(1, REFERENCES + 1)),
        *(f"refImage{n}" for n in range(1, REFERENCES + 1)),
    }
)
MUSIC_LIMITS = {"prompt": 10_000, "lyrics": 10_000, "replyUrl": 1024, "replyRef": 1024}
LYRICS_KEYS = frozenset({"prompt", "structure", "email"})
LYRICS_LIMITS = {"prompt": 2000, "structure": 2000}
CHOICES = {"ghostwriter": ("standard", "pro"), "mode": ("sync", "async"), "model": ("lyria-3-pro", "lyria-3.5")}
ACCOUNT_SINCE = "2026-06-01T12:00:00.000Z"
TOKENS_PER_CREDIT = 12
_MODERATED = re.compile(r"\bforbidden\b", re.IGNORECASE)
_PUBLIC_RELATIVE = PUBLIC_PREFIX.strip("/") + "/"
_PUBLIC_TYPES = {"wav": "audio/wav", "m4a": "audio/mp4"}

Handler = Callable[[Request], Response]


def m4a_body(clip: str, size: int) -> tuple[int, Iterator[bytes]]:
    """An ISO-BMFF file of about ``size`` bytes: an M4A ``ftyp`` box, then one ``mdat`` box tagged by the clip."""
    ftyp = struct.pack(">I", 24) + b"ftypM4A " + struct.pack(">I", 0) + b"M4A isom"
    total = max(len(ftyp) + 8 + 32, size)
    tag = hashlib.sha256(clip.encode()).digest()
    left = total - len(ftyp) - 8 - len(tag)
    block = bytes(READ_CHUNK)

    def chunks() -> Iterator[bytes]:
        yield ftyp + struct.pack(">I", total - len(ftyp)) + b"mdat" + tag
        remaining = left
        while remaining > 0:
            yield block[: min(remaining, len(block))]
            remaining -= len(block)

    return total, chunks()


def magic_matches(kind: str, head: bytes) -> bool:
    """Whether the leading bytes are the declared kind: mp3 (ID3 or a frame sync), wav (RIFF....WAVE), m4a."""
    if kind == "mp3":
        return head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    if kind == "wav":
        return head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    return head[4:8] == b"ftyp"


def generated_lyrics(prompt: str, structure: str = "") -> str:
    """Deterministic lyrics from the prompt (one couplet per section of ``structure``), so tests can assert."""
    words = " ".join(prompt.split()[:8])
    sections = [part.strip(" []") for part in re.split(r"[,\n]", structure) if part.strip(" []")]
    return "\n".join(
        f"[{section}]\n{words}, line {index * 2 + 1}\n{words}, line {index * 2 + 2}"
        for index, section in enumerate(sections or ["Verse", "Chorus"])
    )


def title_of(prompt: str) -> str:
    return " ".join(prompt.split()[:6]).title()[:60] or "Untitled"


def attachment(title: str, extension: str) -> str:
    """``attachment; filename="<title>.mp3"``; a title beyond ASCII also gets an RFC 5987 ``filename*``."""
    name = f"{title}.{extension}"
    plain = "".join(char if 32 <= ord(char) < 127 and char not in '"\\' else "_" for char in name)
    header = f'attachment; filename="{plain}"'
    if plain != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


class FlowMusicRoutes:
    """The Flow Music endpoints, by method and path relative to ``/v1/flowmusic``; state in ``EmulatorState``."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.flow = state.flowmusic
        self.table: dict[tuple[str, str], Handler] = {
            ("POST", "files"): self.upload,
            ("POST", "music"): self.generate,
            ("GET", "music"): self.list_clips,
            ("GET", "jobs"): self.jobs,
            ("GET", "accounts"): self.accounts,
            ("GET", "music/download"): self.download,
            ("POST", "music/lyrics"): self.lyrics,
        }

    def dispatch(self, request: Request, relative: str) -> Response:
        handler = self.table.get((request.method, relative))
        if handler is not None:
            return handler(request)
        head, _, rest = relative.partition("/")
        dynamic = {("jobs", "GET"): self.job, ("jobs", "DELETE"): self.cancel, ("accounts", "GET"): self.account}
        if rest and head in ("jobs", "accounts"):
            found = dynamic.get((head, request.method))
            if found is None:
                raise self.not_allowed(request.method, relative)
            return found(request)
        if any(path == relative for _, path in self.table):
            raise self.not_allowed(request.method, relative)
        raise not_found(f"No such endpoint: {relative}")

    @staticmethod
    def not_allowed(method: str, relative: str) -> ApiError:
        return ApiError(405, {"error": f"Method {method} not allowed on {relative}", "code": 405})

    # Accounts -------------------------------------------------------------------------------------
    def account_for(self, given: Any) -> str:
        """The account a call runs on: the given email (it must be configured), else the first one."""
        emails = self.state.emails
        if given not in (None, ""):
            if not isinstance(given, str) or given not in emails:
                raise bad_request(f"Unknown email {given!r}: configured accounts are {', '.join(emails) or 'none'}")
            return given
        if not emails:
            raise bad_request("No Flow Music account is configured: add one with POST accounts")
        return emails[0]

    def busy(self, message: str) -> ApiError:
        retry_after = self.state.settings.flowmusic_retry_after
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return ApiError(429, {"error": message, "code": 429}, headers)

    def pick_account(self, given: str | None) -> str:
        """The account a generation runs on: the given one if it has a free slot, else the first that has."""
        max_jobs = self.state.settings.free_slots
        if given is not None:
            if self.flow.free(given, max_jobs) <= 0:
                raise self.busy(f"Account {given} is busy: all its {max_jobs} job slots are taken")
            return given
        if not self.state.emails:
            raise bad_request("No Flow Music account is configured: add one with POST accounts")
        for email in self.state.emails:
            if self.flow.free(email, max_jobs) > 0:
                return email
        raise self.busy("All accounts are busy")

    def account_body(self, email: str) -> dict[str, Any]:
        ident = uuid.uuid5(uuid.NAMESPACE_URL, f"flowmusic:{email}")
        return {
            "email": email,
            "tier": "plus",
            "user_id": str(ident),
            "maxJobs": self.state.settings.free_slots,
            "added": ACCOUNT_SINCE,
            "refreshed_at": ACCOUNT_SINCE,
            "refreshed_count": 0,
            "access_token": "eyJ…redacted…",
            "access_token_expires_at": "2099-01-01T00:00:00.000Z",
            "refresh_token": "…redacted…",
            "session_id": str(uuid.uuid5(ident, "session")),
        }

    def accounts(self, request: Request) -> Response:
        return json_response(200, {email: self.account_body(email) for email in self.state.emails})

    def account(self, request: Request) -> Response:
        email = request.path[len(FLOWMUSIC_PREFIX) :].strip("/").partition("/")[2]
        if email not in self.state.emails:
            raise not_found(f"Account {email} not found")
        with self.state.lock:
            balance = self.flow.credits.get(email, 0)
        body = {
            **self.account_body(email),
            "credits": {"balance": balance},
            "credits_remaining": balance,
            "tokens_remaining": balance * TOKENS_PER_CREDIT,
        }
        return json_response(200, body)

    # Upload ---------------------------------------------------------------------------------------
    def upload(self, request: Request) -> Response:
        email = self.account_for(request.args.get("email"))
        content_type = request.mimetype
        kind = UPLOAD_TYPES.get(content_type)
        if kind is None:
            raise bad_request(
                f"Content-Type ({content_type or 'none'}) not supported. Valid values: {', '.join(UPLOAD_TYPES)}"
            )
        if (request.content_length or 0) > MAX_UPLOAD_BYTES:
            raise self.too_large(request)
        size, digest, head = self.read_capped(request)
        if size == 0:
            raise bad_request("The request body is empty: send the file's bytes")
        if not magic_matches(kind, head):
            raise bad_request(f"The file's bytes are not {content_type}: its magic bytes do not match the Content-Type")
        asset = asset_id()
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        record = UploadRecord("", content_type, size, digest, email, asset, asset, chunked, FLOWMUSIC)
        self.state.add_flowmusic_upload(record, utc_now_iso())
        storage = uuid.uuid4().hex
        return json_response(
            200,
            {
                "id": asset,
                "url": f"https://storage.emulator.invalid/flowmusic/{storage}.{kind}",
                "kind": "audio",
                "assetType": "audio",
                "email": email,
                "metadata_stripped": True,
                "clip_id": clip_id(),
                "operation_id": str(uuid.uuid4()),
                "is_flagged": self.state.settings.flag_uploads,
                "duration_s": round(size * 8 / 128_000, 2),
            },
        )

    @staticmethod
    def too_large(request: Request) -> ApiError:
        request.environ[CLOSE_KEY] = LINGER_BYTES
        return ApiError(413, {"error": "File too large: the limit is 40 MB", "code": 413}, {"Connection": "close"})

    def read_capped(self, request: Request) -> tuple[int, str, bytes]:
        """Stream the body through sha256, stopping (413) once it passes the cap; keep its first 12 bytes."""
        digest = hashlib.sha256()
        size, head = 0, b""
        try:
            while chunk := request.stream.read(READ_CHUNK):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise self.too_large(request)
                if len(head) < 12:
                    head += chunk[: 12 - len(head)]
                digest.update(chunk)
        except (ClientDisconnected, OSError) as error:
            raise ConnectionAborted("the client went away during the upload") from error
        return size, digest.hexdigest(), head

    # Generation -----------------------------------------------------------------------------------
    @staticmethod
    def read_object(request: Request, allowed: frozenset[str]) -> dict[str, Any]:
        """The JSON object posted, refused when it names a parameter the endpoint does not take."""
        payload = json_object(request)
        for key in payload:
            if key not in allowed:
                raise bad_request(f"Unknown parameter {key}")
        return payload

    def check_strings(self, given: dict[str, Any], limits: dict[str, int]) -> None:
        prompt = given.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise bad_request(f"Parameter prompt is required (1-{limits['prompt']:,} characters)")
        for name, limit in limits.items():
            if name not in given:
                continue
            if not isinstance(given[name], str):
                raise bad_request(f"Parameter {name} must be a string")
            if len(given[name]) > limit:
                raise bad_request(f"Parameter {name} must be at most {limit:,} characters")
        if "email" in given:
            self.account_for(given["email"])

    def check_music(self, given: dict[str, Any]) -> None:
        self.check_strings(given, MUSIC_LIMITS)
        if "instrumental" in given and not isinstance(given["instrumental"], bool):
            raise bad_request("Parameter instrumental must be true or false")
        for name, choices in CHOICES.items():
            if name in given and given[name] not in choices:
                raise bad_request(f"Parameter {name} must be one of {', '.join(choices)}")
        for n in range(1, REFERENCES + 1):
            image, audio = given.get(f"refImage{n}"), given.get(f"refAudio{n}")
            if image is not None and not isinstance(image, str):
                raise bad_request(f"Parameter refImage{n} must be a string")
            if audio is not None and (not isinstance(audio, str) or not self.flow.has_asset(audio)):
                raise bad_request(f"Parameter refAudio{n} must be an asset id from POST files, got {audio!r}")

    def generate(self, request: Request) -> Response:
        posted = self.read_object(request, MUSIC_KEYS)
        given = {key: value for key, value in posted.items() if value is not None}
        self.check_music(given)
        prompt = given["prompt"]
        if _MODERATED.search(prompt):
            raise bad_request("Prompt moderated: it does not meet Flow Music's content policy")
        settings = self.state.settings
        if given.get("instrumental"):
            lyrics: str | None = None
        else:
            lyrics = given.get("lyrics") or generated_lyrics(prompt)
        sync = given.get("mode", "sync") == "sync"
        with self.state.lock:  # pick, check and take the slot at once
            email = self.pick_account(given.get("email"))
            cost = settings.flowmusic_credits_per_job
            if self.flow.credits.get(email, 0) < cost:
                raise ApiError(402, {"error": f"Account {email} has not enough credits for a song", "code": 402})
            job = FlowJob(job_id(email), email, posted, utc_now_iso(), time.monotonic(), title_of(prompt), lyrics)
            self.flow.start(job, cost)
            if sync:
                self.flow.finish(job, settings.song_final_status == "failed", utc_now_iso())
            body = self.job_body(job)
        return json_response(200 if sync else 201, body)

    def clip_body(self, clip: FlowClip) -> dict[str, Any]:
        public = f"{self.state.origin}{PUBLIC_PREFIX}/{quote(clip.clip, safe='')}"
        return {
            "clip": clip.clip,
            "title": clip.title,
            "duration_s": clip.duration_s,
            "lyrics": clip.lyrics,
            "seed": clip.seed,
            "lyrics_timing": None,
            "created_at": clip.created_at,
            "audio_url": f"{public}.m4a",
            "wav_url": f"{public}.wav",
            "image_url": None,
        }

    def job_body(self, job: FlowJob) -> dict[str, Any]:
        with self.state.lock:
            body: dict[str, Any] = {
                "jobid": job.jobid,
                "email": job.email,
                "status": job.status,
                "created_at": job.created_at,
                "request": job.request,
            }
            if job.completed_at is not None:
                body["completed_at"] = job.completed_at
                body["duration_ms"] = job.duration_ms
            if job.status == "completed":
                body["clips"] = [self.clip_body(clip) for clip in job.clips]
            if job.error is not None:
                body["error"] = dict(job.error)
            return body

    # Jobs -----------------------------------------------------------------------------------------
    def path_jobid(self, request: Request) -> str:
        """The one segment after ``jobs/``, which must arrive percent-encoded (it holds ``:`` and ``@``)."""
        raw = raw_target_path(request)
        if raw is None:  # no raw target to check: take the decoded path
            return request.path[len(FLOWMUSIC_PREFIX) :].strip("/").partition("/")[2]
        segments = raw.strip(b"/").split(b"/")
        head = [*FLOWMUSIC_PREFIX.strip("/").split("/"), "jobs"]
        decoded_head = [unquote_to_bytes(segment).decode("utf-8", "replace") for segment in segments[: len(head)]]
        if len(segments) != len(head) + 1 or decoded_head != head or not segments[-1]:
            raise not_found(f"No such endpoint: {request.path[len(FLOWMUSIC_PREFIX) :].strip('/')}")
        if b":" in segments[-1] or b"@" in segments[-1]:
            raise bad_request("jobid must be URL-encoded")
        return unquote_to_bytes(segments[-1]).decode("utf-8", "replace")

    def job(self, request: Request) -> Response:
        jobid = self.path_jobid(request)
        settings = self.state.settings
        with self.state.lock:
            job = self.flow.poll(jobid, settings.song_polls, settings.song_final_status == "failed", utc_now_iso())
            if job is None:
                raise not_found(f"Job {jobid} not found")
            return json_response(200, self.job_body(job))

    def cancel(self, request: Request) -> Response:
        jobid = self.path_jobid(request)
        if not self.flow.cancel(jobid):
            raise not_found(f"Job {jobid} is not running")
        response = Response(status=status_line(204))
        response.headers.remove("Content-Type")
        return response

    def jobs(self, request: Request) -> Response:
        with self.state.lock:
            running = self.flow.running_jobs()
            if self.state.settings.flowmusic_jobs_shape == "list":
                listed = [
                    {"jobid": job.jobid, "email": job.email, "started": job.created_at, "elapsed": job.elapsed()}
                    for job in running
                ]
                return json_response(200, listed)
            if self.state.settings.flowmusic_jobs_shape == "email":  # the documented shape
                by_email: dict[str, dict[str, Any]] = {}
                for job in running:
                    entry = by_email.setdefault(
                        job.email, {"running": 0, "maxJobs": self.state.settings.free_slots, "jobs": []}
                    )
                    entry["running"] += 1
                    entry["jobs"].append({"jobid": job.jobid, "status": "pending", "created_at": job.created_at})
                return json_response(200, by_email)
            accounts: dict[str, dict[str, Any]] = {}
            for job in running:
                entry = accounts.setdefault(job.email, {"total": 0, "jobs": []})
                entry["total"] += 1
                entry["jobs"].append({"jobid": job.jobid, "elapsed": job.elapsed()})
            body = {"total": len(running), "accounts": accounts, "availableAccounts": list(self.state.emails)}
            return json_response(200, body)

    # Clips: list, download, public files ----------------------------------------------------------
    def list_clips(self, request: Request) -> Response:
        email = self.account_for(request.args.get("email"))
        limit = self.int_arg(request, "limit", 20, 1, 100)
        offset = self.int_arg(request, "offset", 0, 0, None)
        with self.state.lock:
            clips = [clip for job in reversed(self.flow.jobs.values()) if job.email == email for clip in job.clips]
            page = [self.clip_body(clip) for clip in clips[offset : offset + limit]]
        following = offset + limit if offset + limit < len(clips) else None
        return json_response(200, {"email": email, "clips": page, "limit": limit, "offset": offset, "next": following})

    @staticmethod
    def int_arg(request: Request, name: str, default: int, low: int, high: int | None) -> int:
        text = request.args.get(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise bad_request(f"Parameter {name} must be an integer {bounds}")
        return value

    def download(self, request: Request) -> Response:
        download_format = request.args.get("format", "mp3")
        if download_format != "mp3":
            raise bad_request("format must be mp3; wav and m4a are public URLs on each clip")
        ident = request.args.get("id", "")
        with self.state.lock:
            clip = self.flow.clip(ident)
            if clip is None:
                job = self.flow.job(ident)
                if job is None:
                    raise bad_request("Invalid id")
                if job.status != "completed":
                    raise ApiError(409, {"error": f"Job {ident} is not completed (status {job.status})", "code": 409})
                clip = job.clips[0]
        size, chunks = mp3_body(clip.clip, self.state.settings.download_bytes)
        self.state.note_download(clip.clip, "mp3", size, FLOWMUSIC, authorization=True)
        response = Response(chunks, status=200, mimetype="audio/mpeg")
        response.headers["Content-Length"] = str(size)
        response.headers["Content-Disposition"] = attachment(clip.title, "mp3")
        request.environ[STREAM_KEY] = True
        return response

    def public_file(self, request: Request, relative: str) -> Response:
        """A clip's wav or m4a, to anyone (no token); records whether a token came anyway."""
        if request.method != "GET":
            raise self.not_allowed(request.method, relative)
        name = relative[len(_PUBLIC_RELATIVE) :]
        ident, _, extension = name.rpartition(".")
        clip = self.flow.clip(ident) if extension in _PUBLIC_TYPES else None
        if clip is None:
            raise not_found(f"No such file: {name}")
        body = wav_body if extension == "wav" else m4a_body
        size, chunks = body(clip.clip, self.state.settings.download_bytes)
        authorization = "Authorization" in request.headers
        self.state.note_download(clip.clip, extension, size, FLOWMUSIC, authorization=authorization)
        response = Response(chunks, status=200, mimetype=_PUBLIC_TYPES[extension])
        response.headers["Content-Length"] = str(size)
        request.environ[STREAM_KEY] = True
        return response

    # Lyrics ---------------------------------------------------------------------------------------
    def lyrics(self, request: Request) -> Response:
        posted = self.read_object(request, LYRICS_KEYS)
        given = {key: value for key, value in posted.items() if value is not None}
        self.check_strings(given, LYRICS_LIMITS)
        email = self.account_for(given.get("email"))
        prompt = given["prompt"]
        if "nolyrics" in prompt.lower():
            return json_response(
                422, {"error": {"code": "no_lyrics", "message": "No lyrics were generated for this prompt"}}
            )
        words = " ".join(prompt.split()[:8])
        return json_response(
            200,
            {
                "email": email,
                "title": title_of(prompt),
                "lyrics": generated_lyrics(prompt, given.get("structure", "")),
                "sound_prompt": f"{words}, warm vocals, steady groove",
            },
        )
