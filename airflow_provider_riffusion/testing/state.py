"""The emulator's memory: configuration, runtime settings, uploads, songs, running jobs and the request log.

One lock guards everything (Flow Music's part, ``flowmusic_state.py``, included), because the server
answers requests on many threads at once. Free of werkzeug so that importing the testing package stays cheap.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_riffusion.services.riffusion import SONG_STEPS, UPLOAD_COMPLETE
from airflow_provider_riffusion.testing.faults import FaultBook
from airflow_provider_riffusion.testing.flowmusic_state import DEFAULT_EMAILS, FlowMusicState
from airflow_provider_riffusion.testing.paths import FLOWMUSIC, RIFFUSION, SERVICE_PREFIXES

REVISIONS = ("2025-02-17", "2025-02-25")
COMPOSE_SHAPES = ("jobs", "job_id")
ACCOUNT_ERROR_MESSAGE = "Your Riffusion account has pending error. Please re-add the account with POST accounts."
FLOWMUSIC_ACCOUNT_ERROR_REASON = "the session could not be refreshed, re-add the account with POST accounts"
FLOWMUSIC_JOBS_SHAPES = ("email", "accounts", "list")


def utc_now_iso() -> str:
    """ISO-8601 UTC timestamp with milliseconds, the way the API writes ``created_at``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class UploadRecord:
    """One completed upload, as received: proof for tests that nothing was lost or corrupted.

    ``job_id`` is what the status endpoint takes (the composite ``id`` in revision 2025-02-25);
    ``audio_upload_id`` is what create-compose takes (the ``job_id`` in revision 2025-02-17). On Flow Music
    both are the asset ``id`` (what ``refAudio1`` takes), ``user_id`` is the account's email and
    ``file_name`` is empty (the service takes no name).
    """

    file_name: str
    content_type: str
    bytes: int
    sha256: str
    user_id: str
    job_id: str
    audio_upload_id: str
    chunked: bool
    service: str = RIFFUSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StoredUpload:
    """An upload plus what the status endpoint needs to answer about it."""

    record: UploadRecord
    transcription_job_id: str
    created_at: str
    created_monotonic: float
    polls: int = 0


@dataclass
class SongJob:
    """One song of a create-compose request; it advances one status step per GET."""

    id: str
    user_id: str
    title: str
    lyrics: str
    audio_upload_id: str | None
    created_at: str
    polls: int = 0
    job_id: str = ""
    """The scheduler job that makes this song (the first song's id: the ``job_id`` compose answers)."""


@dataclass(frozen=True)
class SchedulerJob:
    """One create call (compose or prompt) while it runs: it takes a job slot of its account.

    It runs until ``GET music`` reports one of its songs in its final status (both songs of a call are
    made together), or until ``DELETE scheduler/{job_id}`` stops tracking it (its songs go on).
    """

    job_id: str
    user_id: str
    started: str
    started_monotonic: float
    reply_url: str | None = None
    reply_ref: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The job as ``GET scheduler`` lists it; ``replyUrl``/``replyRef`` only when the call gave them."""
        seconds = int(time.monotonic() - self.started_monotonic)
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "user_id": self.user_id,
            "started": self.started,
            "elapsed": f"{seconds // 60:02d}:{seconds % 60:02d}",
        }
        if self.reply_url is not None:
            body["replyUrl"] = self.reply_url
        if self.reply_ref is not None:
            body["replyRef"] = self.reply_ref
        return body


@dataclass
class Settings:
    """Behaviour a test may change while the server runs (attributes of the emulator, or POST /_emulator/settings)."""

    upload_final_status: str = UPLOAD_COMPLETE
    flag_uploads: bool = False
    account_error: bool = False
    pending_polls: int = 1
    pending_seconds: float = 0.0
    song_polls: int = 1
    song_final_status: str = SONG_STEPS[-1]
    download_bytes: int = 64 * 1024
    free_slots: int = 3
    """Each account's job slots besides its running jobs (each takes one), as ``scheduler/available`` reports
    them; at 0 or below, compose and prompt answer 429. On Flow Music: each account's ``maxJobs``."""
    flowmusic_retry_after: int | None = None
    """Seconds a Flow Music 429 names in ``Retry-After`` (``None``: no header; the real one is undocumented)."""
    flowmusic_jobs_shape: str = "email"
    """The shape of Flow Music's ``GET jobs`` (undocumented upstream): ``accounts`` or ``list``."""
    flowmusic_credits_per_job: int = 20
    """Credits each Flow Music ``POST music`` takes from its account (each starts with 1000)."""


def check_setting(name: str, value: Any) -> Any:
    """Validate one setting; raise ``ValueError`` naming it, so bad test setups fail loudly."""
    if name in ("upload_final_status", "song_final_status"):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        return value
    if name in ("flag_uploads", "account_error"):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if name == "free_slots":
        # Negative too: what an account reports when its maxJobs was lowered below the jobs it runs.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("free_slots must be an int (negative: more jobs running than the account's maxJobs)")
        return value
    if name in ("pending_polls", "song_polls", "download_bytes"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0")
        return value
    if name == "flowmusic_retry_after":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError("flowmusic_retry_after must be an int >= 0 (seconds) or null (no Retry-After)")
        return value
    if name == "flowmusic_jobs_shape":
        if value not in FLOWMUSIC_JOBS_SHAPES:
            raise ValueError(f"flowmusic_jobs_shape must be one of {', '.join(FLOWMUSIC_JOBS_SHAPES)}")
        return value
    if name == "flowmusic_credits_per_job":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("flowmusic_credits_per_job must be an int >= 0")
        return value
    if name == "pending_seconds":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError("pending_seconds must be a number >= 0")
        return float(value)
    raise ValueError(f"unknown setting {name!r}")


@dataclass
class EmulatorState:
    """Everything the request handlers read and change, behind one re-entrant lock."""

    revision: str
    token: str = field(repr=False)
    user_ids: tuple[str, ...]
    compose_shape: str
    settings: Settings
    emails: tuple[str, ...] = DEFAULT_EMAILS
    """Flow Music's accounts (its ``user_ids``)."""
    origin: str = ""
    """``scheme://127.0.0.1:port`` once the server listens."""
    base_url: str = ""
    """Riffusion's base URL (``{origin}/v1/riffusion``) once the server listens."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    stopping: threading.Event = field(default_factory=threading.Event)
    faults: FaultBook = field(default_factory=FaultBook)
    uploads: list[StoredUpload] = field(default_factory=list)
    uploads_by_status_id: dict[str, StoredUpload] = field(default_factory=dict)
    uploads_by_chain_id: dict[str, StoredUpload] = field(default_factory=dict)
    songs: dict[str, SongJob] = field(default_factory=dict)
    jobs: dict[str, SchedulerJob] = field(default_factory=dict)
    """The running jobs, by job id, oldest first."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    downloads: list[dict[str, Any]] = field(default_factory=list)
    connections: set[int] = field(default_factory=set)
    _round_robin: Iterator[str] = field(default_factory=lambda: iter(()))
    flowmusic: FlowMusicState = field(init=False)

    def __post_init__(self) -> None:
        if self.revision not in REVISIONS:
            raise ValueError(f"revision must be one of {', '.join(REVISIONS)}; got {self.revision!r}")
        if self.compose_shape not in COMPOSE_SHAPES:
            raise ValueError(f"compose_shape must be one of {', '.join(COMPOSE_SHAPES)}; got {self.compose_shape!r}")
        if not isinstance(self.token, str) or not self.token:
            raise ValueError("token must be a non-empty string")
        if any(not isinstance(user, str) or not user for user in self.user_ids):
            raise ValueError("user_ids must be non-empty strings")
        if len(set(self.user_ids)) != len(self.user_ids):
            raise ValueError("user_ids must be distinct")
        if any(not isinstance(email, str) or "@" not in email or "/" in email for email in self.emails):
            raise ValueError("emails must be email addresses (with an @, without a /)")
        if len(set(self.emails)) != len(self.emails):
            raise ValueError("emails must be distinct")
        self._round_robin = itertools.cycle(self.user_ids)
        self.flowmusic = FlowMusicState(self.lock, self.emails)

    def listening(self, origin: str) -> None:
        """The server listens at ``origin`` (``scheme://127.0.0.1:port``)."""
        self.origin = origin
        self.base_url = origin + SERVICE_PREFIXES[RIFFUSION]

    def account_error_body(self, service: str | None, email: str | None = None) -> dict[str, Any]:
        """What a 596 says on ``service``: Riffusion's fixed sentence; Flow Music names the account."""
        if service != FLOWMUSIC:
            return {"error": ACCOUNT_ERROR_MESSAGE}
        if email not in self.emails:
            email = self.emails[0] if self.emails else "(none)"
        return {"error": f"Account {email} in error state: {FLOWMUSIC_ACCOUNT_ERROR_REASON}", "code": 596}

    # Settings -------------------------------------------------------------------------------------
    def update_settings(self, values: dict[str, Any]) -> None:
        """Validate all values first, then apply them together."""
        checked = {name: check_setting(name, value) for name, value in values.items()}
        with self.lock:
            for name, value in checked.items():
                setattr(self.settings, name, value)

    def settings_dict(self) -> dict[str, Any]:
        with self.lock:
            return asdict(self.settings)

    # Accounts -------------------------------------------------------------------------------------
    def next_account(self) -> str:
        """An account for create calls that name none: the next one in turn with a free slot, as the real
        service picks (the next one in turn when none has a free slot)."""
        with self.lock:
            first = next(self._round_robin)
            if self.available(first) > 0:
                return first
            for _ in self.user_ids[1:]:
                user = next(self._round_robin)
                if self.available(user) > 0:
                    return user
            return first

    def available(self, user_id: str) -> int:
        """The account's free job slots: ``free_slots`` less its running jobs (negative: more jobs than slots)."""
        with self.lock:
            return self.settings.free_slots - sum(job.user_id == user_id for job in self.jobs.values())

    # Request log ----------------------------------------------------------------------------------
    def note_request(self, method: str, path: str, query: dict[str, str], status: int) -> None:
        with self.lock:
            self.requests.append({"method": method, "path": path, "query": query, "status": status})

    def note_download(
        self, song_id: str, download_format: str, size: int, service: str = RIFFUSION, authorization: bool = True
    ) -> None:
        """``authorization``: whether the request carried an Authorization header (public files need none)."""
        with self.lock:
            self.downloads.append(
                {
                    "song_id": song_id,
                    "format": download_format,
                    "bytes": size,
                    "service": service,
                    "authorization": authorization,
                }
            )

    def note_connection(self, connection_id: int) -> None:
        with self.lock:
            self.connections.add(connection_id)

    # Uploads --------------------------------------------------------------------------------------
    def add_upload(self, stored: StoredUpload) -> None:
        with self.lock:
            self.uploads.append(stored)
            self.uploads_by_status_id[stored.record.job_id] = stored
            self.uploads_by_chain_id[stored.record.audio_upload_id] = stored

    def add_flowmusic_upload(self, record: UploadRecord, created_at: str) -> None:
        """A Flow Music asset: in the upload records, and takeable as ``refAudioN`` (never by Riffusion)."""
        with self.lock:
            self.uploads.append(StoredUpload(record, "", created_at, time.monotonic()))
            self.flowmusic.add_asset(record.job_id, record.user_id)

    def poll_upload(self, status_id: str) -> tuple[StoredUpload, int, float] | None:
        """Count one status GET; return the upload, how many GETs it has had, and its age in seconds."""
        with self.lock:
            stored = self.uploads_by_status_id.get(status_id)
            if stored is None:
                return None
            stored.polls += 1
            return stored, stored.polls, time.monotonic() - stored.created_monotonic

    def upload_records(self) -> list[UploadRecord]:
        with self.lock:
            return [stored.record for stored in self.uploads]

    def has_chain_id(self, audio_upload_id: str) -> bool:
        with self.lock:
            return audio_upload_id in self.uploads_by_chain_id

    # Songs ----------------------------------------------------------------------------------------
    def add_songs(self, songs: Sequence[SongJob]) -> None:
        with self.lock:
            for song in songs:
                self.songs[song.id] = song

    def poll_song(self, song_id: str) -> tuple[SongJob, int] | None:
        with self.lock:
            song = self.songs.get(song_id)
            if song is None:
                return None
            song.polls += 1
            return song, song.polls

    def has_song(self, song_id: str) -> bool:
        with self.lock:
            return song_id in self.songs

    # Running jobs (the scheduler) -----------------------------------------------------------------
    def start_job(self, job: SchedulerJob, songs: Sequence[SongJob]) -> bool:
        """Run ``job`` making ``songs`` if its account has a free slot (checked and taken at once)."""
        with self.lock:
            if self.available(job.user_id) <= 0:
                return False
            self.jobs[job.job_id] = job
            self.add_songs(songs)
            return True

    def running_jobs(self) -> list[SchedulerJob]:
        with self.lock:
            return list(self.jobs.values())

    def finish_song(self, song_id: str) -> None:
        """A song was reported in its final status: its job (if still tracked) has finished."""
        with self.lock:
            song = self.songs.get(song_id)
            if song is not None:
                self.jobs.pop(song.job_id, None)

    def cancel_job(self, job_id: str) -> bool:
        """Stop tracking a running job (its songs go on); ``False`` when it does not run."""
        with self.lock:
            return self.jobs.pop(job_id, None) is not None

    # Reset ----------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget uploads, songs, running jobs, downloads, the request log, seen connections, pending faults and
        Flow Music's assets, jobs and spent credits (settings stay)."""
        with self.lock:
            self.uploads.clear()
            self.uploads_by_status_id.clear()
            self.uploads_by_chain_id.clear()
            self.songs.clear()
            self.jobs.clear()
            self.requests.clear()
            self.downloads.clear()
            self.connections.clear()
            self.faults.clear()
            self.flowmusic.clear()
