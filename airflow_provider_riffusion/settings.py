"""Turn an Airflow connection into validated client settings.

Shared by the hook and the triggers, so a connection means the same thing on a worker and in
the triggerer. Every check fails with one line that says which field to fix.
"""

from __future__ import annotations

import ipaddress
import math
import unicodedata
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from airflow_provider_riffusion.exceptions import RiffusionConnectionConfigError, RiffusionInputError
from airflow_provider_riffusion.retry import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_DELAY,
    DEFAULT_MIN_DELAY,
    RetryPolicy,
)
from airflow_provider_riffusion.services import SERVICES, Service, get_service

DEFAULT_TIMEOUT = 60.0
DEFAULT_DOWNLOAD_MIN_RATE = 64 * 1024
"""Bytes a second a download must at least keep up: its body is due within ``timeout`` plus its size at this rate."""

E = TypeVar("E", bound=BaseException)

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class RiffusionSettings:
    """Everything a client needs to talk to the API; the token never appears in ``repr``."""

    base_url: str
    token: str = field(repr=False)
    user_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    download_min_rate: float = DEFAULT_DOWNLOAD_MIN_RATE
    service: Service = field(default_factory=lambda: get_service(None), repr=False, compare=False)
    """The API the connection talks to (extra ``service``): its module under ``services/``."""

    def url(self, path: str) -> str:
        """The full URL of an API path such as ``music/upload-audio/``."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def headers(self) -> dict[str, str]:
        """Every request's headers: the token, and plain (uncompressed) JSON answers."""
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json", "Accept-Encoding": "identity"}

    def redact(self, text: str) -> str:
        """``text`` with the token replaced, for text that is about to be cut or shown."""
        return text.replace(self.token, "***") if self.token and self.token in text else text

    def redact_bytes(self, body: bytes) -> bytes:
        """An answer's raw body with the token replaced, as soon as it is read: a traceback that shows each
        frame's locals (Airflow 3.0's console logs do) must not find an echoed token in any of them."""
        needle = self.token.encode() if self.token else b""
        return body.replace(needle, b"***") if needle and needle in body else body

    def scrub(self, error: E) -> E:
        """Belt and braces: no message (nor the API's ``error`` text kept beside it) leaves a client with the token."""
        if self.token and any(self.token in str(arg) for arg in error.args):
            error.args = tuple(self.redact(str(arg)) for arg in error.args)
        api_error = getattr(error, "api_error", None)
        if isinstance(api_error, str):
            error.api_error = self.redact(api_error)  # type: ignore[attr-defined]
        return error


CONN_TYPE = "riffusion"


def connection_settings(
    conn_id: str, conn: Any, extra: dict[str, Any], log: Any, **overrides: Any
) -> RiffusionSettings:
    """The settings of an Airflow connection, as the hook and the triggers both read it.

    A connection of another type still works when its fields fit (the URI form ``http://...`` makes
    one), but a warning names the type the form and the Test button belong to.
    """
    if conn.conn_type and conn.conn_type != CONN_TYPE:
        log.warning(
            "Connection '%s' is of type %r, not %r: it is read as a Riffusion connection; set its type to %r "
            "(Riffusion (useapi.net) in the UI) to get the right form and Test button.",
            conn_id,
            conn.conn_type,
            CONN_TYPE,
            CONN_TYPE,
        )
    return settings_from_connection(
        conn_id, conn.password, conn.host, extra, port=conn.port, schema=conn.schema, **overrides
    )


def missing_connection(conn_id: str) -> RiffusionConnectionConfigError:
    """The error for a connection id that is not defined, with the two ways to define it."""
    env = "AIRFLOW_CONN_" + "".join(char if char.isalnum() else "_" for char in conn_id).upper()
    return RiffusionConnectionConfigError(
        f"Connection '{conn_id}' is not defined: create it in the UI (type Riffusion (useapi.net), the token as "
        f"password), or run `airflow connections add {conn_id} --conn-type riffusion --conn-password YOUR_TOKEN`, "
        f'or set {env}=\'{{"conn_type": "riffusion", "password": "YOUR_TOKEN"}}\'.'
    )


def settings_from_connection(
    conn_id: str,
    password: str | None,
    host: str | None,
    extra: dict[str, Any],
    *,
    port: int | None = None,
    schema: str | None = None,
    request_timeout: float | None = None,
    max_attempts: int | None = None,
    min_delay: float | None = None,
    max_delay: float | None = None,
) -> RiffusionSettings:
    """Validate the connection fields; arguments given here override the connection's extras."""
    token = check_token(conn_id, password)
    service = _service(conn_id, _extra(extra, "service"))
    allow_http = _extra(extra, "allow_insecure_http")
    base_url = normalize_base_url(
        conn_id,
        host,
        allow_insecure_http=str(allow_http).lower() in _TRUE_WORDS,
        port=port,
        schema=schema,
        default=service.DEFAULT_BASE_URL,
    )
    other = next((name for name in SERVICES if name != service.NAME and base_url.endswith(f"/v1/{name}")), None)
    if other is not None:
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' says service={service.NAME!r} but its host {base_url} is the {other} API: clear "
            f"the host (an empty host means {service.DEFAULT_BASE_URL}), or set service to {other!r}."
        )
    user_id = _extra(extra, "user_id")
    attempts = _pick(conn_id, "max_attempts", max_attempts, _extra(extra, "max_attempts"), DEFAULT_MAX_ATTEMPTS)
    if not attempts.is_integer():
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' max_attempts={attempts:g} is not a whole number: give a count such as 5."
        )
    timeout = _pick(conn_id, "timeout", request_timeout, _extra(extra, "timeout"), DEFAULT_TIMEOUT)
    if timeout <= 0:
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' timeout={timeout:g} must be more than 0 seconds: set it to, for example, "
            f"{DEFAULT_TIMEOUT:g}, or remove it for the default."
        )
    min_rate = _pick(conn_id, "download_min_rate", _extra(extra, "download_min_rate"), DEFAULT_DOWNLOAD_MIN_RATE)
    if min_rate <= 0:
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' download_min_rate={min_rate:g} must be more than 0 bytes a second: set it to, "
            f"for example, {DEFAULT_DOWNLOAD_MIN_RATE}, or remove it for the default."
        )
    try:
        retry = RetryPolicy(
            api=f"{service.SHORT_TITLE} API",
            max_attempts=int(attempts),
            min_delay=_pick(conn_id, "retry_min_delay", min_delay, _extra(extra, "retry_min_delay"), DEFAULT_MIN_DELAY),
            max_delay=_pick(conn_id, "retry_max_delay", max_delay, _extra(extra, "retry_max_delay"), DEFAULT_MAX_DELAY),
        )
    except ValueError as error:
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' retry settings are invalid ({error}): set max_attempts >= 1 and "
            "0 <= retry_min_delay <= retry_max_delay."
        ) from None
    return RiffusionSettings(
        base_url=base_url,
        token=token,
        user_id=str(user_id).strip() if user_id not in (None, "") else None,
        timeout=timeout,
        retry=retry,
        download_min_rate=min_rate,
        service=service,
    )


def check_token(conn_id: str, password: str | None) -> str:
    """The token, refused before any request when it cannot be one (names the field, never shows the token).

    A token is printable ASCII without spaces: a pasted zero-width space or line break would
    otherwise surface as an invalid header, reported as a lost connection and retried.
    """
    token = (password or "").strip()
    if not token:
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' has no API token: put the useapi.net token in its password field."
        )
    odd = next((char for char in token if not ("!" <= char <= "~")), None)
    if odd is not None:
        what = "a space" if odd == " " else f"a {unicodedata.name(odd, 'control character').lower()} (U+{ord(odd):04X})"
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' password (the API token) contains {what}, which no token has: "
            "paste the token again, as printable characters only."
        )
    return token


def normalize_base_url(
    conn_id: str,
    host: str | None,
    *,
    allow_insecure_http: bool = False,
    port: int | str | None = None,
    schema: str | None = None,
    default: str | None = None,
) -> str:
    """The connection's host as a base URL; empty means the public API.

    The host is a URL (``http(s)://host:port/path``), or a bare host name with the connection's schema
    as the path and its port (what the URI form ``riffusion://:TOKEN@127.0.0.1:8765/v1/riffusion``
    gives): https, or http for a loopback host. A bare host without a path is refused: the API lives
    under one (``/v1/riffusion``). Plain ``http://`` would send the token in clear text, so it is
    accepted only for loopback addresses (the emulator) unless the extra sets ``allow_insecure_http``.
    """
    raw = (host or "").strip()
    default = default or get_service(None).DEFAULT_BASE_URL
    if not raw:
        return default
    path = (schema or "").strip().strip("/")
    if path and "://" not in raw and "/" not in raw and not any(char.isspace() for char in raw):
        bare = raw.strip("[]")
        netloc = f"[{bare}]" if _is_ipv6(bare) else raw
        hostname = bare if _is_ipv6(bare) else raw.split(":")[0]
        scheme = "http" if is_loopback(hostname) else "https"
        if port not in (None, "") and (_is_ipv6(bare) or ":" not in raw):
            netloc += f":{port}"
        raw = f"{scheme}://{netloc}/{path}"
    try:
        parts = urlsplit(raw)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = urlsplit("")
    if parts.username is not None or parts.password is not None:
        # It would be shown wherever the base URL is (error messages, logs): keep credentials out of it.
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' host has credentials in it (user:password@): remove them; the API token "
            "belongs in the connection's password field."
        )
    if parts.scheme not in ("http", "https") or not parts.hostname or any(char.isspace() for char in raw):
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' host {raw!r} is not a base URL: use the form "
            f"http(s)://host[:port]/path, for example {default}, or leave it empty (in a URI: "
            "riffusion://:TOKEN@host:port/path)."
        )
    try:
        _ = parts.port
    except ValueError:
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' host {raw!r} has an invalid port: use http(s)://host:port/path."
        ) from None
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' host {raw!r} uses plain http to a non-loopback host, which would "
            "send the token unencrypted: use https, or set extra allow_insecure_http=true if you mean it."
        )
    if parts.query or parts.fragment:
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' host {raw!r} has a query or fragment: give only scheme, host, port and path."
        )
    return raw.rstrip("/")


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _service(conn_id: str, name: Any) -> Service:
    """The connection's service (extra ``service``), refused in one line when it names none."""
    try:
        return get_service(None if name is None else str(name).strip().lower())
    except RiffusionInputError:
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' service={name!r} is not a service this provider knows: use one of "
            f"{', '.join(SERVICES)} (or leave it empty for {SERVICES[0]})."
        ) from None


def _extra(extra: dict[str, Any], name: str) -> Any:
    """An extra field, also under the ``extra__riffusion__`` prefix older Airflow UIs wrote."""
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__riffusion__{name}")
    return None if value == "" else value


def _pick(conn_id: str, name: str, *candidates: Any) -> float:
    """The first given value among argument, extra and default, as a non-negative number."""
    value = next(candidate for candidate in candidates if candidate is not None)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' {name}={value!r} is not a number: give it in seconds or as a count."
        ) from None
    if not math.isfinite(number):
        raise RiffusionConnectionConfigError(
            f"Connection '{conn_id}' {name}={value!r} is not a finite number: give it in seconds or as a count."
        )
    if number < 0:
        raise RiffusionConnectionConfigError(f"Connection '{conn_id}' {name}={value!r} must not be negative.")
    return number
