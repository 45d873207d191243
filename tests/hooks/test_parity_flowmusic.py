"""Parity of the two doors on Flow Music: every read and check, through ``RiffusionHook`` and ``RiffusionAsyncHook``.

``tests/hooks/test_parity.py`` for the connection whose extra says ``service: flowmusic``, with its machinery
(calls, outcomes, expectations) imported from there. Each case is an emulator setup and one call; the call runs
once through the worker's hook and once through the triggerer's (``asyncio.run``), each against the same setup
made afresh, over real HTTP on 127.0.0.1. The two outcomes must be equal (the normalized value, or the
exception's class, message, ``http_status``, ``api_error`` and ``retry_after``; and the requests made), and then
meet the case's expectation. The token never shows in an outcome or a log line, on either door.

Ids made by the emulator differ between the two runs: the setup's are named by the setup (``<job_id>``), the
clips a job makes while the call polls it by the order they first show (``<clip-1>``), in plain and in
percent-encoded form; clock readings and seeds are ``<volatile>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.testing import RiffusionEmulator
from airflow_provider_riffusion.waits import SlotWait, SongsWait, UploadWait
from tests.hooks.test_parity import (
    DOOR_CONN,
    SETUP_CONN,
    Canon,
    Case,
    Expect,
    Outcome,
    Raises,
    Returns,
    Setup,
    Stage,
    api,
    case,
    check,
    raises,
    returns,
    shows_token,
)
from tests.hooks.test_parity import run_door as run_parity_door
from tests.support import TOKEN, connection_json, write_wav

ANA, BO = "ana@example.com", "bo@example.com"
EMAILS = (ANA, BO)
DEFAULT_ACCOUNT = BO
"""The connection's extra ``user_id`` (unless a case drops it)."""
ATTEMPTS = 3
FLOW = {"service": "flowmusic"}

JOB = ("GET", "jobs/{job_id}")
JOBS = ("GET", "jobs")
ACCOUNTS = ("GET", "accounts")
STOP = ("DELETE", "jobs/{job_id}")
MUSIC = ("POST", "music")
VOLATILE = frozenset({"created_at", "completed_at", "duration_ms", "duration_s", "seed", "elapsed", "started"})
"""Fields that differ between two runs whatever the door: clock readings, and what the emulator seeds by a clip's
random id."""
CLIP = re.compile(r"user(?::|%3A)777-clip(?::|%3A)([0-9a-f]{32})")
UNKNOWN_JOB = "job:00000000-0000-0000-0000-000000000000-user:777-nobody@example.com-bot:flowmusic"
FAILED_REASON = "The model could not generate this song"
"""The emulator's ``error.message`` of a failed job."""


@dataclass(frozen=True)
class Throttled(Raises):
    """A 429 on both doors, with the ``Retry-After`` it carried (None: none came)."""

    retry_after: float | None = None

    def verify(self, outcome: Outcome) -> None:
        super().verify(outcome)
        assert outcome.retry_after == self.retry_after, f"retry_after {outcome.retry_after}"


def throttled(match: str, retry_after: float | None) -> Throttled:
    """Every attempt answered 429; honouring a Retry-After of 1 s (capped at 0.2 s) takes two such waits."""
    return Throttled(
        error=exc.RiffusionRateLimitError,
        match=match,
        statuses=(429,) * ATTEMPTS,
        retry_after=retry_after,
        min_seconds=0.38 if retry_after else 0.0,
    )


class FlowStage(Stage):
    """The setup, on Flow Music: an upload is an asset, a compose one job of two clips (once it ends)."""

    def upload(self) -> FlowStage:
        self.ids["asset"] = self.hook.upload_audio(self.wav, user_id=DEFAULT_ACCOUNT)["job_id"]
        return self

    def compose(self, name: str = "job_id", user_id: str = DEFAULT_ACCOUNT) -> FlowStage:
        [self.ids[name]] = self.hook.create_compose("ambient drones", user_id=user_id)["job_ids"]
        return self


class FlowCanon(Canon):
    """The setup's ids named, then the clips a call made, in the order they first show."""

    def __init__(self, ids: dict[str, str]) -> None:
        super().__init__(ids)
        self.clips: dict[str, str] = {}

    def text(self, text: str) -> str:
        named = super().text(text)
        return CLIP.sub(lambda found: self.clips.setdefault(found[1], f"<clip-{len(self.clips) + 1}>"), named)

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                self.text(key): "<volatile>" if key in VOLATILE else self.value(item) for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return self.text(value) if isinstance(value, str) else value


def run_door(door: str, flow_case: Case, emu: RiffusionEmulator, wav: Path) -> Outcome:
    """``test_parity.run_door`` with Flow Music's setup and id-namer."""
    return run_parity_door(door, flow_case, emu, wav, stage_type=FlowStage, canon_type=FlowCanon)


def nothing(stage: Stage) -> Stage:
    return stage


def composed(stage: Stage) -> Stage:
    assert isinstance(stage, FlowStage)
    return stage.compose()


def flow(stage: Stage) -> FlowStage:
    assert isinstance(stage, FlowStage)
    return stage


def clip(n: int, **more: Any) -> dict[str, Any]:
    """A completed clip as ``get_songs`` gives it (the compose's prompt is its title)."""
    return {"id": f"<clip-{n}>", "title": "Ambient Drones", "status": "completed", "job_id": "<job_id>", **more}


SONGS = [clip(1), clip(2)]
SONGS_CALL = api("get_songs", "{job_id}")
WHAT = "the songs of job <job_id>"


# 1. Songs, jobs and accounts.
ENDPOINTS = [
    case("songs-completed", composed, SONGS_CALL, returns(SONGS, 200)),
    case("songs-pending", lambda stage: flow(stage.set(song_polls=5)).compose(), SONGS_CALL, returns([], 200)),
    case(
        "songs-failed-with-the-jobs-reason",
        lambda stage: flow(stage.set(song_final_status="failed")).compose(),
        SONGS_CALL,
        returns([{"id": "<job_id>", "status": "failed", "download_url": None, "error": FAILED_REASON}], 200),
    ),
    case(
        "songs-unknown-job",
        nothing,
        api("get_songs", UNKNOWN_JOB),
        raises(exc.RiffusionNotFoundError, rf"does not know the songs of job {UNKNOWN_JOB} \(HTTP 404\): Job", 404),
    ),
    # ':' and '@' must arrive percent-encoded (the emulator answers 400 to a bare one) and '/' must not split the
    # path: the 404 names the whole id, so it arrived as one segment.
    case(
        "songs-id-with-colon-at-slash",
        nothing,
        api("get_songs", "job:a/b@c"),
        raises(exc.RiffusionNotFoundError, r"\(HTTP 404\): Job job:a/b@c not found", 404),
    ),
    case(
        "songs-explicit-account-sends-none",
        composed,
        api("get_songs", "{job_id}", ANA),  # a job names its account: GET jobs/{jobid} takes no email
        returns(SONGS, 200),
    ),
    case("stop-job", composed, api("stop_job", "{job_id}"), returns(True, 204)),
    case("stop-job-unknown", nothing, api("stop_job", UNKNOWN_JOB), returns(False, 404)),
    case("stop-job-twice", lambda stage: composed(stage).stop(), api("stop_job", "{job_id}"), returns(False, 404)),
    case("stop-job-id-with-colon-at-slash", nothing, api("stop_job", "job:a/b@c"), returns(False, 404)),
    case(
        "call-stop-job-unknown",
        nothing,
        api("call", "stop_job", job_id=UNKNOWN_JOB),
        raises(exc.RiffusionNotFoundError, rf"does not know stopping job {UNKNOWN_JOB} \(HTTP 404\)", 404),
    ),
    case(
        "call-accounts",
        nothing,
        api("call", "accounts"),
        returns({email: {"email": email, "maxJobs": 3} for email in EMAILS}, 200),
    ),
    case("call-slots", nothing, api("call", "slots"), returns({"running": {}}, 200)),
    case(
        "call-upload-status-is-no-operation",
        nothing,
        api("call", "upload_status", id="x"),
        raises(exc.RiffusionInputError, r"The Flow Music API .* has no operation 'upload_status'"),
    ),
]

# 2. The waits.
WAITS = [
    # Ready when it answered: no request at all, on either door.
    case(
        "upload-wait-ends-without-a-request",
        lambda stage: flow(stage).upload(),
        check(UploadWait, "{asset}"),
        Returns(value={"job_id": "<asset>", "audio_upload_id": "<asset>", "status": "complete"}, statuses=()),
    ),
    # What a retried upload task reads of its stored upload (operators/upload_audio.py): ready, without a request.
    case(
        "upload-status-ready-without-a-request",
        lambda stage: flow(stage).upload(),
        api("get_upload_status", "{asset}"),
        Returns(value={"job_id": "<asset>", "audio_upload_id": "<asset>", "status": "complete"}, statuses=()),
    ),
    case(
        "upload-status-empty-id",
        nothing,
        api("get_upload_status", "None"),
        raises(exc.RiffusionInputError, r"job_id is empty \('None'\)"),
    ),
    case(
        "upload-wait-unknown-id-ends-without-a-request",
        nothing,
        check(UploadWait, "user:777-asset:never-uploaded"),
        Returns(value={"status": "complete", "is_flagged": False, "response": {}}, statuses=()),
    ),
    case(
        "upload-wait-cannot-check-the-flag-without-the-upload",
        nothing,
        check(UploadWait, "user:777-asset:never-uploaded", fail_on_flagged=True),
        raises(exc.RiffusionInputError, r"fail_on_flagged cannot be checked here: the Flow Music API has no upload"),
    ),
    case("songs-wait-completed", composed, check(SongsWait, "{job_id}"), returns(SONGS, 200)),
    case(
        "songs-wait-pending",
        lambda stage: flow(stage.set(song_polls=5)).compose(),
        check(SongsWait, "{job_id}"),
        returns(None, 200, logged=r"Compose job <job_id>: status"),
    ),
    case(
        "songs-wait-failed-with-the-jobs-reason",
        lambda stage: flow(stage.set(song_final_status="failed")).compose(),
        check(SongsWait, "{job_id}"),
        raises(
            exc.RiffusionSongFailedError,
            rf"Compose job <job_id>: song\(s\) \['<job_id>'\] failed upstream \({FAILED_REASON}\)",
            200,
        ),
    ),
    case(
        "songs-wait-unknown-job",
        nothing,
        check(SongsWait, UNKNOWN_JOB),
        raises(exc.RiffusionNotFoundError, r"does not know the songs of job", 404),
    ),
    case(
        "songs-wait-two-jobs",
        lambda stage: composed(stage).compose("job_id_2"),
        check(SongsWait, ["{job_id}", "{job_id_2}"]),
        returns([clip(1), clip(2), clip(3, job_id="<job_id_2>"), clip(4, job_id="<job_id_2>")], 200, 200),
    ),
]


# 3. Free slots: two accounts of maxJobs 2; the connection's default (bo) runs 2 jobs, ana none.
def default_account_busy(shape: str) -> Setup:
    return lambda stage: flow(stage.set(free_slots=2, flowmusic_jobs_shape=shape)).compose("busy_1").compose("busy_2")


def one_running(shape: str) -> Setup:
    """bo runs one job of its 2: bo 1 free, ana 2."""
    return lambda stage: flow(stage.set(free_slots=2, flowmusic_jobs_shape=shape)).compose("busy_1")


ANA_IN_ERROR = {ANA: {"email": ANA, "maxJobs": 2, "error": "refresh_token expired"}, BO: {"email": BO, "maxJobs": 2}}


def ana_in_error(shape: str) -> Setup:
    return lambda stage: one_running(shape)(stage).fault(ACCOUNTS, status=200, body=ANA_IN_ERROR)


def slot_cases(shape: str) -> list[Any]:
    return [
        case(
            f"slots-{shape}-default-account-busy", default_account_busy(shape), api("free_slots"), returns(0, 200, 200)
        ),
        case(
            f"slots-{shape}-wait-default-account-busy",
            default_account_busy(shape),
            check(SlotWait),
            returns(None, 200, 200, logged="Free job slots: status 0"),
        ),
        case(
            f"slots-{shape}-explicit-account", default_account_busy(shape), api("free_slots", ANA), returns(2, 200, 200)
        ),
        case(
            f"slots-{shape}-wait-explicit-account",
            default_account_busy(shape),
            check(SlotWait, ANA),
            returns(2, 200, 200),
        ),
        case(
            f"slots-{shape}-unknown-account",
            one_running(shape),
            api("free_slots", "cy@example.com"),
            returns(0, 200, 200),
        ),
        case(
            f"slots-{shape}-no-default-sums-all",
            one_running(shape),
            api("free_slots"),
            returns(3, 200, 200),
            user_id=None,
        ),
        case(
            f"slots-{shape}-account-in-error-has-none",
            ana_in_error(shape),
            api("free_slots", ANA),
            returns(0, 200, 200),
        ),
        case(
            f"slots-{shape}-account-in-error-left-out-of-the-sum",
            ana_in_error(shape),
            check(SlotWait),
            returns(1, 200, 200),
            user_id=None,
        ),
    ]


ACCOUNT = [*slot_cases("email"), *slot_cases("accounts"), *slot_cases("list")]


# 4. Hostile answers.
def job_answer(body: Any) -> Setup:
    return lambda stage: composed(stage).fault(JOB, status=200, body=body)


def jobs_answer(body: Any) -> Setup:
    return lambda stage: stage.fault(JOBS, status=200, body=body)


NOT_JSON = rf"answered {WHAT} with HTTP 200 but the body is not JSON"
COMPOSE_CALL = api("call", "compose", json={"prompt": "ambient drones", "mode": "async"})
"""A create call through the generic door (the triggerer never makes one; its parity is still owed)."""

ENDPOINT_CALLS: dict[str, tuple[tuple[str, str], Setup, Any, str]] = {
    "songs": (JOB, composed, SONGS_CALL, WHAT),
    "slots": (JOBS, nothing, api("free_slots"), "the running jobs"),
    "stop-job": (STOP, composed, api("call", "stop_job", job_id="{job_id}"), "stopping job <job_id>"),
}


def http_status_case(status: int, endpoint: str) -> Any:
    target, setup, call, what = ENDPOINT_CALLS[endpoint]
    what = re.escape(what)
    retried = f"\\(HTTP {status}\\) after {ATTEMPTS} attempts: Injected fault"
    expect: Expect = {
        400: raises(exc.RiffusionBadRequestError, rf"rejected {what} \(HTTP 400\): Injected fault: Bad Request", 400),
        401: raises(exc.RiffusionAuthError, rf"The Flow Music API refused the token for {what} \(HTTP 401\)", 401),
        404: raises(exc.RiffusionNotFoundError, rf"does not know {what} \(HTTP 404\): Injected fault: Not Found", 404),
        429: throttled(rf"Every Flow Music account is busy .*{retried}", retry_after=1.0),
        500: raises(exc.RiffusionServerError, rf"The Flow Music API failed on {what} {retried}", *[500] * ATTEMPTS),
        596: raises(
            exc.RiffusionAccountError, r"The Flow Music account is in an error state \(HTTP 596\).*POST accounts", 596
        ),
    }[status]
    headers = {"Retry-After": "1"} if status == 429 else None
    extra: dict[str, Any] = {"retry_max_delay": 0.2} if status == 429 else {}
    return case(
        f"hostile-{status}-{endpoint}",
        lambda stage: setup(stage).fault(target, status=status, headers=headers, times=1000),
        call,
        expect,
        **extra,
    )


HOSTILE = [
    case(
        "hostile-html-200",
        lambda stage: composed(stage).fault(JOB, kind="html", status=200),
        SONGS_CALL,
        raises(exc.RiffusionResponseError, rf"{NOT_JSON} \(text/html; charset=utf-8\)", 200),
    ),
    case(
        "hostile-non-json",
        lambda stage: composed(stage).fault(JOB, kind="malformed"),
        check(SongsWait, "{job_id}"),
        raises(exc.RiffusionResponseError, rf"{NOT_JSON} \(application/json\)", 200),
    ),
    case(
        "hostile-nested-past-the-limit",
        lambda stage: composed(stage).fault(JOB, kind="nested", size=33),
        SONGS_CALL,
        raises(exc.RiffusionResponseError, r"HTTP 200 but the JSON nests deeper than 32 levels", 200),
    ),
    case(
        "hostile-job-not-an-object",
        job_answer(["completed"]),
        SONGS_CALL,
        raises(exc.RiffusionResponseError, r"with list JSON, expected an object", 200),
    ),
    case(
        "hostile-clip-id-number",
        job_answer({"status": "completed", "clips": [{"clip": 7, "title": "t"}]}),
        SONGS_CALL,
        raises(exc.RiffusionResponseError, r"answered job <job_id> with a clip's id a JSON int, not an id string", 200),
    ),
    case(
        "hostile-clip-id-object",
        job_answer({"status": "completed", "clips": [{"clip": {"id": "x"}}]}),
        check(SongsWait, "{job_id}"),
        raises(
            exc.RiffusionResponseError, r"answered job <job_id> with a clip's id a JSON dict, not an id string", 200
        ),
    ),
    case(
        "hostile-completed-without-clips",
        job_answer({"status": "completed", "clips": {}}),
        SONGS_CALL,
        raises(
            exc.RiffusionResponseError, r"says job <job_id> completed, but its clips are .*not a list of clips", 200
        ),
    ),
    case(
        "hostile-unknown-status-word-waits",
        job_answer({"status": "rendering"}),
        check(SongsWait, "{job_id}"),
        returns(None, 200),
    ),
    case(
        "hostile-jobs-of-an-unknown-shape",
        jobs_answer({"running": 3}),
        api("free_slots"),
        raises(exc.RiffusionResponseError, r"GET jobs\), but the entry of an account is a number, not an object", 200),
    ),
    case(
        "hostile-jobs-entry-email-number",
        jobs_answer([{"jobid": "j", "email": 7}]),
        check(SlotWait),
        raises(exc.RiffusionResponseError, r"job 0 names no account email", 200),
    ),
    case(
        "hostile-jobs-count-negative",
        jobs_answer({"accounts": {BO: {"total": -2}}}),
        api("free_slots"),
        raises(exc.RiffusionResponseError, r"the running jobs of an account are negative \(-2\)", 200),
    ),
    case(
        "hostile-max-jobs-string",
        lambda stage: stage.fault(ACCOUNTS, status=200, body={BO: {"maxJobs": "3"}}),
        api("free_slots"),
        raises(exc.RiffusionResponseError, rf"the maxJobs of account '{BO}' \(GET accounts\) is a string", 200, 200),
    ),
    case(
        "hostile-compose-jobid-number",
        lambda stage: stage.fault(MUSIC, status=201, body={"jobid": 7, "status": "pending"}),
        COMPOSE_CALL,
        raises(exc.RiffusionUnconfirmedError, r"jobid a JSON int, not an id string.*Songs may have been started", 201),
    ),
    case(
        "hostile-compose-answer-lost",
        lambda stage: stage.fault(MUSIC, kind="drop_after_body"),
        COMPOSE_CALL,
        raises(exc.RiffusionUnconfirmedError, r"Lost the connection .* the compose request.*Songs may have been", 0),
    ),
    case(
        "hostile-429-all-accounts-busy",
        lambda stage: stage.set(free_slots=0),
        COMPOSE_CALL,
        throttled(r"busy .* after 3 attempts: All accounts are busy", retry_after=None),
        user_id=None,
    ),
    case(
        "hostile-429-all-accounts-busy-retry-after",
        lambda stage: stage.set(free_slots=0, flowmusic_retry_after=1),
        COMPOSE_CALL,
        throttled(rf"after 3 attempts: Account {BO} is busy: all its 0 job slots", retry_after=1.0),
        retry_max_delay=0.2,
    ),
    case(
        "hostile-429-without-retry-after",
        lambda stage: composed(stage).fault(JOB, status=429, times=1000),
        SONGS_CALL,
        throttled(r"\(HTTP 429\) after 3 attempts", retry_after=None),
    ),
    case(
        "hostile-596-names-the-account",
        lambda stage: composed(stage.set(account_error=False)).set(account_error=True),  # settings outlast reset()
        check(SongsWait, "{job_id}"),
        raises(exc.RiffusionAccountError, rf"\(HTTP 596\): Account {ANA} in error state: .*Re-add it", 596),
    ),
    case(
        "hostile-596-account-error-slots",
        lambda stage: stage.set(account_error=True),
        check(SlotWait),
        raises(exc.RiffusionAccountError, r"in an error state \(HTTP 596\)", 596),
    ),
    *(http_status_case(status, endpoint) for status in (400, 401, 404, 429, 500, 596) for endpoint in ENDPOINT_CALLS),
    case(
        "hostile-never-answers-in-time",
        lambda stage: composed(stage).fault(JOB, kind="hang", seconds=30, times=1000),
        SONGS_CALL,
        raises(exc.RiffusionNetworkError, rf"did not answer {WHAT} within 0.3 s after 2 attempts", 0, 0),
        timeout=0.3,
        max_attempts=2,
    ),
    case(
        "hostile-connection-dropped",
        lambda stage: composed(stage).fault(JOB, kind="drop", times=1000),
        SONGS_CALL,
        raises(exc.RiffusionNetworkError, rf"Lost the connection to .* during {WHAT}", 0, 0, 0),
    ),
    case(
        "hostile-answer-lost-then-ok",
        lambda stage: composed(stage).fault(JOB, kind="drop_after_body"),
        SONGS_CALL,
        returns(SONGS, 0, 200),
    ),
    case(
        "hostile-echoed-token-500",
        lambda stage: composed(stage).fault(JOB, status=500, body={"error": f"bad Bearer {TOKEN}"}, times=1000),
        SONGS_CALL,
        raises(exc.RiffusionServerError, r"after 3 attempts: bad Bearer \*\*\*", 500, 500, 500),
    ),
    case(
        "hostile-echoed-token-cut",
        lambda stage: composed(stage).fault(JOB, status=400, body={"error": "y" * 190 + TOKEN + " and more"}),
        check(SongsWait, "{job_id}"),
        raises(exc.RiffusionBadRequestError, r"\(HTTP 400\): y{190}\*\*\*", 400),
    ),
    case(
        "hostile-echoed-token-in-jobs",
        jobs_answer({"accounts": {BO: TOKEN}}),
        api("free_slots"),
        raises(exc.RiffusionResponseError, r"the entry of an account is a string, not an object", 200),
    ),
]

CASES = [*ENDPOINTS, *WAITS, *ACCOUNT, *HOSTILE]


# -- the test --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("parity-flowmusic") / "parity take.wav")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RiffusionEmulator]:
    """Flow Music with two accounts, answering at once (a job ends on its first poll)."""
    with RiffusionEmulator(token=TOKEN, service="flowmusic", emails=EMAILS, song_polls=0) as emulator:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{SETUP_CONN.upper()}", connection_json(emulator.base_url, user_id=DEFAULT_ACCOUNT, **FLOW)
        )
        yield emulator


def test_every_case_is_named_once() -> None:
    ids = [param.id for param in CASES]
    assert len(ids) == len(set(ids)), sorted(name for name in ids if ids.count(name) > 1)


@pytest.mark.parametrize("case", CASES)
def test_both_doors_give_one_outcome_on_flow_music(
    case: Case,
    server: RiffusionEmulator,
    wav: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    extra = {"user_id": DEFAULT_ACCOUNT, **FLOW, **case.extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{DOOR_CONN.upper()}", connection_json(server.base_url, **extra))

    with caplog.at_level(logging.WARNING):
        sync = run_door("sync", case, server, wav)
        deferred = run_door("async", case, server, wav)
    request.node.user_properties += [("sync", sync.summary()), ("async", deferred.summary())]

    assert sync == deferred, "RiffusionHook and RiffusionAsyncHook disagree"
    case.expect.verify(sync)
    case.expect.verify(deferred)
    assert all(path.startswith("/v1/flowmusic/") for _, path, _, _ in sync.requests), sync.requests
    printed = capsys.readouterr()
    assert not shows_token(caplog.text + printed.out + printed.err)
