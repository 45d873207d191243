"""An Airflow connection -> validated settings (``settings.py``): token, base URL, extras, and the token kept out."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_riffusion.exceptions import RiffusionConnectionConfigError, RiffusionError
from airflow_provider_riffusion.retry import RetryPolicy
from airflow_provider_riffusion.services.riffusion import DEFAULT_BASE_URL
from airflow_provider_riffusion.settings import (
    DEFAULT_TIMEOUT,
    RiffusionSettings,
    normalize_base_url,
    settings_from_connection,
)

TOKEN = "tok-SECRET-5d1f0c7a9e"


# --- settings_from_connection --------------------------------------------------------------


def settings(host: str | None = None, extra: dict[str, Any] | None = None, **kwargs: Any) -> RiffusionSettings:
    return settings_from_connection("riffusion_default", TOKEN, host, extra or {}, **kwargs)


def assert_config_error(excinfo: pytest.ExceptionInfo[RiffusionConnectionConfigError], *fragments: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    assert "riffusion_default" in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("password", [None, "", "   "])
def test_no_token_refused(password: str | None) -> None:
    with pytest.raises(RiffusionConnectionConfigError) as excinfo:
        settings_from_connection("riffusion_default", password, None, {})
    assert_config_error(excinfo, "has no API token: put the useapi.net token in its password field")


def test_token_is_stripped() -> None:
    assert settings_from_connection("c", f"  {TOKEN}\n", None, {}).token == TOKEN


def test_defaults() -> None:
    result = settings()
    assert result.base_url == DEFAULT_BASE_URL == "https://api.useapi.net/v1/riffusion"
    assert result.user_id is None
    assert result.timeout == DEFAULT_TIMEOUT
    assert result.retry == RetryPolicy()


@pytest.mark.parametrize("host", [None, "", "   "])
def test_empty_host_means_the_public_api(host: str | None) -> None:
    assert settings(host).base_url == DEFAULT_BASE_URL


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("http://127.0.0.1:8765/v1/riffusion/", "http://127.0.0.1:8765/v1/riffusion"),
        ("http://127.0.0.1:8765/v1/riffusion", "http://127.0.0.1:8765/v1/riffusion"),
        ("http://localhost:8765", "http://localhost:8765"),
        ("http://[::1]:8765/riffusion/", "http://[::1]:8765/riffusion"),
        ("https://api.useapi.net/v1/riffusion/", "https://api.useapi.net/v1/riffusion"),
        ("https://proxy.example.com:8443/riffusion", "https://proxy.example.com:8443/riffusion"),
        ("https://10.1.2.3/", "https://10.1.2.3"),
    ],
)
def test_accepted_hosts(host: str, base_url: str) -> None:
    assert settings(host).base_url == base_url


@pytest.mark.parametrize("host", ["http://proxy.internal:8080/v1/riffusion", "http://10.1.2.3/riffusion"])
def test_plain_http_to_non_loopback_refused(host: str) -> None:
    with pytest.raises(RiffusionConnectionConfigError) as excinfo:
        settings(host)
    assert_config_error(excinfo, "https", "allow_insecure_http")


@pytest.mark.parametrize("flag", ["true", "True", "1", "yes", True])
@pytest.mark.parametrize("prefix", ["", "extra__riffusion__"])
def test_plain_http_allowed_when_the_extra_says_so(flag: Any, prefix: str) -> None:
    host = "http://proxy.internal:8080/v1/riffusion/"
    extra = {f"{prefix}allow_insecure_http": flag}
    assert settings(host, extra).base_url == "http://proxy.internal:8080/v1/riffusion"


@pytest.mark.parametrize("flag", ["false", "0", "", False])
def test_plain_http_still_refused_when_the_extra_is_false(flag: Any) -> None:
    with pytest.raises(RiffusionConnectionConfigError):
        settings("http://proxy.internal:8080", {"allow_insecure_http": flag})


@pytest.mark.parametrize(
    ("host", "hint"),
    [
        ("api.useapi.net", "http(s)://host[:port]/path"),
        ("api.useapi.net/v1/riffusion", "http(s)://host[:port]/path"),
        ("ftp://x", "http(s)://host[:port]/path"),
        ("http://", "http(s)://host[:port]/path"),
        ("https:///v1/riffusion", "http(s)://host[:port]/path"),
        ("http://host:notaport/", "invalid port"),
        ("https://host:99999/", "invalid port"),
        ("https://host/v1?token=x", "query or fragment"),
        ("https://host/v1#frag", "query or fragment"),
    ],
)
def test_malformed_hosts_refused(host: str, hint: str) -> None:
    with pytest.raises(RiffusionConnectionConfigError) as excinfo:
        normalize_base_url("riffusion_default", host)
    assert_config_error(excinfo, repr(host), hint)


@pytest.mark.parametrize("prefix", ["", "extra__riffusion__"])
def test_extras_are_honoured(prefix: str) -> None:
    extra = {
        f"{prefix}user_id": " user-7 ",
        f"{prefix}timeout": "12.5",
        f"{prefix}max_attempts": "4",
        f"{prefix}retry_min_delay": 0.25,
        f"{prefix}retry_max_delay": "3",
    }
    result = settings(None, extra)
    assert result.user_id == "user-7"
    assert result.timeout == 12.5
    assert result.retry == RetryPolicy(max_attempts=4, min_delay=0.25, max_delay=3.0)
    assert isinstance(result.retry.max_attempts, int)


def test_plain_extra_wins_over_the_prefixed_one() -> None:
    result = settings(None, {"timeout": 5, "extra__riffusion__timeout": 9})
    assert result.timeout == 5.0


def test_empty_plain_extra_falls_back_to_the_prefixed_one() -> None:
    result = settings(None, {"user_id": "", "extra__riffusion__user_id": "legacy-user"})
    assert result.user_id == "legacy-user"


@pytest.mark.parametrize(
    ("name", "value"), [("timeout", "fast"), ("max_attempts", "many"), ("retry_max_delay", [1]), ("timeout", "-1")]
)
def test_bad_numbers_refused(name: str, value: Any) -> None:
    with pytest.raises(RiffusionConnectionConfigError) as excinfo:
        settings(None, {name: value})
    assert_config_error(excinfo, name, repr(value))


def test_arguments_override_extras() -> None:
    extra = {"timeout": 30, "max_attempts": 9, "retry_min_delay": 2, "retry_max_delay": 20}
    result = settings(None, extra, request_timeout=3, max_attempts=1, min_delay=0, max_delay=0.5)
    assert result.timeout == 3.0
    assert result.retry == RetryPolicy(max_attempts=1, min_delay=0.0, max_delay=0.5)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"retry_min_delay": 60}, "0 <= retry_min_delay <= retry_max_delay"),
        ({"retry_min_delay": 5, "retry_max_delay": 1}, "0 <= retry_min_delay <= retry_max_delay"),
        ({"max_attempts": 0}, "set max_attempts >= 1"),
    ],
)
def test_inconsistent_retry_extras_are_a_connection_error(extra: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RiffusionConnectionConfigError) as excinfo:
        settings(None, extra)
    assert_config_error(excinfo, fragment)


# --- RiffusionSettings ---------------------------------------------------------------------


def test_token_never_in_repr() -> None:
    result = settings("https://proxy.example.com", {"user_id": "u1"})
    assert TOKEN not in repr(result)
    assert TOKEN not in str(result)
    assert "base_url='https://proxy.example.com'" in repr(result) and "user_id='u1'" in repr(result)


def test_url_joins_paths() -> None:
    result = settings("http://127.0.0.1:8765/v1/riffusion/")
    assert result.url("music/upload-audio/") == "http://127.0.0.1:8765/v1/riffusion/music/upload-audio/"
    assert result.url("/accounts") == "http://127.0.0.1:8765/v1/riffusion/accounts"


def test_scrub_replaces_the_token_in_every_argument() -> None:
    result = settings()
    error = RiffusionError(f"GET https://x/?token={TOKEN} failed")
    error.args = (*error.args, f"Bearer {TOKEN}")

    assert result.scrub(error) is error
    assert all(TOKEN not in str(arg) for arg in error.args)
    assert error.args[0] == "GET https://x/?token=*** failed"
    assert "***" in str(error.args[1])


def test_scrub_leaves_clean_errors_alone() -> None:
    error = RiffusionError("nothing secret here")
    assert settings().scrub(error).args == ("nothing secret here",)


@pytest.mark.parametrize(
    ("host", "port", "schema", "expected"),
    [
        ("127.0.0.1", 8765, "v1/riffusion", "http://127.0.0.1:8765/v1/riffusion"),
        ("localhost", None, "/v1/riffusion/", "http://localhost/v1/riffusion"),
        ("::1", 8765, "v1/riffusion", "http://[::1]:8765/v1/riffusion"),
        ("proxy.example.com", 8443, "v1/riffusion", "https://proxy.example.com:8443/v1/riffusion"),
        ("http://127.0.0.1:9000/v1/riffusion", 1234, "ignored", "http://127.0.0.1:9000/v1/riffusion"),
    ],
)
def test_a_bare_host_takes_the_port_and_the_schema_as_the_uri_form_gives_them(
    host: str, port: int | None, schema: str, expected: str
) -> None:
    assert normalize_base_url("riffusion_default", host, port=port, schema=schema) == expected


def test_a_bare_host_without_a_path_is_refused_with_the_uri_form_that_works() -> None:
    with pytest.raises(RiffusionConnectionConfigError) as excinfo:
        normalize_base_url("riffusion_default", "127.0.0.1", port=8765, schema="")
    assert_config_error(excinfo, "'127.0.0.1'", "riffusion://:TOKEN@host:port/path")


@pytest.mark.parametrize("name", [None, "", "riffusion", " Riffusion "])
def test_the_service_is_riffusion_unless_the_connection_names_another(name: str | None) -> None:
    result = settings(None, {} if name is None else {"service": name})
    assert result.service.NAME == "riffusion"
    assert result.base_url == DEFAULT_BASE_URL


def test_an_unknown_service_is_refused_naming_the_ones_there_are() -> None:
    with pytest.raises(RiffusionConnectionConfigError) as raised:
        settings(None, {"service": "suno"})
    assert str(raised.value) == (
        "Connection 'riffusion_default' service='suno' is not a service this provider knows: use one of riffusion, "
        "flowmusic (or leave it empty for riffusion)."
    )


@pytest.mark.parametrize("given", ["flowmusic", " FlowMusic "])
def test_flow_music_is_chosen_by_the_extra_and_its_host_follows(given: str) -> None:
    result = settings(None, {"service": given})
    assert result.service.NAME == "flowmusic"
    assert result.base_url == "https://api.useapi.net/v1/flowmusic"


@pytest.mark.parametrize(
    ("host", "extra", "other"),
    [
        ("https://api.useapi.net/v1/riffusion", {"service": "flowmusic"}, "riffusion"),
        ("https://api.useapi.net/v1/flowmusic", {}, "flowmusic"),
    ],
)
def test_a_host_of_the_other_service_is_refused_saying_what_to_change(
    host: str, extra: dict[str, str], other: str
) -> None:
    with pytest.raises(RiffusionConnectionConfigError) as raised:
        settings(host, extra)
    message = str(raised.value)
    assert f"its host {host} is the {other} API: clear the host" in message
    assert f"or set service to {other!r}" in message and "\n" not in message
