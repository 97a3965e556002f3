"""Judging one answer against a step's expectations: what a request got (:class:`Observed`) and every
way it falls short (:func:`check_step`). No HTTP here; ``replay`` observes, this module judges.

Failure messages show what was expected and what came, and never a secret or token whole.
"""

from __future__ import annotations

import base64
import json
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spotnana_sim.core.redaction import is_secret_field, redact, shorten
from spotnana_sim.scenarios.model import CONNECTION_BROKEN, Expectation, UserDetailExpectation
from spotnana_sim.scenarios.placeholders import (
    PLACEHOLDER,
    SECRET_PLACEHOLDERS,
    is_partner_jwt,
    substitute,
    substitute_all,
)


@dataclass
class Observed:
    """What one request got: an answer, or a broken connection; and what the journal saw of it."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""
    transport_error: str | None = None  # the connection broke: how the client saw it
    user_detail_calls: list[Mapping[str, Any]] | None = None  # None: not observable (no journal)
    authorizations: list[str] | None = None  # headers sent to user-detail; None: not observable
    now: float = 0.0  # the simulator's clock when the answer came, for time matchers

    def json_body(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return _NOT_JSON


_NOT_JSON = object()
_ABSENT = object()


def check_step(expect: Expectation, observed: Observed, values: Mapping[str, str]) -> list[str]:
    """Every way ``observed`` falls short of ``expect``; empty when it matches. Never shows a whole secret."""
    failures: list[str] = []
    if observed.transport_error is not None:
        if expect.connection != CONNECTION_BROKEN:
            failures.append(f"the connection broke ({observed.transport_error}) instead of answering")
        return failures
    if expect.connection == CONNECTION_BROKEN:
        return [f"expected a broken connection, got an answer with status {observed.status}"]
    document = observed.json_body()
    if expect.status is not None and observed.status != expect.status:
        failures.append(f"status: expected {expect.status}, got {observed.status}{_error_summary(document)}")
    if expect.json is not None and (document is not _NOT_JSON) != expect.json:
        failures.append(f"body: expected {'JSON' if expect.json else 'a body that is not JSON'}, got {_preview(observed.body)}")
    if expect.error_code is not None:
        got = _spotnana_code(document)
        if got != expect.error_code:
            failures.append(f"errorCode: expected {expect.error_code}, got {got or 'none'}")
    if expect.error is not None:
        got = document.get("error") if isinstance(document, dict) else None
        if got != expect.error:
            failures.append(f"error: expected {expect.error}, got {got or 'none'}")
    if expect.error_parameter is not None:
        names = _error_parameter_names(document)
        if expect.error_parameter not in names:
            failures.append(f"errorParameters: expected one named {expect.error_parameter!r}, got {names or 'none'}")
    body = document if isinstance(document, dict) else {}
    for name, matcher in expect.body:
        failures += _match(f"body.{name}", body.get(name, _ABSENT), matcher, values, observed.now, secret=_is_secret_name(name))
    for name, matcher in expect.headers:
        failures += _match(f"header {name}", observed.headers.get(name.lower(), _ABSENT), matcher, values, observed.now)
    if expect.claims:
        claims = _claims(body.get("access_token"))
        if claims is None:
            failures.append("claims: the answer has no access_token that decodes as a JWT")
        else:
            for name, matcher in expect.claims:
                failures += _match(f"claim {name}", claims.get(name, _ABSENT), matcher, values, observed.now)
    if expect.user_detail is not None:
        failures += _check_user_detail(expect.user_detail, observed, values)
    return failures


def _check_user_detail(expect: UserDetailExpectation, observed: Observed, values: Mapping[str, str]) -> list[str]:
    calls = observed.user_detail_calls
    if calls is None:
        return ["user-detail calls: not observable here (no journal)"]
    failures = []
    if expect.calls is not None and len(calls) != expect.calls:
        failures.append(f"user-detail calls: expected {expect.calls}, the simulator made {len(calls)}")
    last = calls[-1] if calls else None
    if expect.status is not None:
        got = last.get("status") if last else None
        if got != expect.status:
            failures.append(f"user-detail status: expected {expect.status}, got {got if last else 'no call'}")
    if expect.error_contains is not None:
        error = str(last.get("error") or "") if last else ""
        if expect.error_contains.lower() not in error.lower():
            failures.append(f"user-detail error: expected it to mention {expect.error_contains!r}, got {error or 'no error'!r}")
    if expect.authorization is not None:
        wanted = substitute(expect.authorization, values)
        sent = observed.authorizations
        if sent is None:
            failures.append("user-detail Authorization header: not observable here (in-process runs only)")
        elif wanted not in sent:
            shown = [_redact_authorization(a) for a in sent] or "no call"
            failures.append(f"user-detail Authorization: expected {_redact_authorization(wanted)!r}, sent {shown}")
    return failures


def _redact_authorization(value: str) -> str:
    scheme, _, credential = value.partition(" ")
    return f"{scheme} {redact(credential)}" if credential else redact(value)


def _match(what: str, got: Any, matcher: Any, values: Mapping[str, str], now: float, secret: bool = False) -> list[str]:
    """A matcher is a literal (equality), or a mapping of tests: present, matches, min, max, in_past."""
    shown = "absent" if got is _ABSENT else (repr(redact(str(got))) if secret else repr(_short(got)))
    if not isinstance(matcher, Mapping):
        expected = substitute_all(matcher, values)
        if got is _ABSENT or got != expected:
            wanted = redact(str(expected)) if secret or _is_secret_value(matcher) else _short(expected)
            return [f"{what}: expected {wanted!r}, got {shown}"]
        return []
    failures = []
    if "present" in matcher and (got is not _ABSENT) != matcher["present"]:
        failures.append(f"{what}: expected {'present' if matcher['present'] else 'absent'}, got {shown}")
    if got is _ABSENT:
        if any(k in matcher for k in ("matches", "min", "max", "in_past")):
            failures.append(f"{what}: expected a value, got none")
        return failures
    if "matches" in matcher and not re.search(_pattern(matcher["matches"], values), str(got)):
        failures.append(f"{what}: expected to match /{matcher['matches']}/, got {shown}")
    number = got if isinstance(got, (int, float)) and not isinstance(got, bool) else None
    for key, ok in (("min", operator.ge), ("max", operator.le)):
        if key in matcher and (number is None or not ok(number, matcher[key])):
            failures.append(f"{what}: expected {key} {matcher[key]}, got {shown}")
    if "in_past" in matcher and (number is None or (number <= now) != matcher["in_past"]):
        failures.append(f"{what}: expected {'a time already past' if matcher['in_past'] else 'a time still ahead'}, got {shown}")
    return failures


def _pattern(regex: str, values: Mapping[str, str]) -> str:
    """A ``matches`` regex with its placeholders filled in as literal text."""
    return PLACEHOLDER.sub(lambda m: re.escape(values[m.group(1)]) if m.group(1) in values else m.group(0), regex)


def _is_secret_name(name: str) -> bool:
    """A body field holding a credential: the form's names, and the APIs' camelCase ones (clientSecret)."""
    return is_secret_field(name) or name.lower().endswith(("secret", "token"))


def _is_secret_value(matcher: Any) -> bool:
    """Whether a matcher holds a credential placeholder (its filled value is never shown whole)."""
    if not isinstance(matcher, str):
        return False
    names = [m.group(1) for m in PLACEHOLDER.finditer(matcher)]
    return any(name.startswith(SECRET_PLACEHOLDERS) or is_partner_jwt(name) for name in names)


def _short(value: Any) -> Any:
    return shorten(value) if isinstance(value, str) else value


def _preview(body: bytes) -> str:
    return f"{len(body)} bytes starting {body[:40]!r}"


def _spotnana_code(document: Any) -> str | None:
    if isinstance(document, dict):
        messages = document.get("errorMessages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            code = messages[0].get("errorCode")
            return str(code) if code is not None else None
    return None


def _error_parameter_names(document: Any) -> list[str]:
    names: list[str] = []
    if isinstance(document, dict):
        for message in document.get("errorMessages") or []:
            for parameter in (message.get("errorParameters") or []) if isinstance(message, dict) else []:
                if isinstance(parameter, dict) and "name" in parameter:
                    names.append(str(parameter["name"]))
    return names


def _error_summary(document: Any) -> str:
    code = _spotnana_code(document) or (document.get("error") if isinstance(document, dict) else None)
    return f" ({code})" if code else ""


def _claims(token: Any) -> dict[str, Any] | None:
    """The payload of a JWT, unverified: a scenario checks what was issued, not who signed it."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    segment = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None
