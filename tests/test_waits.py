"""The waits (``waits.py``): the poller (blips, deadline, pause, status log, floor) and what each check means."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_riffusion import exceptions as exc
from airflow_provider_riffusion.services import riffusion
from airflow_provider_riffusion.waits import (
    Outcome,
    Poller,
    SongsWait,
    UploadWait,
    floored_interval,
    min_poll_interval,
    wait,
)


class RecordingLog:
    """Stands in for a task's logger: keeps every call as (level, rendered message)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def info(self, message: str, *args: Any) -> None:
        self.calls.append(("info", message % args))

    def warning(self, message: str, *args: Any) -> None:
        self.calls.append(("warning", message % args))

    def at(self, level: str) -> list[str]:
        return [message for called, message in self.calls if called == level]


def poller(**kwargs: Any) -> Poller[Any]:
    return Poller("Upload job-1", log=RecordingLog(), **kwargs)


def log_of(poll: Poller[Any]) -> RecordingLog:
    assert isinstance(poll.log, RecordingLog)
    return poll.log


def blip() -> Exception:
    return exc.RiffusionServerError("HTTP 503", http_status=503)


NOT_READY: Outcome[Any] = Outcome()


# --- blips in a row ------------------------------------------------------------------------


def test_blips_up_to_the_limit_are_ridden_out_and_the_next_one_is_raised() -> None:
    poll = poller(max_consecutive_errors=3)
    errors = [blip() for _ in range(4)]

    assert [poll.observe(Outcome(error=error)) for error in errors[:3]] == [None, None, None]
    with pytest.raises(exc.RiffusionServerError) as raised:
        poll.observe(Outcome(error=errors[3]))

    assert raised.value is errors[3]
    assert log_of(poll).at("warning") == [
        f"Upload job-1: poll failed ({count} in a row, limit 3): HTTP 503" for count in (1, 2, 3)
    ]


@pytest.mark.parametrize("success", [Outcome(), Outcome("ready")], ids=["not-ready", "ready"])
def test_a_successful_poll_resets_the_blip_count(success: Outcome[Any]) -> None:
    poll = poller(max_consecutive_errors=2)
    poll.observe(Outcome(error=blip()))
    poll.observe(Outcome(error=blip()))

    poll.observe(success)

    assert poll.errors == 0
    assert poll.observe(Outcome(error=blip())) is None  # would be the third in a row without the reset
    assert poll.observe(Outcome(error=blip())) is None
    with pytest.raises(exc.RiffusionServerError):
        poll.observe(Outcome(error=blip()))


def test_blips_carried_over_count_towards_the_limit() -> None:
    poll = poller(max_consecutive_errors=2, errors=2)  # a rescheduled sensor's count so far

    with pytest.raises(exc.RiffusionServerError):
        poll.observe(Outcome(error=blip()))


def test_a_malformed_answer_is_a_blip() -> None:
    poll = poller(max_consecutive_errors=1)

    assert poll.observe(Outcome(error=exc.RiffusionResponseError("not JSON"))) is None
    assert poll.errors == 1


@pytest.mark.parametrize(
    "error",
    [
        exc.RiffusionBadRequestError("HTTP 400", http_status=400),
        exc.RiffusionUploadFailedError("Upload job-1 ended with status 'failed'"),
        exc.RiffusionUnconfirmedError("the answer was lost"),  # a response error, but fatal
        ValueError("a bug, not a blip"),
    ],
    ids=["bad-request", "upload-failed", "unconfirmed", "not-riffusion"],
)
def test_a_fatal_error_is_raised_at_once(error: Exception) -> None:
    poll = poller(max_consecutive_errors=5)

    with pytest.raises(type(error)) as raised:
        poll.observe(Outcome(error=error))

    assert raised.value is error
    assert poll.errors == 0
    assert log_of(poll).calls == []


def test_outcome_of_keeps_the_value_or_the_error() -> None:
    error = blip()

    def failing() -> Any:
        raise error

    assert Outcome.of(lambda: "ready") == Outcome("ready")
    assert Outcome.of(failing) == Outcome(error=error)


# --- the deadline and the pause ------------------------------------------------------------


def test_the_deadline_raises_a_wait_timeout() -> None:
    poll = poller(deadline=time.time() - 1)

    with pytest.raises(exc.RiffusionWaitTimeoutError) as raised:
        poll.observe(NOT_READY)

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("Upload job-1 did not finish before the wait's timeout")


def test_a_blip_after_the_deadline_is_a_wait_timeout() -> None:
    poll = poller(deadline=time.time() - 1, max_consecutive_errors=3)

    with pytest.raises(exc.RiffusionWaitTimeoutError):
        poll.observe(Outcome(error=blip()))


def test_before_the_deadline_a_pending_poll_waits_and_a_ready_one_returns() -> None:
    poll = poller(deadline=time.time() + 3600)

    assert poll.observe(NOT_READY) is None
    assert poll.observe(Outcome("ready")) == "ready"


def test_an_answer_that_is_ready_wins_over_a_passed_deadline() -> None:
    assert poller(deadline=time.time() - 1).observe(Outcome("ready")) == "ready"


def test_pause_is_the_interval_without_a_deadline_or_far_from_it() -> None:
    assert poller(poll_interval=7.5).pause() == 7.5
    assert poller(poll_interval=7.5, deadline=time.time() + 3600).pause() == 7.5


def test_pause_never_sleeps_past_the_deadline() -> None:
    poll = poller(poll_interval=60.0, deadline=time.time() + 2.0)

    pause = poll.pause()

    assert 0.0 < pause <= 2.0
    assert poller(poll_interval=60.0, deadline=time.time() - 5).pause() == 0.0


def test_wait_sleeps_the_pause_between_checks_and_returns_the_value() -> None:
    answers = iter([None, None, "ready"])
    sleeps: list[float] = []

    result = wait(poller(poll_interval=4.0), lambda: next(answers), sleep=sleeps.append)

    assert result == "ready"
    assert sleeps == [4.0, 4.0]


# --- the status log ------------------------------------------------------------------------


def test_note_logs_a_status_only_when_it_changes() -> None:
    poll = poller()

    for status in ["pending", "pending", "pending", "complete", "complete", "pending"]:
        poll.note("Upload job-1", status)

    assert log_of(poll).calls == [
        ("info", "Upload job-1: status 'pending'"),
        ("info", "Upload job-1: status 'complete'"),
        ("info", "Upload job-1: status 'pending'"),
    ]


def test_note_keeps_each_subjects_status_apart() -> None:
    poll = poller()

    poll.note("Compose job a", ["queued"])
    poll.note("Compose job b", ["queued"])
    poll.note("Compose job a", ["queued"])

    assert log_of(poll).at("info") == ["Compose job a: status ['queued']", "Compose job b: status ['queued']"]


# --- the floor on the interval -------------------------------------------------------------


def test_an_interval_below_the_floor_is_raised_to_it_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__RIFFUSION__MIN_POLL_INTERVAL", "2.5")
    log = RecordingLog()

    assert floored_interval(0.5, log, "poke_interval") == 2.5
    assert floored_interval(2.5, log, "poke_interval") == 2.5
    assert floored_interval(30.0, log, "poke_interval") == 30.0
    assert log.calls == [("warning", "poke_interval=0.5 s is below the floor of 2.5 s: polling every 2.5 s.")]


@pytest.mark.parametrize(("configured", "floor"), [(None, 1.0), ("0.25", 0.25), ("0", 1.0), ("-3", 1.0)])
def test_the_floor_comes_from_the_config_and_is_never_zero(
    monkeypatch: pytest.MonkeyPatch, configured: str | None, floor: float
) -> None:
    if configured is None:
        monkeypatch.delenv("AIRFLOW__RIFFUSION__MIN_POLL_INTERVAL", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__RIFFUSION__MIN_POLL_INTERVAL", configured)

    assert min_poll_interval() == floor


# --- UploadWait --------------------------------------------------------------------------


class Answers:
    """Stands in for a hook: each read answers the next canned value (the checks' I/O is the hooks', tested
    over HTTP in tests/hooks/test_parity.py)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.reads: list[tuple[str, tuple[Any, ...]]] = []
        self.settings = type("Settings", (), {"service": riffusion})()

    def __getattr__(self, name: str) -> Any:
        def read(*arguments: Any) -> Any:
            self.reads.append((name, arguments))
            return self.answers.pop(0)

        return read


def upload_status(word: str, *, is_flagged: bool = False) -> dict[str, Any]:
    return {"job_id": "job-1", "status": word, "is_flagged": is_flagged, "lyrics": "la la"}


def upload_check(status: dict[str, Any], poll: Poller[Any], *, fail_on_flagged: bool) -> Any:
    return UploadWait("job-1", fail_on_flagged=fail_on_flagged).check(Answers(status), poll)  # type: ignore[arg-type]


@pytest.mark.parametrize("word", ["pending", "", "processing", "queued"])
def test_an_upload_is_not_ready_while_pending(word: str) -> None:
    poll = poller()

    assert upload_check(upload_status(word), poll, fail_on_flagged=True) is None
    assert log_of(poll).calls == [("info", f"Upload job-1: status {word!r}")]


@pytest.mark.parametrize("word", ["complete", "completed", " Complete "])
def test_an_upload_is_its_status_once_complete(word: str) -> None:
    status = upload_status(word)
    poll = poller()

    assert upload_check(status, poll, fail_on_flagged=False) is status
    assert log_of(poll).at("warning") == []


@pytest.mark.parametrize("word", ["failed", "error", "cancelled", "canceled", "FAILED"])
def test_an_upload_fails_at_once_on_a_failed_word(word: str) -> None:
    with pytest.raises(exc.RiffusionUploadFailedError) as raised:
        upload_check(upload_status(word), poller(), fail_on_flagged=False)

    message = str(raised.value)
    assert "\n" not in message
    assert f"Upload job-1 ended with status {word!r}" in message


def test_an_upload_takes_an_unknown_word_as_ready_with_a_warning() -> None:
    status = upload_status("transcribed")
    poll = poller()

    assert upload_check(status, poll, fail_on_flagged=False) is status
    [warning] = log_of(poll).at("warning")
    assert warning.startswith("Upload job-1 reports status 'transcribed', which the docs do not name")


def test_a_flagged_upload_fails_only_when_asked() -> None:
    flagged = upload_status("complete", is_flagged=True)

    assert upload_check(flagged, poller(), fail_on_flagged=False) is flagged
    with pytest.raises(exc.RiffusionUploadFailedError, match=r"Upload job-1 is flagged \(is_flagged=true"):
        upload_check(flagged, poller(), fail_on_flagged=True)
    assert upload_check(upload_status("complete"), poller(), fail_on_flagged=True) is not None


# --- SongsWait -----------------------------------------------------------------------------


def song(song_id: str, status: str) -> dict[str, Any]:
    return {"status": status, "download_url": f"https://cdn/{song_id}.mp3", "id": song_id, "duration_s": 30}


def test_the_songs_wait_fails_at_once_on_a_failed_song_naming_it() -> None:
    with pytest.raises(exc.RiffusionSongFailedError) as raised:
        SongsWait(["job-a"]).check(Answers([song("s-ok", "queued"), song("s-bad", "failed")]), poller())  # type: ignore[arg-type]

    message = str(raised.value)
    assert "\n" not in message
    assert "Compose job job-a" in message
    assert "['s-bad']" in message
    assert "s-ok" not in message


def test_the_songs_wait_is_ready_only_when_every_song_is_done() -> None:
    songs_wait = SongsWait(["job-a"])

    assert songs_wait.check(Answers([]), poller()) is None  # type: ignore[arg-type]  # no songs yet
    pending = [song("s1", "completed"), song("s2", "generating_audio")]
    assert songs_wait.check(Answers(pending), poller()) is None  # type: ignore[arg-type]
    done = [song("s1", "completed"), song("s2", "completed")]
    assert [entry["id"] for entry in songs_wait.check(Answers(done), poller()) or []] == ["s1", "s2"]  # type: ignore[arg-type]


def test_the_songs_wait_reads_each_job_stops_at_a_pending_one_and_summarizes_the_songs() -> None:
    songs_wait = SongsWait(["job-a", "job-b"], "acct-1")
    stopped = Answers([song("job-a-1", "queued")])
    assert songs_wait.check(stopped, poller()) is None  # type: ignore[arg-type]
    assert stopped.reads == [("get_songs", ("job-a", "acct-1"))]

    answers = Answers([song("job-a-1", "completed")], [song("job-b-1", "completed")])
    songs = songs_wait.check(answers, poller())  # type: ignore[arg-type]

    assert answers.reads == [("get_songs", ("job-a", "acct-1")), ("get_songs", ("job-b", "acct-1"))]
    assert songs is not None
    assert [entry["id"] for entry in songs] == ["job-a-1", "job-b-1"]
    assert list(songs[0])[:4] == ["id", "title", "status", "download_url"]
    assert songs[0]["duration_s"] == 30


def test_the_songs_wait_logs_each_jobs_statuses_when_they_change() -> None:
    poll = poller()
    songs_wait = SongsWait(["job-a"])

    for answer in ([], [], [song("s1", "queued")]):
        songs_wait.check(Answers(answer), poll)  # type: ignore[arg-type]

    assert log_of(poll).at("info") == [
        "Compose job job-a: status 'not created yet'",
        "Compose job job-a: status ['queued']",
    ]


@pytest.mark.parametrize("job_ids", [[], "", ["job-a", "None"], None])
def test_the_songs_wait_refuses_an_empty_id_before_any_read(job_ids: Any) -> None:
    with pytest.raises(exc.RiffusionInputError, match="job_ids is empty"):
        SongsWait(job_ids)


def test_an_upload_of_a_service_that_processes_none_is_ready_without_a_read() -> None:
    service = type("ReadyOnAnswer", (), {"UPLOADS_PROCESS": False})()
    answers = Answers()
    answers.settings = type("Settings", (), {"service": service})()

    status = UploadWait("asset-1").check(answers, poller())  # type: ignore[arg-type]

    assert status is not None and status["status"] == "complete" and status["audio_upload_id"] == "asset-1"
    assert answers.reads == []
