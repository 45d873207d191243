"""Flow Music's memory in the emulator: uploaded assets, jobs and their clips, each account's credits.

Guarded by the emulator state's one lock (handed in, so one request's check-then-act spans both services'
data), and free of werkzeug like the rest of the state.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

DEFAULT_EMAILS = ("artist@example.com",)
STARTING_CREDITS = 1000
USER_NUMBER = 777
"""The useapi.net user number that Flow Music ids carry (``user:777-...``)."""
CLIPS_PER_JOB = 2
"""Every generation makes an A/B pair."""
FAILED_ERROR = {"code": "generation_failed", "message": "The model could not generate this song"}


def asset_id() -> str:
    return f"user:{USER_NUMBER}-asset:{uuid.uuid4().hex}"


def clip_id() -> str:
    return f"user:{USER_NUMBER}-clip:{uuid.uuid4().hex}"


def job_id(email: str) -> str:
    return f"job:{uuid.uuid4()}-user:{USER_NUMBER}-{email}-bot:flowmusic"


@dataclass
class FlowClip:
    """One song of a completed job; its wav and m4a are public files, its mp3 a download."""

    clip: str
    title: str
    duration_s: float
    lyrics: str | None
    seed: int
    created_at: str


@dataclass
class FlowJob:
    """One ``POST music``: pending for ``song_polls`` GETs, then completed (two clips) or failed.

    ``running`` is whether it holds a job slot of its account: until it ends, or ``DELETE jobs/{jobid}``
    stops tracking it (the record stays, and goes on to its end when polled).
    """

    jobid: str
    email: str
    request: dict[str, Any]
    created_at: str
    created_monotonic: float
    title: str
    lyrics: str | None
    status: str = "pending"
    polls: int = 0
    running: bool = True
    completed_at: str | None = None
    duration_ms: int | None = None
    clips: list[FlowClip] = field(default_factory=list)
    error: dict[str, str] | None = None

    def elapsed(self) -> str:
        """``MM:SS`` since the job started, as useapi's job lists write it."""
        seconds = int(time.monotonic() - self.created_monotonic)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"


class FlowMusicState:
    """Assets by id, jobs by jobid, clips by id, credits by account email."""

    def __init__(self, lock: threading.RLock, emails: tuple[str, ...]) -> None:
        self.lock = lock
        self.emails = emails
        self.assets: dict[str, str] = {}
        """Asset id -> the account it was uploaded to."""
        self.jobs: dict[str, FlowJob] = {}
        self.clips: dict[str, FlowClip] = {}
        self.clip_jobs: dict[str, str] = {}
        self.credits: dict[str, int] = {}
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.assets.clear()
            self.jobs.clear()
            self.clips.clear()
            self.clip_jobs.clear()
            self.credits.clear()
            self.credits.update(dict.fromkeys(self.emails, STARTING_CREDITS))

    # Assets ---------------------------------------------------------------------------------------
    def add_asset(self, asset: str, email: str) -> None:
        with self.lock:
            self.assets[asset] = email

    def has_asset(self, asset: str) -> bool:
        with self.lock:
            return asset in self.assets

    # Jobs -----------------------------------------------------------------------------------------
    def running_jobs(self) -> list[FlowJob]:
        """The jobs holding a slot, oldest first."""
        with self.lock:
            return [job for job in self.jobs.values() if job.running]

    def free(self, email: str, max_jobs: int) -> int:
        """The account's free job slots (negative: more jobs run than it allows now)."""
        with self.lock:
            return max_jobs - sum(job.email == email for job in self.running_jobs())

    def start(self, job: FlowJob, cost: int) -> None:
        """Run ``job`` and charge its account; the caller checked capacity and credits under the lock."""
        with self.lock:
            self.jobs[job.jobid] = job
            self.credits[job.email] = self.credits.get(job.email, 0) - cost

    def poll(self, jobid: str, song_polls: int, failed: bool, now: str) -> FlowJob | None:
        """Count one GET of a pending job; it ends (freeing its slot) on the GET after ``song_polls``."""
        with self.lock:
            job = self.jobs.get(jobid)
            if job is None:
                return None
            if job.status == "pending":
                job.polls += 1
                if job.polls > song_polls:
                    self.finish(job, failed, now)
            return job

    def finish(self, job: FlowJob, failed: bool, now: str) -> None:
        """End ``job``: two clips, or the failure; its slot is free again."""
        with self.lock:
            job.running = False
            job.completed_at = now
            job.duration_ms = int((time.monotonic() - job.created_monotonic) * 1000)
            if failed:
                job.status, job.error = "failed", dict(FAILED_ERROR)
                return
            job.status = "completed"
            for _ in range(CLIPS_PER_JOB):
                ident = clip_id()
                pick = random.Random(ident)
                clip = FlowClip(
                    ident, job.title, round(120 + pick.uniform(0, 120), 2), job.lyrics, pick.randrange(2**31), now
                )
                job.clips.append(clip)
                self.clips[ident] = clip
                self.clip_jobs[ident] = job.jobid

    def cancel(self, jobid: str) -> bool:
        """Stop tracking a running job (its slot is free at once); ``False`` when it does not run."""
        with self.lock:
            job = self.jobs.get(jobid)
            if job is None or not job.running:
                return False
            job.running = False
            return True

    def job(self, jobid: str) -> FlowJob | None:
        with self.lock:
            return self.jobs.get(jobid)

    def clip(self, ident: str) -> FlowClip | None:
        with self.lock:
            return self.clips.get(ident)
