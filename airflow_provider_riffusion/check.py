"""``python -m airflow_provider_riffusion.check``: check a connection against its live service, step by step.

Read-only by default: the accounts, the free job slots and one status read, none of which creates
anything or spends credits. ``--paid`` adds one upload of a generated few-second tone and one compose
from it, waits for the songs, and says what they cost (the account's credits before and after, where
the service reports them). Every step prints what it did; the token is never printed. Exit status 0
when every step passed, 1 when one failed (its one-line reason printed), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import io
import math
import struct
import sys
import time
import wave
from collections.abc import Callable, Sequence
from typing import Any, TextIO, TypeVar

from airflow_provider_riffusion.exceptions import (
    RiffusionBadRequestError,
    RiffusionError,
    RiffusionNotFoundError,
    RiffusionUnexpectedStatusError,
)
from airflow_provider_riffusion.hooks.riffusion import RiffusionHook
from airflow_provider_riffusion.waits import Poller, SongsWait, UploadWait, Wait, wait

T = TypeVar("T")

UNKNOWN_JOB = "airflow-provider-riffusion-check-unknown-job"
"""The job the read-only status read asks for: no service knows it, so a 404 proves the read works."""
TONE_SECONDS = 3
CHECK_PROMPT = "a short calm piano phrase (connection check of airflow-provider-riffusion)"


def tone_wav(seconds: int = TONE_SECONDS, rate: int = 16_000) -> bytes:
    """A few seconds of a quiet 440 Hz tone as a wav file: a real track, made here, uploaded by ``--paid``."""
    frames = b"".join(
        struct.pack("<h", int(8_000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(rate * seconds)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(rate)
        track.writeframes(frames)
    return buffer.getvalue()


def credits(hook: RiffusionHook, account: str | None) -> dict[str, float]:
    """The account's numeric credit fields (``GET accounts/{account}``), or {} where the service reports none."""
    if not account:
        return {}
    try:
        record = hook.call("account", account=account)
    except RiffusionError:
        return {}
    found: dict[str, float] = {}

    def collect(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                collect(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and "credit" in path.lower():
            found[path] = float(value)

    collect(record, "")
    return found


class Check:
    """The steps, numbered as they print."""

    def __init__(self, hook: RiffusionHook, out: TextIO) -> None:
        self.hook = hook
        self.out = out
        self.number = 0

    def step(self, title: str, run: Callable[[], str]) -> bool:
        self.number += 1
        started = time.monotonic()
        try:
            said = run()
        except RiffusionError as error:
            print(f"[{self.number}] {title}: FAILED: {error}", file=self.out)
            return False
        print(f"[{self.number}] {title}: {said} ({time.monotonic() - started:.1f} s)", file=self.out)
        return True


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    hook = RiffusionHook(args.conn_id)
    try:
        return steps(args, hook, out)
    finally:
        hook.close()


def steps(args: argparse.Namespace, hook: RiffusionHook, out: TextIO) -> int:
    """Every step, printed as it ends; the exit status."""
    try:
        settings = hook.settings
    except RiffusionError as error:
        print(f"connection {args.conn_id!r}: {error}", file=out)
        return 1
    service = settings.service
    account = args.user_id or settings.user_id
    print(
        f"{service.SHORT_TITLE} at {settings.base_url} (connection {args.conn_id!r}; "
        f"account {account or 'any: the service picks one'})",
        file=out,
    )
    check = Check(hook, out)
    found: dict[str, Any] = {}

    def accounts() -> str:
        listed = hook.call("accounts")
        found["accounts"] = listed
        broken = sorted(name for name, record in listed.items() if isinstance(record, dict) and record.get("error"))
        names = ", ".join(sorted(listed)[:10]) or "none: add one with POST accounts"
        return f"{len(listed)} configured ({names}); {len(broken)} in an error state {broken or ''}".rstrip() + "; free"

    def slots() -> str:
        free = hook.free_slots(account)
        return f"{free} free job slot(s) for {account or 'all accounts'}; free"

    def status() -> str:
        job = args.job_id or UNKNOWN_JOB
        try:
            songs = hook.get_songs(job, account)
        except (RiffusionNotFoundError, RiffusionBadRequestError, RiffusionUnexpectedStatusError) as refused:
            if args.job_id or refused.http_status not in (400, 403, 404):  # an id of another form may be a 400/403
                raise
            status = refused.http_status
            return f"job {UNKNOWN_JOB!r} is unknown (HTTP {status}), as expected: the status read works; free"
        words = sorted({str(song.get("status")) for song in songs}) or ["not done yet"]
        return f"job {job!r}: {len(songs)} song(s), status {', '.join(words)}; free"

    passed = all([check.step("accounts", accounts), check.step("free slots", slots), check.step("status read", status)])
    if not args.paid:
        print(
            "Read-only: nothing was created and no credits were spent. Add --paid for one upload and one compose "
            "(spends credits).",
            file=out,
        )
        return 0 if passed else 1
    if not passed:
        print("Not running the paid steps: a read-only step failed.", file=out)
        return 1
    listed = found.get("accounts") or {}
    billed = account or (next(iter(listed)) if len(listed) == 1 else None)  # the one account the service can pick
    before = credits(hook, billed)

    def run_wait(target: Wait[T], interval: float) -> T:
        poller: Poller[T] = Poller(
            target.what, log=hook.log, poll_interval=interval, deadline=time.time() + args.timeout
        )
        return wait(poller, lambda: target.check(hook, poller))

    upload: dict[str, Any] = {}
    composed: dict[str, Any] = {}

    def upload_tone() -> str:
        track = tone_wav()
        upload.update(hook.upload_audio(track, "airflow-provider-riffusion-check", "audio/wav", account))
        ready = run_wait(UploadWait(upload["job_id"], account), 2)
        return (
            f"{TONE_SECONDS} s tone ({upload['bytes']:,} bytes of wav, sha256 {upload['sha256'][:12]}...) -> "
            f"audio_upload_id {ready['audio_upload_id']}"
        )

    def compose() -> str:
        composed.update(hook.create_compose(CHECK_PROMPT, audio_upload_id=upload["audio_upload_id"], user_id=account))
        return f"job_ids {composed['job_ids']}"

    def songs() -> str:
        found_songs = run_wait(SongsWait(composed["job_ids"], account), 5)
        shown = "; ".join(f"{song['id']} {song.get('title')!r}" for song in found_songs)
        return f"{len(found_songs)} song(s): {shown}"

    passed = check.step("upload", upload_tone) and check.step("compose", compose) and check.step("songs", songs)
    after = credits(hook, billed)
    spent = {name: before[name] - after[name] for name in before if name in after and before[name] != after[name]}
    if spent:
        print(
            "Cost: "
            + ", ".join(f"{name} {before[name]:g} -> {after[name]:g} ({value:g})" for name, value in spent.items()),
            file=out,
        )
    else:
        print(
            "Cost: one upload and one compose, as the service bills them (it reports no credit balance to compare).",
            file=out,
        )
    return 0 if passed else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_riffusion.check",
        description="Check a Riffusion / Flow Music connection against its service. Read-only unless --paid.",
    )
    parser.add_argument(
        "--conn-id", default="riffusion_default", help="the Airflow connection (default riffusion_default)"
    )
    parser.add_argument("--user-id", default=None, help="the account to check (default: the connection's user_id)")
    parser.add_argument("--job-id", default=None, help="read this job's status instead of an unknown job's")
    parser.add_argument("--paid", action="store_true", help="also upload a generated tone and compose from it")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the songs with --paid")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
