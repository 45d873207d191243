"""Parity of the two doors: every call and every check, through ``RiffusionHook`` and ``RiffusionAsyncHook``.

One table of cases (``CASES``). Each case is an emulator setup and one call; the call runs once through the
worker's hook and once through the triggerer's (on an event loop, ``asyncio.run``), each against the same
setup made afresh (``emu.reset()`` between the doors), over real HTTP on 127.0.0.1. The two outcomes must be
equal: the normalized value, or the exception's class, message, ``http_status``, ``api_error`` and
``retry_after``; and the requests the call made (method, path, query, status), so the doors also retry alike
and ask for the same account. The outcome must then meet the case's expectation, so both doors being wrong
alike fails too. The API token never shows in any outcome, nor in a log line, on either door.

Ids the emulator makes (uuids) differ between the two runs: they are replaced by the name the setup gave them
(``<job_id>``), and timestamps by ``<volatile>``, before comparing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.hooks.riffusion import RiffusionAsyncHook, RiffusionHook
from airflow_provider_riffusion.testing import Fault, RiffusionEmulator
from airflow_provider_riffusion.waits import Poller, SlotWait, SongsWait, UploadWait, Wait
from tests.support import TOKEN, connection_json, write_wav

ACCOUNTS = ("acct-1", "acct-2")
DEFAULT_ACCOUNT = "acct-2"
"""The connection's extra ``user_id`` (unless a case drops it)."""
SETUP_CONN, DOOR_CONN = "riffusion_setup", "riffusion_parity"
"""Setup runs through a plain connection; the doors through the case's (short timeouts, few attempts ...)."""
ATTEMPTS = 3
"""Connection extra ``max_attempts`` (``tests.support.FAST_RETRIES``)."""
DOOR_LIMIT = 30.0
"""No door may take longer than this on one case."""

STATUS = ("GET", "music/upload-audio")
SONGS = ("GET", "music")
SLOTS = ("GET", "scheduler/available")
STOP = ("DELETE", "scheduler/{job_id}")
VOLATILE = frozenset({"created_at", "started", "elapsed", "duration_s"})
"""Answer fields that differ between two runs whatever the door (clock readings, a duration seeded by the id)."""


# -- setup ---------------------------------------------------------------------------------------


class Stage:
    """What a case sets up before its call, through the sync hook on the setup connection; ``ids`` names what it
    made, for the call's arguments and for comparing outcomes."""

    def __init__(self, emu: RiffusionEmulator, wav: Path) -> None:
        self.emu, self.wav = emu, wav
        self.ids: dict[str, str] = {}
        self.hook = RiffusionHook(SETUP_CONN)

    def upload(self) -> Stage:
        made = self.hook.upload_audio(self.wav, user_id=DEFAULT_ACCOUNT)
        self.ids["job_id"], self.ids["audio_upload_id"] = made["job_id"], made["audio_upload_id"]
        self.ids["transcription_job_id"] = made["job_id"].rpartition(":")[2]
        return self

    def compose(self, name: str = "job_id", user_id: str = DEFAULT_ACCOUNT) -> Stage:
        job_ids = self.hook.create_compose("ambient drones", title="Parity", user_id=user_id)["job_ids"]
        self.ids[name], self.ids[f"{name}_song_2"] = job_ids
        return self

    def stop(self, name: str = "job_id") -> Stage:
        self.hook.stop_job(self.ids[name])
        return self

    def set(self, **settings: Any) -> Stage:
        for setting, value in settings.items():
            setattr(self.emu, setting, value)
        return self

    def fault(self, target: tuple[str, str], **shape: Any) -> Stage:
        method, path = target
        self.emu.inject(Fault(method=method, path=path.format_map(self.ids), **shape))
        return self


Setup = Callable[[Stage], Any]


def nothing(stage: Stage) -> Stage:
    """No setup: the call meets the emulator as it starts."""
    return stage


def fill(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with ``"{job_id}"``-style names replaced by the ids the setup made."""
    if isinstance(value, str):
        return value.format_map(ids)
    if isinstance(value, (list, tuple)):
        return type(value)(fill(item, ids) for item in value)
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    return value


# -- calls: the same on both doors -----------------------------------------------------------------


class RecordingLog:
    """A poller's logger: keeps each line as rendered."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str, *args: Any) -> None:
        self.lines.append(f"info: {message % args}")

    def warning(self, message: str, *args: Any) -> None:
        self.lines.append(f"warning: {message % args}")


@dataclass(frozen=True)
class Api:
    """A hook method both doors have under one name (``call`` included), with its arguments."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def sync(self, hook: RiffusionHook, ids: dict[str, str], log: RecordingLog) -> Any:
        return getattr(hook, self.method)(*fill(self.args, ids), **fill(self.kwargs, ids))

    async def on_loop(self, hook: RiffusionAsyncHook, ids: dict[str, str], log: RecordingLog) -> Any:
        return await getattr(hook, self.method)(*fill(self.args, ids), **fill(self.kwargs, ids))


@dataclass(frozen=True)
class Check:
    """One check of a wait: ``Wait.check`` on the worker's hook, ``Wait.check_async`` on the triggerer's."""

    wait: type[Wait[Any]]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def made(self, ids: dict[str, str], log: RecordingLog) -> tuple[Wait[Any], Poller[Any]]:
        wait = self.wait(*fill(self.args, ids), **fill(self.kwargs, ids))
        return wait, Poller(wait.what, log=log, poll_interval=0.01)

    def sync(self, hook: RiffusionHook, ids: dict[str, str], log: RecordingLog) -> Any:
        wait, poller = self.made(ids, log)
        return wait.check(hook, poller)

    async def on_loop(self, hook: RiffusionAsyncHook, ids: dict[str, str], log: RecordingLog) -> Any:
        wait, poller = self.made(ids, log)
        return await wait.check_async(hook, poller)


def api(method: str, *args: Any, **kwargs: Any) -> Api:
    return Api(method, args, kwargs)


def check(wait: type[Wait[Any]], *args: Any, **kwargs: Any) -> Check:
    return Check(wait, args, kwargs)


Call = Api | Check


# -- outcomes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one door gave, with the setup's ids named: compared whole between the doors (but ``seconds``)."""

    value: Any = None
    error: str | None = None
    """The exception's class name, or None."""
    message: str | None = None
    http_status: int | None = None
    api_error: str | None = None
    retry_after: float | None = None
    requests: tuple[tuple[str, str, str, int], ...] = ()
    """Each request the call made: method, path, query (JSON), status (0: no answer)."""
    log: tuple[str, ...] = ()
    """What a wait's poller logged."""
    seconds: float = field(default=0.0, compare=False)

    @property
    def statuses(self) -> tuple[int, ...]:
        return tuple(status for *_, status in self.requests)

    @property
    def accounts(self) -> set[str | None]:
        return {json.loads(query).get("user_id") for _, _, query, _ in self.requests}

    def summary(self) -> str:
        """One cell of the report's table."""
        codes = ",".join(str(status) for status in self.statuses) or "none"
        if self.error is not None:
            return f"`{self.error}` (HTTP {codes})"
        value = self.value
        if isinstance(value, dict) and "status" in value:
            shown = f"status {value['status']!r}"
        elif isinstance(value, list):
            shown = f"{len(value)} song(s) {[song.get('status') for song in value]}"
        elif isinstance(value, dict):
            shown = f"{{{', '.join(sorted(value))}}}"
        else:
            shown = repr(value)
        return f"{shown} (HTTP {codes})"


class Canon:
    """Names the setup's ids in anything a door gave, and blanks the fields that differ between runs."""

    def __init__(self, ids: dict[str, str]) -> None:
        self.names = sorted(((value, f"<{name}>") for name, value in ids.items()), key=lambda item: -len(item[0]))

    def text(self, text: str) -> str:
        for value, name in self.names:
            text = text.replace(value, name)
        return text

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {
                self.text(key): "<volatile>" if key in VOLATILE else self.value(item) for key, item in value.items()
            }
        return value


def run_door(
    door: str,
    case: Case,
    emu: RiffusionEmulator,
    wav: Path,
    stage_type: type[Stage] = Stage,
    canon_type: type[Canon] = Canon,
) -> Outcome:
    """The case's setup, afresh, then its call through one door (another service brings its own setup and
    id-namer)."""
    emu.reset()
    stage = stage_type(emu, wav)
    case.setup(stage)
    stage.hook.close()
    canon, log, since = canon_type(stage.ids), RecordingLog(), len(emu.requests)
    started = time.monotonic()
    result: dict[str, Any] = {}
    try:
        if door == "sync":
            hook = RiffusionHook(DOOR_CONN)
            try:
                value = case.call.sync(hook, stage.ids, log)
            finally:
                hook.close()
        else:

            async def on_loop() -> Any:
                async with RiffusionAsyncHook(DOOR_CONN) as hook:
                    return await case.call.on_loop(hook, stage.ids, log)

            value = asyncio.run(asyncio.wait_for(on_loop(), DOOR_LIMIT))
        result["value"] = canon.value(value)
    except Exception as error:
        result.update(
            error=type(error).__name__,
            message=canon.text(str(error)),
            http_status=getattr(error, "http_status", None),
            api_error=canon.text(api_error)
            if isinstance(api_error := getattr(error, "api_error", None), str)
            else None,
            retry_after=getattr(error, "retry_after", None),
        )
        shown = " ".join([str(error), repr(error), str(getattr(error, "api_error", ""))])
        assert not shows_token(shown), f"the {door} door's {type(error).__name__} shows the token"
    seconds = time.monotonic() - started
    made = emu.requests[since:]
    requests = tuple(
        (r["method"], canon.text(r["path"]), canon.text(json.dumps(r["query"], sort_keys=True)), r["status"])
        for r in made
    )
    outcome = Outcome(**result, requests=requests, log=tuple(canon.text(line) for line in log.lines), seconds=seconds)
    assert not shows_token(json.dumps(outcome.value, default=str) + " ".join(outcome.log))
    return outcome


def shows_token(text: str, width: int = 8) -> bool:
    """Whether ``text`` shows the token, or any piece of it ``width`` characters long (a cut through an echo)."""
    return any(TOKEN[i : i + width] in text for i in range(len(TOKEN) - width + 1))


# -- expectations ------------------------------------------------------------------------------


def matches(expected: Any, actual: Any) -> bool:
    """``actual`` has what ``expected`` names: a dict's given keys (recursively), a list item by item, else ==."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return type(expected) is type(actual) and expected == actual


ANY_ACCOUNT = "<any>"


@dataclass(frozen=True)
class Expect:
    """What both doors must give: a value (``Returns``) or an exception (``Raises``), after these requests."""

    statuses: tuple[int, ...] | None = None
    """The HTTP status of each request the call made (0: none came), when the case fixes them."""
    account: str | None = ANY_ACCOUNT
    """The ``user_id`` every request carried (None: none), when the case fixes it."""
    logged: str | None = None
    """A pattern one of the poller's lines must match."""
    min_seconds: float = 0.0
    """The least time each door must have taken (a Retry-After honoured)."""

    def verify(self, outcome: Outcome) -> None:
        if self.statuses is not None:
            assert outcome.statuses == self.statuses, f"requests made: {outcome.requests}"
        if self.account != ANY_ACCOUNT:
            assert outcome.accounts == {self.account}, f"requests made: {outcome.requests}"
        if self.logged is not None:
            assert any(re.search(self.logged, line) for line in outcome.log), outcome.log
        assert outcome.seconds >= self.min_seconds


@dataclass(frozen=True)
class Returns(Expect):
    value: Any = None

    def verify(self, outcome: Outcome) -> None:
        assert outcome.error is None, f"expected a value, got {outcome.error}: {outcome.message}"
        assert matches(self.value, outcome.value), f"expected {self.value!r}, got {outcome.value!r}"
        super().verify(outcome)


@dataclass(frozen=True)
class Raises(Expect):
    error: type[Exception] = Exception
    match: str = ""
    """A pattern the message (ids named) must contain."""

    def verify(self, outcome: Outcome) -> None:
        assert outcome.error == self.error.__name__, f"expected {self.error.__name__}, got {outcome}"
        assert outcome.message is not None and re.search(self.match, outcome.message), outcome.message
        super().verify(outcome)


def returns(value: Any, *statuses: int, **more: Any) -> Returns:
    return Returns(value=value, statuses=statuses or None, **more)


def raises(error: type[Exception], match: str, *statuses: int, **more: Any) -> Raises:
    return Raises(error=error, match=match, statuses=statuses, **more)


# -- the table -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    setup: Setup
    call: Call
    expect: Expect
    extra: dict[str, Any] = field(default_factory=dict)
    """Connection extras for the doors, on top of the fast retries and the default account."""
    unreachable: bool = False
    """The doors' connection points at a loopback port where nothing listens."""


def case(id: str, setup: Setup, call: Call, expect: Expect, *, unreachable: bool = False, **extra: Any) -> Any:
    return pytest.param(Case(id, setup, call, expect, extra, unreachable), id=id)


def upload(stage: Stage) -> Stage:
    return stage.upload()


def composed(stage: Stage) -> Stage:
    return stage.compose()


UPLOADED = {"job_id": "<job_id>", "audio_upload_id": "<audio_upload_id>", "is_flagged": False}


def default_account_busy(stage: Stage) -> Stage:
    """acct-2 (the connection's default) runs 2 jobs of its 2 slots: 0 free; acct-1 runs none: 2 free."""
    return stage.set(free_slots=2).compose("busy_1").compose("busy_2")


# 1. Every endpoint of the async door, the generic call for reads, and the checks made before any request.
ENDPOINTS = [
    case(
        "upload-status",
        upload,
        api("get_upload_status", "{job_id}"),
        returns({**UPLOADED, "status": "complete"}, 200, account=DEFAULT_ACCOUNT),
    ),
    case(
        "upload-status-explicit-account",
        upload,
        api("get_upload_status", "{job_id}", "acct-1"),
        returns({**UPLOADED, "status": "complete"}, 200, account="acct-1"),
    ),
    case(
        "upload-status-unknown-job",
        nothing,
        api("get_upload_status", "no-such-upload"),
        raises(exc.RiffusionNotFoundError, r"does not know the status of upload no-such-upload \(HTTP 404\)", 404),
    ),
    case(
        "upload-status-empty-id",
        nothing,
        api("get_upload_status", "None"),
        raises(exc.RiffusionInputError, r"job_id is empty \('None'\)"),
    ),
    case(
        "songs",
        composed,
        api("get_songs", "{job_id}"),
        returns([{"id": "<job_id>", "status": "completed", "title": "Parity"}], 200, account=DEFAULT_ACCOUNT),
    ),
    case(
        "songs-explicit-account",
        composed,
        api("get_songs", "{job_id}", "acct-1"),
        returns([{"id": "<job_id>", "status": "completed"}], 200, account="acct-1"),
    ),
    case("songs-not-created-yet", nothing, api("get_songs", "no-such-job"), returns([], 200)),
    case("slots", nothing, api("free_slots"), returns(3, 200, account=None)),
    case("stop-job", composed, api("stop_job", "{job_id}"), returns(True, 204, account=None)),
    # stop_job: a job that no longer runs (404) is nothing to stop, so a retry after a lost answer is no error.
    case("stop-job-not-running", nothing, api("stop_job", "no-such-job"), returns(False, 404, account=None)),
    case("stop-job-twice", lambda stage: stage.compose().stop(), api("stop_job", "{job_id}"), returns(False, 404)),
    case(
        "call-stop-job-not-running",
        nothing,
        api("call", "stop_job", job_id="no-such-job"),
        raises(
            exc.RiffusionNotFoundError, r"does not know stopping job no-such-job \(HTTP 404\): Unable to locate", 404
        ),
    ),
    case(
        "call-stop-job-id-with-slash",
        nothing,
        api("call", "stop_job", job_id="user:alice/job:7"),
        raises(exc.RiffusionNotFoundError, r"Unable to locate running job_id user:alice/job:7", 404),
    ),
    case(
        "call-accounts",
        nothing,
        api("call", "accounts"),
        returns({user: {"user_id": user, "maxJobs": 3} for user in ACCOUNTS}, 200, account=None),
    ),
    case("call-slots", nothing, api("call", "slots"), returns({"free": {"acct-1": 3, "acct-2": 3}}, 200, account=None)),
    case(
        "call-upload-status",
        upload,
        api("call", "upload_status", id="{job_id}"),
        returns({**UPLOADED, "status": "complete"}, 200, account=DEFAULT_ACCOUNT),
    ),
    case(
        "call-songs-explicit-account",
        composed,
        api("call", "songs", "acct-1", id="{job_id}"),
        returns([{"id": "<job_id>"}], 200, account="acct-1"),
    ),
    case(
        "call-unknown-operation",
        nothing,
        api("call", "stems"),
        raises(exc.RiffusionInputError, r"has no operation .stems.: use one of account, accounts, compose"),
    ),
]

# 2. Every status word, through one check of each wait.
UPLOAD_WORDS = {
    **dict.fromkeys(["pending", "", "processing", "queued"], "waits"),
    **dict.fromkeys(["complete", "completed", " Completed "], "ready"),
    **dict.fromkeys(["failed", "error", "cancelled", "canceled"], "fails"),
    "transcribed": "unknown",
}
SONG_WORDS = {
    **dict.fromkeys(["queued", "generating_audio", "mastering"], "waits"),  # an unknown song word waits
    **dict.fromkeys(["completed", "complete"], "ready"),
    **dict.fromkeys(["failed", "error", "cancelled", "canceled"], "fails"),
}


def word_id(prefix: str, word: str) -> str:
    name = {"": "empty", " Completed ": "mixed-case", "transcribed": "unknown", "mastering": "unknown"}.get(word, word)
    return f"{prefix}-word-{name}"


def upload_word(word: str, meaning: str) -> Any:
    folded = word.strip().lower()
    logged = rf"Upload <job_id>: status {re.escape(repr(folded))}"
    expect: Expect = {
        "waits": returns(None, 200, logged=logged),
        "ready": returns({**UPLOADED, "status": folded}, 200, logged=logged),
        "unknown": returns(
            {**UPLOADED, "status": folded}, 200, logged="which the docs do not name; treating it as ready"
        ),
        "fails": raises(exc.RiffusionUploadFailedError, rf"Upload <job_id> ended with status '{folded}'", 200),
    }[meaning]
    setup = lambda stage: stage.set(upload_final_status=word).upload()  # noqa: E731
    return case(word_id("upload", word), setup, check(UploadWait, "{job_id}"), expect)


def song_word(word: str, meaning: str) -> Any:
    logged = rf"Compose job <job_id>: status \['{word}'\]"
    expect: Expect = {
        "waits": returns(None, 200, logged=logged),
        "ready": returns([{"id": "<job_id>", "status": word, "title": "Parity"}], 200, logged=logged),
        "fails": raises(exc.RiffusionSongFailedError, r"Compose job <job_id>: song\(s\) \['<job_id>'\] failed", 200),
    }[meaning]
    setup = lambda stage: stage.set(song_final_status=word).compose()  # noqa: E731
    return case(word_id("song", word), setup, check(SongsWait, "{job_id}"), expect)


WORDS = [
    *(upload_word(word, meaning) for word, meaning in UPLOAD_WORDS.items()),
    case(
        "upload-flagged-fail-on-flagged",
        lambda stage: stage.set(flag_uploads=True).upload(),
        check(UploadWait, "{job_id}", fail_on_flagged=True),
        raises(exc.RiffusionUploadFailedError, r"Upload <job_id> is flagged", 200),
    ),
    *(song_word(word, meaning) for word, meaning in SONG_WORDS.items()),
    case(
        "songs-wait-not-created-yet",
        nothing,
        check(SongsWait, "no-such-job"),
        returns(None, 200, logged="Compose job no-such-job: status 'not created yet'"),
    ),
    case(
        "songs-wait-two-jobs",
        lambda stage: stage.compose().compose("job_id_2"),
        check(SongsWait, ["{job_id}", "{job_id_2}"]),
        returns([{"id": "<job_id>", "status": "completed"}, {"id": "<job_id_2>", "status": "completed"}], 200, 200),
    ),
]

# 3. The default account: the connection's user_id is acct-2, with no free slot; acct-1 has 2.
ACCOUNT = [
    case("slots-default-account", default_account_busy, api("free_slots"), returns(0, 200, account=None)),
    case(
        "slots-wait-default-account",
        default_account_busy,
        check(SlotWait),
        returns(None, 200, logged="Free job slots: status 0"),
    ),
    case("slots-explicit-account", default_account_busy, api("free_slots", "acct-1"), returns(2, 200)),
    case("slots-wait-explicit-account", default_account_busy, check(SlotWait, "acct-1"), returns(2, 200)),
    case("slots-unknown-account", default_account_busy, api("free_slots", "acct-9"), returns(0, 200)),
    case(
        "slots-no-default-account-sums-all",
        lambda stage: stage.set(free_slots=2).compose("busy_1"),  # acct-1: 2 free, acct-2: 1 free
        api("free_slots"),
        returns(3, 200),
        user_id=None,
    ),
    case(
        "slots-wait-no-default-account-sums-all",
        lambda stage: stage.set(free_slots=2).compose("busy_1"),
        check(SlotWait),
        returns(3, 200),
        user_id=None,
    ),
]

# 4. Hostile answers.
ENDPOINT_CALLS: dict[str, tuple[tuple[str, str], Setup, Call, str]] = {
    "upload-status": (STATUS, upload, api("get_upload_status", "{job_id}"), "the status of upload <job_id>"),
    "songs": (SONGS, composed, api("get_songs", "{job_id}"), "the songs of job <job_id>"),
    "slots": (SLOTS, nothing, api("free_slots"), "the free job slots"),
    "stop-job": (STOP, composed, api("call", "stop_job", job_id="{job_id}"), "stopping job <job_id>"),
}
"""Where each endpoint's faults go, its setup, its call, and how messages name it."""


def http_status_case(status: int, endpoint: str) -> Any:
    target, setup, call, what = ENDPOINT_CALLS[endpoint]
    what = re.escape(what)
    retried = f"\\(HTTP {status}\\) after {ATTEMPTS} attempts: Injected fault"
    expect: Expect = {
        400: raises(exc.RiffusionBadRequestError, rf"rejected {what} \(HTTP 400\): Injected fault: Bad Request", 400),
        401: raises(exc.RiffusionAuthError, rf"refused the token for {what} \(HTTP 401\)", 401),
        402: raises(exc.RiffusionSubscriptionError, r"expired \(HTTP 402\): Injected fault: Payment Required", 402),
        404: raises(exc.RiffusionNotFoundError, rf"does not know {what} \(HTTP 404\): Injected fault: Not Found", 404),
        412: raises(exc.RiffusionCreditsError, r"out of credits \(HTTP 412\): Injected fault: Precondition", 412),
        422: raises(
            exc.RiffusionModerationError, rf"moderated {what} \(HTTP 422\): Injected fault: Unprocessable", 422
        ),
        # Retry-After: 1, capped at retry_max_delay 0.2 s: two waits of 0.2 s (the jittered backoff is <= 0.03 s).
        429: raises(exc.RiffusionRateLimitError, retried, *[429] * ATTEMPTS, min_seconds=0.38),
        500: raises(exc.RiffusionServerError, rf"failed on {what} {retried}", *[500] * ATTEMPTS),
        596: raises(exc.RiffusionAccountError, r"pending error \(HTTP 596\): Your Riffusion account", 596),
    }[status]
    headers = {"Retry-After": "1"} if status == 429 else None
    extra: dict[str, Any] = {"retry_max_delay": 0.2} if status == 429 else {}
    name = f"hostile-{status}-retry-after" if status == 429 else f"hostile-{status}"
    return case(
        f"{name}-{endpoint}",
        lambda stage: setup(stage).fault(target, status=status, headers=headers, times=1000),
        call,
        expect,
        **extra,
    )


def status_answer(body: Any, stage: Stage) -> Stage:
    return stage.upload().fault(STATUS, status=200, body=body)


def slots_answer(body: Any) -> Setup:
    return lambda stage: stage.fault(SLOTS, status=200, body=body)


def songs_answer(body: Any) -> Setup:
    return lambda stage: stage.compose().fault(SONGS, status=200, body=body)


STATUS_CALL = api("get_upload_status", "{job_id}")
NOT_JSON = r"answered the status of upload <job_id> with HTTP 200 but the body is not JSON"
NEGATIVE_SLOTS = {"available": [{"user_id": "acct-1", "available": 2}, {"user_id": "acct-2", "available": -3}]}
SLOT_ENTRY = r"the free slot count of entry 0 of 'available' \(account acct-2\) is"

HOSTILE = [
    case(
        "hostile-html-200",
        lambda stage: stage.upload().fault(STATUS, kind="html", status=200),
        STATUS_CALL,
        raises(exc.RiffusionResponseError, rf"{NOT_JSON} \(text/html; charset=utf-8\): '200 OK", 200),
    ),
    case(
        "hostile-non-json",
        lambda stage: stage.upload().fault(STATUS, kind="malformed"),
        STATUS_CALL,
        raises(exc.RiffusionResponseError, rf"{NOT_JSON} \(application/json\)", 200),
    ),
    case(
        "hostile-deep-nested-json",
        lambda stage: stage.upload().fault(STATUS, kind="nested"),  # 100,000 levels: too deep to parse at all
        STATUS_CALL,
        raises(exc.RiffusionResponseError, rf"{NOT_JSON} \(application/json\): '\[\[\[\[", 200),
    ),
    case(
        "hostile-nested-past-the-limit",
        lambda stage: stage.upload().fault(STATUS, kind="nested", size=33),
        STATUS_CALL,
        raises(exc.RiffusionResponseError, r"HTTP 200 but the JSON nests deeper than 32 levels", 200),
    ),
    case(
        "hostile-oversize-body",
        lambda stage: stage.upload().fault(STATUS, kind="huge", size=3 * 1024 * 1024),
        STATUS_CALL,
        raises(exc.RiffusionResponseError, r"HTTP 200 but the body is larger than 1024 KiB \(application/json\)", 200),
    ),
    case(
        "hostile-unknown-charset",
        lambda stage: stage.upload().fault(STATUS, kind="charset", charset="x-klingon"),
        STATUS_CALL,
        raises(exc.RiffusionResponseError, r"declares charset 'x-klingon', which is no known encoding", 200),
    ),
    case(
        "hostile-charset-utf8mb4",
        lambda stage: stage.upload().fault(STATUS, kind="charset", charset="utf8mb4"),
        STATUS_CALL,
        raises(exc.RiffusionResponseError, r"declares charset 'utf8mb4', which is no known encoding", 200),
    ),
    case(
        "hostile-status-not-an-object",
        lambda stage: status_answer(["complete"], stage),
        STATUS_CALL,
        raises(exc.RiffusionResponseError, r"with list JSON, expected an object", 200),
    ),
    case(
        "hostile-upload-id-number",
        lambda stage: status_answer({"status": "complete", "audio_upload_id": 7}, stage),
        STATUS_CALL,
        raises(exc.RiffusionResponseError, r"with audio_upload_id a JSON int, not an id string", 200),
    ),
    case(
        "hostile-upload-id-object",
        lambda stage: status_answer({"status": "complete", "audio_upload_id": {"id": "x"}}, stage),
        STATUS_CALL,
        raises(exc.RiffusionResponseError, r"with audio_upload_id a JSON dict, not an id string", 200),
    ),
    case(
        "hostile-song-id-number",
        songs_answer([{"id": 7, "status": "completed"}]),
        api("get_songs", "{job_id}"),
        raises(exc.RiffusionResponseError, r"the songs of job <job_id> with a song's id a JSON int", 200),
    ),
    case(
        "hostile-song-id-object",
        songs_answer([{"id": {"id": "x"}, "status": "completed"}]),
        check(SongsWait, "{job_id}"),
        raises(exc.RiffusionResponseError, r"the songs of job <job_id> with a song's id a JSON dict", 200),
    ),
    case(
        "hostile-songs-not-a-list",
        songs_answer({"songs": []}),
        api("get_songs", "{job_id}"),
        raises(exc.RiffusionResponseError, r"songs of job <job_id> with dict, expected a list", 200),
    ),
    case("hostile-slots-negative", slots_answer(NEGATIVE_SLOTS), api("free_slots"), returns(0, 200)),
    case(
        "hostile-slots-negative-wait",
        slots_answer(NEGATIVE_SLOTS),
        check(SlotWait),
        returns(None, 200, logged="Free job slots: status 0"),
    ),
    case(
        "hostile-slots-negative-all-accounts",
        slots_answer(NEGATIVE_SLOTS),
        api("free_slots"),
        returns(2, 200),  # never 2 + (-3)
        user_id=None,
    ),
    case(
        "hostile-slots-not-a-list",
        slots_answer({"available": {"acct-2": 3}}),
        api("free_slots"),
        raises(exc.RiffusionResponseError, r"its 'available' is an object, not a list of accounts", 200),
    ),
    case(
        "hostile-slots-missing",
        slots_answer({}),
        check(SlotWait),
        raises(exc.RiffusionResponseError, r"its 'available' is missing, not a list of accounts", 200),
    ),
    case(
        "hostile-slots-entry-not-an-object",
        slots_answer({"available": ["acct-2"]}),
        api("free_slots"),
        raises(exc.RiffusionResponseError, r"entry 0 of 'available' is a string, not an account object", 200),
    ),
    case(
        "hostile-slots-count-string",
        slots_answer({"available": [{"user_id": "acct-2", "available": "3"}]}),
        api("free_slots"),
        raises(exc.RiffusionResponseError, rf"{SLOT_ENTRY} a string, not a whole number", 200),
    ),
    case(
        "hostile-slots-count-float",
        slots_answer({"available": [{"user_id": "acct-2", "available": 2.5}]}),
        api("free_slots"),
        raises(exc.RiffusionResponseError, rf"{SLOT_ENTRY} a floating-point number, not a whole number", 200),
    ),
    case(
        "hostile-slots-count-boolean",
        slots_answer({"available": [{"user_id": "acct-2", "available": True}]}),
        check(SlotWait),
        raises(exc.RiffusionResponseError, rf"{SLOT_ENTRY} the boolean true, not a whole number", 200),
    ),
    case(
        "hostile-slots-account-id-number",
        slots_answer({"available": [{"user_id": 7, "available": 1}]}),
        api("free_slots"),
        raises(exc.RiffusionResponseError, r"the user_id of entry 0 of 'available' a JSON int, not an id string", 200),
    ),
    *(
        http_status_case(status, endpoint)
        for status in (400, 401, 402, 404, 412, 422, 429, 500, 596)
        for endpoint in ENDPOINT_CALLS
    ),
    case(
        "hostile-500-then-ok",
        lambda stage: stage.upload().fault(STATUS, status=500, times=2),
        STATUS_CALL,
        returns({**UPLOADED, "status": "complete"}, 500, 500, 200),
    ),
    case(
        "hostile-never-answers-in-time",
        lambda stage: stage.upload().fault(STATUS, kind="hang", seconds=30, times=1000),
        STATUS_CALL,
        raises(
            exc.RiffusionNetworkError,
            r"did not answer the status of upload <job_id> within 0.3 s after 2 attempts",
            0,
            0,
        ),
        timeout=0.3,
        max_attempts=2,
    ),
    case(
        "hostile-never-answers-in-time-stop-job",
        lambda stage: stage.compose().fault(STOP, kind="hang", seconds=30, times=1000),
        api("stop_job", "{job_id}"),
        raises(exc.RiffusionNetworkError, r"did not answer stopping job <job_id> within 0.3 s after 2 attempts", 0, 0),
        timeout=0.3,
        max_attempts=2,
    ),
    case(
        "hostile-nothing-listening",
        upload,
        STATUS_CALL,
        raises(
            exc.RiffusionNetworkError,
            r"Could not connect to .* for the status of upload <job_id> \(Connection refused\)",
        ),
        unreachable=True,
    ),
    case(
        "hostile-connection-dropped",
        lambda stage: stage.upload().fault(STATUS, kind="drop", times=1000),
        STATUS_CALL,
        raises(exc.RiffusionNetworkError, r"Lost the connection to .* during the status of upload <job_id>", 0, 0, 0),
    ),
    case(
        "hostile-connection-dropped-stop-job",
        lambda stage: stage.compose().fault(STOP, kind="drop", times=1000),
        api("stop_job", "{job_id}"),
        raises(exc.RiffusionNetworkError, r"Lost the connection to .* during stopping job <job_id>", 0, 0, 0),
    ),
    case(
        "hostile-answer-lost-then-ok",
        lambda stage: stage.upload().fault(STATUS, kind="drop_after_body"),
        STATUS_CALL,
        returns({**UPLOADED, "status": "complete"}, 0, 200),
    ),
    case(
        "hostile-echoed-token-500",
        lambda stage: stage.upload().fault(STATUS, status=500, body={"error": f"bad Bearer {TOKEN}"}, times=1000),
        STATUS_CALL,
        raises(exc.RiffusionServerError, r"after 3 attempts: bad Bearer \*\*\*", 500, 500, 500),
    ),
    case(
        "hostile-echoed-token-cut",
        lambda stage: stage.upload().fault(STATUS, status=400, body={"error": "y" * 190 + TOKEN + " and more"}),
        STATUS_CALL,
        raises(exc.RiffusionBadRequestError, r"\(HTTP 400\): y{190}\*\*\*", 400),
    ),
    case(
        "hostile-echoed-token-in-html",
        lambda stage: stage.upload().fault(STATUS, status=502, body=f"<b>{'z' * 185}</b>{TOKEN}<i>end</i>", times=9),
        STATUS_CALL,
        raises(exc.RiffusionServerError, r"\(HTTP 502\) after 3 attempts: \" z{185} \*\*\* end", 502, 502, 502),
    ),
    case(
        "hostile-echoed-token-in-charset",
        lambda stage: stage.upload().fault(STATUS, kind="charset", charset=TOKEN),
        STATUS_CALL,
        raises(exc.RiffusionResponseError, r"declares charset '\*\*\*', which is no known encoding", 200),
    ),
]

CASES = [*ENDPOINTS, *WORDS, *ACCOUNT, *HOSTILE]


# -- the test --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("parity") / "parity take.wav")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RiffusionEmulator]:
    """An emulator of two accounts that answers at once (no pending poll before the final status)."""
    with RiffusionEmulator(token=TOKEN, user_ids=ACCOUNTS, pending_polls=0, song_polls=0) as emulator:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{SETUP_CONN.upper()}", connection_json(emulator.base_url, user_id=DEFAULT_ACCOUNT)
        )
        yield emulator


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_every_case_is_named_once() -> None:
    ids = [param.id for param in CASES]
    assert len(ids) == len(set(ids)), sorted(name for name in ids if ids.count(name) > 1)


@pytest.mark.parametrize("case", CASES)
def test_both_doors_give_one_outcome(
    case: Case,
    server: RiffusionEmulator,
    wav: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    extra = {"user_id": DEFAULT_ACCOUNT, **case.extra}
    base_url = f"http://127.0.0.1:{closed_port()}/v1/riffusion" if case.unreachable else server.base_url
    monkeypatch.setenv(f"AIRFLOW_CONN_{DOOR_CONN.upper()}", connection_json(base_url, **extra))

    with caplog.at_level(logging.WARNING):
        sync = run_door("sync", case, server, wav)
        deferred = run_door("async", case, server, wav)
    # Each door's outcome in one line, in a JUnit report's properties (``--junitxml``): the report's table.
    request.node.user_properties += [("sync", sync.summary()), ("async", deferred.summary())]

    assert sync == deferred, "RiffusionHook and RiffusionAsyncHook disagree"
    case.expect.verify(sync)
    case.expect.verify(deferred)
    printed = capsys.readouterr()
    assert not shows_token(caplog.text + printed.out + printed.err)
