"""Value checks for the configuration: each takes a raw value and returns it typed, or raises Invalid.

The caller (config.py) adds the key and the source, so the TOML file, the command-line flags and
scenario files share one set of messages. No Starlette, no pytest.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from spotnana_sim.core.embed_config import (
    MAX_HANDSHAKE_TIMEOUT,
    MAX_TOKEN_CHECK_INTERVAL,
    MIN_EMBED_SECONDS,
    REQUEST_TARGETS,
    check_seconds,
    normalize_origin,
)
from spotnana_sim.core.errors import DIALECTS
from spotnana_sim.core.protocol import SUPPORTED_GRANTS
from spotnana_sim.core.redaction import redact_url, shorten

# Where the documented user-detail answer keeps the email: {"user": {"email": ...}} (S1, the backend-setup page).
DEFAULT_EMAIL_FIELD = "user.email"
# Spotnana's real callback timeout is not public; past two minutes a "slow" test is a hung one.
MAX_TIMEOUT = 120.0
# RS256 is what Spotnana's sample token implies; ES256 signs faster for load tests.
ALGORITHMS = ("RS256", "ES256")



class Invalid(Exception):
    """A value is wrong; the message says how. The caller adds the key and the source."""


class ConfigError(Exception):
    """A configuration value the simulator cannot run with.

    ``str()`` reads ``"<source>: <key>: <problem>"``, e.g.
    ``sim.toml: clients[1].timeout: must be a positive number of seconds, got 'abc'``;
    ``source`` is where the value came from (a config file, ``None`` for command-line flags, whose
    key is the flag, or ``"environment"``) and ``key`` is empty for problems with a file as a whole.
    """

    def __init__(self, key: str, problem: str, source: str | None = None) -> None:
        # The args are the constructor's, so the error survives pickling (multiprocessing workers).
        super().__init__(key, problem, source)
        self.key = key
        self.problem = problem
        self.source = source

    def __str__(self) -> str:
        return ": ".join(part for part in (self.source, self.key, self.problem) if part)


def did_you_mean(name: str, accepted: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest accepted name, or nothing when none is close."""
    close = difflib.get_close_matches(name, list(accepted), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def shown(value: Any) -> str:
    """A raw value as the user wrote it in TOML, shortened. Never used for secrets."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(shorten(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML true is a Python int


def nonempty_string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"must be a non-empty string, got {shown(value)}")
    return value


def host(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise Invalid(f"must be a host name or IP address, got {shown(value)}")
    return value


def port(value: Any) -> int:
    if not is_int(value) or not 0 <= value <= 65535:  # 0 asks the system for a free port
        raise Invalid(f"must be a whole number from 0 to 65535 (0 picks a free port), got {shown(value)}")
    return int(value)


def secret_string(value: Any, what: str) -> str:
    # Secrets: say what is wrong with the type, never show the value.
    if not isinstance(value, str):
        raise Invalid(f"must be a non-empty string, got {shown_type(value)}")
    if not value.strip():
        raise Invalid(f"must be a non-empty string; this {what} is empty")
    return value


def shown_type(value: Any) -> str:
    """What kind of value came, without the value itself (for secrets)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (dict, list)):
        return shown(value)
    return "a number" if isinstance(value, (int, float)) else f"a {type(value).__name__}"


def secret(value: Any) -> str:
    return secret_string(value, "secret")


def admin_token(value: Any) -> str:
    return secret_string(value, "admin token")


def client_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise Invalid(f"must be a non-empty string without surrounding spaces, got {shown(value)}")
    return value


def dialect(value: Any) -> str:
    if value not in DIALECTS:
        raise Invalid(f"must be one of {', '.join(map(repr, DIALECTS))}, got {shown(value)}")
    return str(value)


def algorithm(value: Any) -> str:
    if value not in ALGORITHMS:
        raise Invalid(f"must be one of {', '.join(map(repr, ALGORITHMS))}, got {shown(value)}")
    return str(value)


def seconds_int(value: Any) -> int:
    if not is_int(value) or value <= 0:
        raise Invalid(f"must be a positive whole number of seconds, got {shown(value)}")
    return int(value)


def timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"must be a positive number of seconds, got {shown(value)}")
    if not 0 < value <= MAX_TIMEOUT:  # also rejects nan, which compares false
        raise Invalid(f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds, got {shown(value)}")
    return float(value)


def positive_count(value: Any) -> int:
    if not is_int(value) or value < 1:
        raise Invalid(f"must be a whole number of at least 1, got {shown(value)}")
    return int(value)


def timeout_like(value: Any) -> float:
    """A positive number of seconds, at most a day."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400:
        raise Invalid(f"must be a number of seconds more than 0 and at most 86400, got {shown(value)}")
    return float(value)


def body_bytes(value: Any) -> int:
    if not is_int(value) or not 1024 <= value <= 16 * 1024 * 1024:
        raise Invalid(f"must be a whole number of bytes from 1024 to 16777216, got {shown(value)}")
    return int(value)


def rejecting_statuses(value: Any) -> frozenset[int]:
    # 200 cannot mean "rejected", and 5xx stay "the user-detail API failed": only 4xx are eligible.
    if not isinstance(value, list) or not value or not all(is_int(v) and 400 <= v <= 499 for v in value):
        raise Invalid(f"must be a non-empty list of 4xx statuses such as [401, 403], got {shown(value)}")
    return frozenset(int(v) for v in value)


def email_match(value: Any) -> str:
    if value not in ("case-insensitive", "exact"):
        raise Invalid(f"must be \"case-insensitive\" or \"exact\", got {shown(value)}")
    return str(value)


def grants(value: Any) -> frozenset[str]:
    accepted = ", ".join(map(repr, SUPPORTED_GRANTS))
    if not isinstance(value, list) or not value:
        raise Invalid(f"must be a non-empty list of grant types from {accepted}, got {shown(value)}")
    for item in value:
        if item not in SUPPORTED_GRANTS:
            raise Invalid(f"unsupported grant type {shown(item)}; accepted: {accepted}")
    return frozenset(value)


_SEGMENT = re.compile(r"\S+")


def email_field(value: Any) -> str:
    if not isinstance(value, str) or not all(_SEGMENT.fullmatch(part) for part in value.split(".")):
        raise Invalid(
            f"must be a dotted path of non-empty names into the user-detail JSON "
            f"(like {DEFAULT_EMAIL_FIELD!r}), got {shown(value)}"
        )
    return value


def http_url(value: Any) -> str:
    problem = f"must be an http:// or https:// URL with a host, got {shown_url(value)}"
    if not isinstance(value, str) or any(c.isspace() or ord(c) < 32 for c in value):
        raise Invalid(problem)
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a port that is not a number in range
    except ValueError:
        raise Invalid(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(problem)
    if _is_link_local(parts.hostname):
        # Cloud metadata services live there (169.254.169.254): never a partner's API.
        raise Invalid(f"must not point at a link-local address (169.254.0.0/16, fe80::/10), got {shown_url(value)}")
    return value


def _is_link_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_link_local
    except ValueError:
        return False


def finite_number(value: Any) -> float:
    """A JSON or TOML number that is neither NaN nor infinite (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Invalid(f"must be a finite number, got {shown(value)}")
    return float(value)


def org_id(value: Any) -> str:
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else _not_uuid(value)
    except ValueError:
        return _not_uuid(value)


def _not_uuid(value: Any) -> str:
    raise Invalid(f"must be a company id, a UUID such as '6f1d3c1e-8a55-4f0e-9c0b-5e1a7a4d2c11', got {shown(value)}")


# API-user roles: a TMC admin may rotate and revoke API users and manage any company's keys (FACTS §6);
# COMPANY_ADMIN, its own company only, is the modeled default.
COMPANY_ADMIN = "COMPANY_ADMIN"
TMC_ADMIN = "TMC_ADMIN"
ROLES = (COMPANY_ADMIN, TMC_ADMIN)


def role(value: Any) -> str:
    if value not in ROLES:
        raise Invalid(f"must be one of {', '.join(map(repr, ROLES))}, got {shown(value)}")
    return str(value)


IDENTITY_MODELS = ("user-detail", "jwt")
SUBJECT_TOKEN_TYPES = ("urn:ietf:params:oauth:token-type:access_token", "urn:ietf:params:oauth:token-type:jwt")


def identity(value: Any) -> str:
    if value not in IDENTITY_MODELS:
        raise Invalid(f"must be one of {', '.join(map(repr, IDENTITY_MODELS))} (model A: the user-detail API; "
                      f"model B: a partner-signed JWT), got {shown(value)}")
    return str(value)


def leeway(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
        raise Invalid(f"must be a number of seconds from 0 to 3600, got {shown(value)}")
    return float(value)


def subject_token_types(value: Any) -> frozenset[str]:
    accepted = ", ".join(map(repr, SUBJECT_TOKEN_TYPES))
    if not isinstance(value, list) or not value or any(item not in SUBJECT_TOKEN_TYPES for item in value):
        raise Invalid(f"must be a non-empty list of {accepted}, got {shown(value)}")
    return frozenset(value)


def readable_file(value: Any) -> str:
    text = nonempty_string(value)
    try:
        with open(text, "rb"):
            pass
    except OSError as exc:
        raise Invalid(f"must be a readable file, got {shown(text)} ({exc.strerror or exc})") from None
    return text


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, got {shown(value)}")
    return value


def connection_limit(value: Any) -> int:
    if not is_int(value) or not 1 <= value <= 10_000:
        raise Invalid(f"must be a whole number from 1 to 10000, got {shown(value)}")
    return int(value)


def host_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v and not any(c.isspace() for c in v) for v in value):
        raise Invalid(f"must be a list of host names such as [\"sim.internal\"], got {shown(value)}")
    return tuple(v.lower() for v in value)


def shown_url(value: Any) -> str:
    return repr(shorten(redact_url(value))) if isinstance(value, str) else shown(value)


# Spaces and control characters spelled out rather than written \s, which Python and the ECMA regexes
# of JSON Schema (the admin API's OpenAPI document uses this pattern too) read differently.
_NOT_IN_EMAIL = "\\x00-\\x20\\x7f-\\x9f\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
EMAIL_PATTERN = f"^[^{_NOT_IN_EMAIL}]+@[^@{_NOT_IN_EMAIL}]+$"
_EMAIL = re.compile(EMAIL_PATTERN)


def email(value: Any) -> str:
    if not isinstance(value, str) or "@" not in value:
        raise Invalid(f"must be an email address (containing '@'), got {shown(value)}")
    if not _EMAIL.fullmatch(value):
        raise Invalid(f"must be an email address: text without spaces on both sides of '@', got {shown(value)}")
    return value


def error_status(value: Any) -> int:
    # An error row must stay an error: a 2xx/3xx would read as success or a redirect to clients.
    if not is_int(value) or not 400 <= value <= 599:
        raise Invalid(f"must be an HTTP error status from 400 to 599, got {shown(value)}")
    return int(value)


_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]*")


def error_code(value: Any) -> str:
    # Spotnana's codes are UPPER_SNAKE_CASE (TOO_MANY_REQUESTS, API_VALIDATION_FAILED).
    if not isinstance(value, str) or not _ERROR_CODE.fullmatch(value):
        raise Invalid(f"must be an UPPER_SNAKE_CASE error code like 'USER_NOT_FOUND', got {shown(value)}")
    return value


# -- [embed]: the stand-in embedded app ------------------------------------------------------------


def origin(value: Any) -> str:
    """A browser origin (``scheme://host[:port]``), normalized as ``MessageEvent.origin`` writes it."""
    try:
        return normalize_origin(value)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def origins(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise Invalid(f'must be a list of origins such as ["http://localhost:3000"], got {shown(value)}')
    normalized: list[str] = []
    for index, item in enumerate(value):
        try:
            text = origin(item)
        except Invalid as exc:
            raise Invalid(f"item {index}: {exc}") from None
        if text not in normalized:
            normalized.append(text)
    return tuple(normalized)


def request_target(value: Any) -> str:
    if value not in REQUEST_TARGETS:
        raise Invalid(f"must be one of {', '.join(map(repr, REQUEST_TARGETS))}, got {shown(value)}")
    return str(value)


def _embed_seconds(value: Any, high: float) -> float:
    try:
        return check_seconds(value, "the value", MIN_EMBED_SECONDS, high)
    except ValueError:
        raise Invalid(f"must be a number of seconds from {MIN_EMBED_SECONDS:g} to {high:g}, got {shown(value)}") from None


def handshake_timeout(value: Any) -> float:
    return _embed_seconds(value, MAX_HANDSHAKE_TIMEOUT)


def token_check_interval(value: Any) -> float:
    return _embed_seconds(value, MAX_TOKEN_CHECK_INTERVAL)
