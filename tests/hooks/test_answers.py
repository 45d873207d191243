"""What an answer means: JSON decoding that survives hostile bodies, and every error status classified
(``client/answers.py``)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_riffusion.exceptions import (
    RiffusionAccountError,
    RiffusionAuthError,
    RiffusionBadRequestError,
    RiffusionCreditsError,
    RiffusionError,
    RiffusionModerationError,
    RiffusionNotFoundError,
    RiffusionRateLimitError,
    RiffusionResponseError,
    RiffusionServerError,
    RiffusionSubscriptionError,
    RiffusionTransientError,
    RiffusionUnexpectedStatusError,
)
from airflow_provider_riffusion.hooks.answers import decode_json, error_from_response

HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
TAG = re.compile(r"<[^>]+>")


# --- decode_json ---------------------------------------------------------------------------


def test_decode_json_parses_json() -> None:
    assert decode_json(200, {"content-type": "application/json"}, b'{"jobs": [{"id": "a"}]}', "x") == {
        "jobs": [{"id": "a"}]
    }


def test_decode_json_html_body_is_a_one_line_response_error_without_tags() -> None:
    with pytest.raises(RiffusionResponseError) as excinfo:
        decode_json(200, {"content-type": "text/html"}, HTML_502.encode(), "the upload")
    message = str(excinfo.value)
    assert not TAG.search(message)
    assert "\n" not in message
    assert "\r" not in message
    assert "text/html" in message
    assert "502 Bad Gateway" in message
    assert "host" in message  # what to fix
    assert excinfo.value.http_status == 200


def test_decode_json_bounds_a_huge_body() -> None:
    with pytest.raises(RiffusionResponseError) as excinfo:
        decode_json(200, {}, b"x" * 100_000, "the upload")
    assert len(str(excinfo.value)) < 1000
    assert "unknown content type" in str(excinfo.value)


# --- error_from_response -------------------------------------------------------------------

ERROR_CASES = [
    (400, {"error": "Parameter prompt_1 is required", "code": 400}, RiffusionBadRequestError, True),
    (401, {"error": "Unauthorized", "code": 401}, RiffusionAuthError, True),
    (402, {"error": "Subscription expired"}, RiffusionSubscriptionError, True),
    (404, {"error": "Job not found", "code": 404}, RiffusionNotFoundError, True),
    (412, {"error": "Insufficient credits", "code": 412}, RiffusionCreditsError, True),
    (422, {"is_flagged": True, "reason": "moderation"}, RiffusionModerationError, True),
    (429, {"error": "All job slots are busy", "code": 429}, RiffusionRateLimitError, False),
    (500, {"error": "Internal server error"}, RiffusionServerError, False),
    (502, {"error": "Bad gateway"}, RiffusionServerError, False),
    (503, {"error": "Service unavailable", "code": 503}, RiffusionServerError, False),
    (
        596,
        {"error": "Your Riffusion account has pending error. Please update the cookie."},
        RiffusionAccountError,
        True,
    ),
]


@pytest.mark.parametrize(
    ("status", "body", "cls", "fatal"), [pytest.param(*case, id=str(case[0])) for case in ERROR_CASES]
)
def test_error_from_response(status: int, body: dict[str, Any], cls: type[RiffusionError], fatal: bool) -> None:
    error = error_from_response(status, json.dumps(body), "the upload")

    assert type(error) is cls
    assert isinstance(error, AirflowException)
    assert error.http_status == status
    assert error.api_error == (body.get("error") or body.get("reason"))
    assert isinstance(error, AirflowFailException) is fatal
    assert isinstance(error, RiffusionTransientError) is not fatal
    message = str(error)
    assert "\n" not in message
    assert f"HTTP {status}" in message


@pytest.mark.parametrize(
    ("status", "hints"),
    [
        (400, ["Fix the parameter"]),
        (401, ["password", "API token"]),
        (402, ["Renew"]),
        (404, ["id", "user_id"]),
        (412, ["credits"]),
        (422, ["prompt or lyrics"]),
        (429, ["Retry later"]),
        (503, ["transient"]),
        (596, ["Re-register", "POST accounts"]),
    ],
)
def test_error_messages_say_what_to_do(status: int, hints: list[str]) -> None:
    message = str(error_from_response(status, '{"error": "x"}', "the upload"))
    for hint in hints:
        assert hint in message


def test_html_502_from_a_proxy() -> None:
    error = error_from_response(502, HTML_502, "the upload status request")

    assert type(error) is RiffusionServerError
    assert not isinstance(error, AirflowFailException)
    assert error.http_status == 502
    assert error.api_error == "502 Bad Gateway 502 Bad Gateway nginx"
    message = str(error)
    assert not TAG.search(message)
    assert "\n" not in message
    assert "\r" not in message


def test_long_error_body_is_cut() -> None:
    error = error_from_response(500, "<p>" + "boom " * 500 + "</p>", "the upload")
    assert error.api_error is not None
    assert len(error.api_error) <= 203
    assert error.api_error.endswith("...")


def test_empty_error_body() -> None:
    error = error_from_response(503, "", "the upload")
    assert type(error) is RiffusionServerError
    assert error.api_error is None
    assert str(error).endswith("the task can be retried.")


def test_attempts_are_reported_for_transient_errors() -> None:
    assert "after 4 attempts" in str(error_from_response(429, "{}", "the compose request", attempts=4))
    assert "after 3 attempts" in str(error_from_response(503, "{}", "the upload", attempts=3))
    assert "attempts" not in str(error_from_response(503, "{}", "the upload"))


@pytest.mark.parametrize("status", [403, 405, 409, 413, 418, 408, 301, 302])
def test_an_undocumented_status_is_fatal_and_named(status: int) -> None:
    error = error_from_response(status, '{"error": "teapot"}', "the upload")
    assert type(error) is RiffusionUnexpectedStatusError
    assert isinstance(error, AirflowFailException)  # Airflow's task retries would not change it
    assert not isinstance(error, RiffusionTransientError)
    assert error.http_status == status
    assert error.api_error == "teapot"
    assert f"HTTP {status}" in str(error)


def test_multi_line_api_error_still_gives_a_one_line_message() -> None:
    body = json.dumps({"error": "Your Riffusion account has pending error.\nPlease update the cookie."})
    error = error_from_response(596, body, "the upload")
    assert "\n" not in str(error)
    assert "\n" not in (error.api_error or "")
