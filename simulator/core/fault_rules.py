"""Fault rules as data: the rule format, its validation, and the validated :class:`Rule`.

A rule is a plain dict, the same from the admin API (JSON), the config file (``[[faults]]``) and
scenario files. It says *where* (``target``), *which requests* (``match``), *how often* (``times``,
``after``, ``probability`` + ``seed``) and *what* (``response``, ``delay``, ``connection``, token
quirks, ``user_detail`` shorthands). The README section "Faults and the request journal" is the user-facing reference.
Validation is strict: an unknown key, a wrong type or a contradiction is a :class:`FaultRuleError`
naming the path inside the rule and what is accepted. How rules fire lives in ``faults.py``.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spotnana_sim.core.redaction import redact
from spotnana_sim.core.validators import ConfigError, did_you_mean

TOKEN_ENDPOINT = "token-endpoint"
USER_DETAIL = "user-detail"
PARTNER_JWKS = "partner-jwks"  # model B: what the partner's JWKS URL answers
EMBED = "embed"  # the stand-in embedded app (server/embed.py): how it behaves, not what it answers
TARGETS = (TOKEN_ENDPOINT, USER_DETAIL, PARTNER_JWKS, EMBED)
CONNECTION_FAULTS = ("reset", "empty", "truncated", "malformed_json", "random_bytes")
ALWAYS = "always"
MAX_DELAY_SECONDS = 300.0  # a longer "slow answer" is a hung test, not a fault
# user_detail shorthands given as a plain string; {"email": ...}, {"redirect": ...}, {"html_error": status} as objects.
USER_DETAIL_WORDS = ("timeout", "unreachable", "no_email", "not_json", "html_error", "oversized")
USER_DETAIL_OBJECTS = ("email", "redirect", "html_error")
# partner_jwks shorthands: no answer in time, none at all, not JSON, a JWKS of other keys, a JWKS of no keys.
PARTNER_JWKS_WORDS = ("timeout", "unreachable", "not_json", "keys_swapped", "no_keys")
# embed: the app refuses a valid token; it sends TOKEN_EXCHANGE_REQUEST after `delay` seconds; it sends it twice.
REFUSE_TOKEN, REQUEST_LATE, REQUEST_TWICE = "refuse_token", "request_late", "request_twice"
EMBED_FAULTS = (REFUSE_TOKEN, REQUEST_LATE, REQUEST_TWICE)

_COMMON_KEYS = ("id", "target", "description", "match", "times", "after", "probability", "seed", "delay", "response")
_KEYS = {
    TOKEN_ENDPOINT: (*_COMMON_KEYS, "connection", "expires_in", "expired"),
    USER_DETAIL: (*_COMMON_KEYS, "user_detail"),
    PARTNER_JWKS: (*_COMMON_KEYS, "partner_jwks"),
    EMBED: (*(key for key in _COMMON_KEYS if key != "response"), "embed"),
}
_MATCH_KEYS = {
    TOKEN_ENDPOINT: ("client_id", "subject_token", "grant_type"),
    USER_DETAIL: ("client_id", "subject_token"),
    PARTNER_JWKS: ("url",),
    EMBED: ("org_id", "client_id"),  # org_id: the iframe URL's orgId; client_id: the token's client (refuse_token)
}
_RESPONSE_KEYS = {
    TOKEN_ENDPOINT: ("status", "errorCode", "headers", "body"),
    USER_DETAIL: ("status", "headers", "body"),
    PARTNER_JWKS: ("status", "headers", "body"),
}
# What a rule of each target must do at least one of.
_ACTIONS = {
    TOKEN_ENDPOINT: "response, delay, connection, expires_in, expired",
    USER_DETAIL: "response, delay, user_detail",
    PARTNER_JWKS: "response, delay, partner_jwks",
    EMBED: "embed",
}
_READ_ONLY_KEYS = ("remaining", "fired", "matched")  # in a listing; accepted and ignored so a listed rule can be re-posted
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})

class FaultRuleError(ConfigError, ValueError):
    """A rule that cannot be armed; ``path`` says where in the rule, ``problem`` what is wrong.

    A :class:`ConfigError`, so a bad ``[[faults]]`` table stops start-up like any other config error.
    """

    def __init__(self, path: str, problem: str, source: str | None = None) -> None:
        super().__init__(path, problem, source)
        self.path = path


@dataclass(frozen=True)
class FaultAnswer:
    """An HTTP answer a rule forces; with no body and an errorCode, the Spotnana envelope is built."""

    status: int
    error_code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

@dataclass(frozen=True)
class Delay:
    """``fixed`` (a, -), ``uniform`` (a..b) or ``lognormal`` (mu a, sigma b), in seconds."""

    kind: str
    a: float
    b: float = 0.0

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.a
        value = rng.uniform(self.a, self.b) if self.kind == "uniform" else rng.lognormvariate(self.a, self.b)
        return min(value, MAX_DELAY_SECONDS)

    def as_json(self) -> Any:
        if self.kind == "fixed":
            return {"fixed": self.a}
        if self.kind == "uniform":
            return {"uniform": [self.a, self.b]}
        return {"lognormal": {"mu": self.a, "sigma": self.b}}


@dataclass(frozen=True)
class Rule:
    """One validated rule. ``spec`` is its normalized JSON form (secrets in ``match`` redacted)."""

    id: str
    target: str
    match: Mapping[str, str]
    times: int | None  # None: always
    after: int
    probability: float
    seed: int
    delay: Delay | None
    answer: FaultAnswer | None = None  # token-endpoint response
    connection: str | None = None
    expires_in: int | None = None
    expired: bool = False
    user_detail: tuple[str, Any] | None = None  # (kind, value): "response" or a shorthand
    partner_jwks: tuple[str, Any] | None = None  # (kind, value): "response" or a shorthand
    embed: str | None = None  # one of EMBED_FAULTS
    spec: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, values: Mapping[str, str | None]) -> bool:
        return all(values.get(key) == wanted for key, wanted in self.match.items())

# ------------------------------------------------------------------------------- validation -------


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _fail(path: str, problem: str) -> FaultRuleError:
    return FaultRuleError(path, problem)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _check_keys(value: Any, path: str, accepted: tuple[str, ...], what: str, ignored: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"{what} must be an object, got {_shown(value)}")
    for key in value:
        if key not in accepted and key not in ignored:
            hint = did_you_mean(str(key), accepted)
            raise _fail(_join(path, str(key)), f"unknown key{hint}; accepted: {', '.join(accepted)}")
    return {k: v for k, v in value.items() if k not in ignored}


def _number(value: Any, path: str, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(path, f"must be {what}, got {_shown(value)}")
    if not low <= value <= high:
        raise _fail(path, f"must be {what} between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _integer(value: Any, path: str, low: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _fail(path, f"must be {what}, got {_shown(value)}")
    return value


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, f"must be a non-empty string, got {_shown(value)}")
    return value


def _delay(value: Any, path: str) -> Delay:
    seconds = f"a number of seconds (0 to {MAX_DELAY_SECONDS:g})"
    if not isinstance(value, Mapping):
        return Delay("fixed", _number(value, path, 0, MAX_DELAY_SECONDS, seconds + ', or {"fixed"|"uniform"|"lognormal": ...}'))
    kinds = ("fixed", "uniform", "lognormal")
    _check_keys(value, path, kinds, "delay")
    if len(value) != 1:
        raise _fail(path, 'must have exactly one of {"fixed": s}, {"uniform": [a, b]}, {"lognormal": {"mu": m, "sigma": s}}')
    kind, spec = next(iter(value.items()))
    where = _join(path, kind)
    if kind == "fixed":
        return Delay("fixed", _number(spec, where, 0, MAX_DELAY_SECONDS, seconds))
    if kind == "uniform":
        if not isinstance(spec, list) or len(spec) != 2:
            raise _fail(where, f"must be a list of two numbers [low, high], got {_shown(spec)}")
        low, high = (_number(v, _join(where, i), 0, MAX_DELAY_SECONDS, seconds) for i, v in enumerate(spec))
        if low > high:
            raise _fail(where, f"low must not exceed high, got [{low:g}, {high:g}]")
        return Delay("uniform", low, high)
    params = _check_keys(spec, where, ("mu", "sigma"), "lognormal")
    if set(params) != {"mu", "sigma"}:
        raise _fail(where, 'must give both "mu" and "sigma" (of the log of the delay in seconds)')
    mu = _number(params["mu"], _join(where, "mu"), -20, 10, "a number")
    sigma = _number(params["sigma"], _join(where, "sigma"), 0, 10, "a number")
    return Delay("lognormal", mu, sigma)


def _headers(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _fail(path, f'must be an object of header names to values, like {{"Retry-After": "2"}}, got {_shown(value)}')
    headers: dict[str, str] = {}
    for name, raw in value.items():
        where = _join(path, str(name))
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise _fail(where, "is not a valid HTTP header name")
        if name.lower() in _FRAMING_HEADERS:
            raise _fail(where, "is set by the server (message framing) and cannot be forced")
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise _fail(where, f"must be a string or a number, got {_shown(raw)}")
        text = str(raw)
        if any(ch in text for ch in "\r\n\0"):
            raise _fail(where, "must not contain line breaks or NUL")
        headers[name] = text
    return headers


def _response(value: Any, path: str, target: str) -> tuple[dict[str, Any], Any]:
    """The response spec (normalized) and what the engine uses: a FaultAnswer or a user-detail tuple."""
    accepted = _RESPONSE_KEYS[target]
    if isinstance(value, Mapping) and "errorCode" in value and target != TOKEN_ENDPOINT:
        raise _fail(_join(path, "errorCode"), f"is for token-endpoint answers; a {target} answer is any status, headers and body")
    spec = _check_keys(value, path, accepted, "response")
    if "status" not in spec:
        raise _fail(path, "needs a status (200 to 599)")
    status = spec["status"]
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise _fail(_join(path, "status"), f"must be an HTTP status from 200 to 599, got {_shown(status)}")
    headers = _headers(spec.get("headers", {}), _join(path, "headers"))
    spec["headers"] = headers
    if "errorCode" in spec:
        spec["errorCode"] = _text(spec["errorCode"], _join(path, "errorCode"))
    if "body" in spec and status in (204, 304):
        raise _fail(_join(path, "body"), f"a {status} answer has no body")
    if target != TOKEN_ENDPOINT:
        return spec, ("response", spec)
    wire_headers = dict(headers)  # the listing shows what was asked; defaults go on the wire only
    return spec, FaultAnswer(status, spec.get("errorCode"), wire_headers, _wire_body(spec, status, wire_headers))


def _wire_body(spec: Mapping[str, Any], status: int, headers: dict[str, str]) -> Any:
    """What the exchange sends: None lets it build the error envelope; str/bytes go as they are."""
    if "body" not in spec:
        return None if status >= 400 else b""  # a success with no body is an empty one, not "null"
    body = spec["body"]
    if isinstance(body, str):
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "text/plain; charset=utf-8"
        return body
    if body is None:  # an explicit JSON null, which the exchange would take for "no body"
        headers.setdefault("Content-Type", "application/json")
        return b"null"
    return body


def _user_detail(value: Any, path: str) -> tuple[str, Any]:
    if isinstance(value, str):
        if value not in USER_DETAIL_WORDS:
            raise _fail(path, f"unknown shorthand {value!r}; accepted: {', '.join(USER_DETAIL_WORDS)}, "
                              '{"email": "..."}, {"redirect": "http://..."}, {"html_error": status}')
        return (value, 500 if value == "html_error" else None)
    spec = _check_keys(value, path, USER_DETAIL_OBJECTS, "user_detail")
    if len(spec) != 1:
        raise _fail(path, 'must have exactly one of "email", "redirect", "html_error"')
    kind, arg = next(iter(spec.items()))
    where = _join(path, kind)
    if kind == "email":
        if not isinstance(arg, str):
            raise _fail(where, f"must be a string (the email the user-detail API claims), got {_shown(arg)}")
    elif kind == "redirect":
        arg = _text(arg, where)
    elif isinstance(arg, bool) or not isinstance(arg, int) or not 200 <= arg <= 599:
        raise _fail(where, f"must be the status of the HTML page, 200 to 599, got {_shown(arg)}")
    return (kind, arg)


def parse_rule(raw: Any, path: str = "", *, seed_source: Callable[[], int] | None = None) -> Rule:
    """Validate one rule dict. Errors name ``path`` + the key inside the rule, and what is accepted."""
    if not isinstance(raw, Mapping):
        raise _fail(path, f"a fault rule must be an object, got {_shown(raw)}")
    target = raw.get("target")
    if target not in TARGETS:
        problem = "is required" if "target" not in raw else f"must be one of {', '.join(TARGETS)}, got {_shown(target)}"
        raise _fail(_join(path, "target"), problem)
    for key in raw:
        owners = [other for other in TARGETS if other != target and key in _KEYS[other]]
        if key not in _KEYS[target] and owners:
            raise _fail(_join(path, str(key)), f"applies to target {' and '.join(map(repr, owners))} only, not {target!r}")
    rule = _check_keys(raw, path, _KEYS[target], "a fault rule", ignored=_READ_ONLY_KEYS)
    spec: dict[str, Any] = {"target": target}

    given_id = rule.get("id")
    if given_id is not None and (not isinstance(given_id, str) or not _ID_PATTERN.match(given_id)):
        raise _fail(_join(path, "id"), f"must be 1 to 64 letters, digits, '.', '_' or '-', got {_shown(given_id)}")
    if "description" in rule:
        spec["description"] = _text(rule["description"], _join(path, "description"))

    match: dict[str, str] = {}
    if "match" in rule:
        where = _join(path, "match")
        for key, value in _check_keys(rule["match"], where, _MATCH_KEYS[target], "match").items():
            if not isinstance(value, str):
                raise _fail(_join(where, key), f"must be a string (matched exactly), got {_shown(value)}")
            match[key] = value
    spec["match"] = {k: redact(v) if k == "subject_token" else v for k, v in match.items()}

    times_raw = rule.get("times", ALWAYS)
    times = None if times_raw == ALWAYS else _integer(times_raw, _join(path, "times"), 1, 'a whole number >= 1 or "always"')
    after = _integer(rule.get("after", 0), _join(path, "after"), 0, "a whole number >= 0 (matching requests let through first)")
    probability = _number(rule.get("probability", 1), _join(path, "probability"), 0, 1, "a number")
    delay = _delay(rule["delay"], _join(path, "delay")) if "delay" in rule else None
    random_rule = probability < 1 or (delay is not None and delay.kind != "fixed")
    if "seed" in rule:
        seed = _integer(rule["seed"], _join(path, "seed"), 0, "a whole number >= 0")
    else:  # chosen now and shown in the listing, so an unseeded chaotic run can still be repeated
        seed = (seed_source or random_seed)() if random_rule else 0
    spec.update(times=times_raw if times is None else times, after=after, probability=probability)
    if "seed" in rule or random_rule:
        spec["seed"] = seed

    if delay is not None:
        spec["delay"] = delay.as_json()
    answer: FaultAnswer | None = None
    user_detail: tuple[str, Any] | None = None
    partner_jwks: tuple[str, Any] | None = None
    if "response" in rule:
        spec["response"], made = _response(rule["response"], _join(path, "response"), target)
        if target == TOKEN_ENDPOINT:
            answer = made
        elif target == USER_DETAIL:
            user_detail = made
        else:
            partner_jwks = made
    connection = rule.get("connection")
    if connection is not None:
        if connection not in CONNECTION_FAULTS:
            raise _fail(_join(path, "connection"), f"must be one of {', '.join(CONNECTION_FAULTS)}, got {_shown(connection)}")
        spec["connection"] = connection
    expires_in = None
    if "expires_in" in rule:
        expires_in = _integer(rule["expires_in"], _join(path, "expires_in"), 0, "a whole number of seconds >= 0")
        spec["expires_in"] = expires_in
    expired = rule.get("expired", False)
    if not isinstance(expired, bool):
        raise _fail(_join(path, "expired"), f"must be true or false, got {_shown(expired)}")
    if expired:
        spec["expired"] = True
    if "user_detail" in rule:
        if user_detail is not None:
            raise _fail(_join(path, "user_detail"), 'cannot be combined with "response": give one answer')
        user_detail = _user_detail(rule["user_detail"], _join(path, "user_detail"))
        spec["user_detail"] = rule["user_detail"]
    if "partner_jwks" in rule:
        if partner_jwks is not None:
            raise _fail(_join(path, "partner_jwks"), 'cannot be combined with "response": give one answer')
        word = rule["partner_jwks"]
        if word not in PARTNER_JWKS_WORDS:
            raise _fail(_join(path, "partner_jwks"),
                        f"unknown shorthand {_shown(word)}; accepted: {', '.join(PARTNER_JWKS_WORDS)}")
        partner_jwks = (word, None)
        spec["partner_jwks"] = word
    embed = _embed(rule.get("embed"), delay, match, path) if target == EMBED else None
    if embed is not None:
        spec["embed"] = embed

    outcomes: list[str] = [k for k in ("response", "connection") if k in spec]
    quirks: list[str] = [k for k in ("expires_in", "expired") if k in spec]
    if len(outcomes) > 1 or (outcomes and quirks):
        raise _fail(path, f"{' and '.join(outcomes + quirks)} exclude each other: a rule answers one way")
    if not (outcomes or quirks or delay or user_detail or partner_jwks or embed):
        raise _fail(path, f"says nothing to do; give at least one of: {_ACTIONS[target]}")
    return Rule(
        id=given_id or "", target=target, match=match, times=times, after=after, probability=probability,
        seed=seed, delay=delay, answer=answer, connection=connection, expires_in=expires_in, expired=expired,
        user_detail=user_detail, partner_jwks=partner_jwks, embed=embed, spec=spec,
    )


def _embed(value: Any, delay: Delay | None, match: Mapping[str, str], path: str) -> str:
    """An ``embed`` rule's behaviour, checked with the keys it needs or cannot use."""
    where = _join(path, "embed")
    if value is None:
        raise _fail(where, f"is required for target embed; one of {', '.join(EMBED_FAULTS)}")
    if value not in EMBED_FAULTS:
        raise _fail(where, f"unknown behaviour {_shown(value)}; accepted: {', '.join(EMBED_FAULTS)}")
    if value == REQUEST_LATE and delay is None:
        raise _fail(_join(path, "delay"), "is required with embed: request_late (seconds before the page sends its request)")
    if value == REFUSE_TOKEN and delay is not None:
        raise _fail(_join(path, "delay"), "applies to request_late and request_twice (when the page sends its request), "
                                          "not to refuse_token")
    if value != REFUSE_TOKEN and "client_id" in match:
        raise _fail(_join(path, "match.client_id"), f"a page has no client until a token arrives: {value} matches "
                                                    "org_id only (client_id works with refuse_token)")
    return str(value)


def validate_rule(raw: Any, path: str = "") -> dict[str, Any]:
    """The normalized form of a rule, or FaultRuleError; for checking scenario files without arming."""
    rule = parse_rule(raw, path, seed_source=lambda: 0)
    return {"id": rule.id, **rule.spec} if rule.id else copy.deepcopy(dict(rule.spec))


def check_rules(rules: Any, path: str = "faults") -> None:
    """Validate a list of rules (the ``[[faults]]`` tables); errors read ``faults[2].times: ...``."""
    if not isinstance(rules, (list, tuple)):
        raise _fail(path, f"must be a list of fault rules, got {_shown(rules)}")
    for index, raw in enumerate(rules):
        parse_rule(raw, _join(path, index), seed_source=lambda: 0)


def random_seed() -> int:
    return secrets.randbits(32)
