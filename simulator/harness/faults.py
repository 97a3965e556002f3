"""Fault rules at work: what the integrator's backend receives instead of a normal answer
(``token-endpoint``), and what the simulator pretends the user-detail API answered (``user-detail``).

The rule format and its validation are in ``fault_rules.py``. Rules are tried in the order they
were armed; the first that fires handles the request and later rules do not see it. Each rule draws
from its own ``random.Random(seed)``, and only when a request reaches it, so a seeded chaotic run
fires on exactly the same requests every time.

Interface consumed by the exchange (kept stable): :meth:`FaultBook.for_token_request` (the exchange
applies the delay and the answer) and :meth:`FaultBook.intercept_user_detail` (which sleeps itself).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from spotnana_sim.core.embed import EmbedFault
from spotnana_sim.core.fault_rules import (
    ALWAYS,
    CONNECTION_FAULTS,
    EMBED,
    PARTNER_JWKS,
    REFUSE_TOKEN,
    REQUEST_TWICE,
    TARGETS,
    TOKEN_ENDPOINT,
    USER_DETAIL,
    FaultAnswer,
    FaultRuleError,
    Rule,
    check_rules,
    parse_rule,
    random_seed,
    validate_rule,
)
from spotnana_sim.core.settings import DEFAULT_EMAIL_FIELD
from spotnana_sim.core.user_detail import (
    MAX_BODY_BYTES,
    CallbackContext,
    CallbackFailed,
    CallbackTimedOut,
    UserDetailResponse,
)

__all__ = [
    "ALWAYS", "CONNECTION_FAULTS", "TARGETS", "TOKEN_ENDPOINT", "USER_DETAIL", "FaultAnswer", "FaultBook",
    "FaultRuleError", "TokenFault", "TokenRequestContext", "check_rules", "validate_rule",
]

_HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} Error</title></head>"
    "<body><h1>{status} Error</h1><p>Simulated error page (fault rule {rule}).</p></body></html>"
)


@dataclass(frozen=True)
class TokenFault:
    """What a fired token-endpoint rule asks of this one request."""

    rule_id: str
    delay: float = 0.0
    answer: FaultAnswer | None = None
    connection: str | None = None  # one of CONNECTION_FAULTS
    expires_in: int | None = None  # token quirk: advertise and sign this lifetime
    expired: bool = False  # token quirk: issue a token that is already expired


@dataclass(frozen=True)
class TokenRequestContext:
    """What a token-endpoint rule may match on (first values as sent, before validation)."""

    client_id: str | None
    subject_token: str | None
    grant_type: str | None

# ------------------------------------------------------------------------------- the engine -------


class _Armed:
    """A rule and its counters; only touched under the book's lock."""

    def __init__(self, rule: Rule, rng: random.Random) -> None:
        self.rule = rule
        self.rng = rng
        self.matched = 0
        self.fired = 0

    def fire(self) -> bool:
        """Whether the rule fires on this matching request; counts it either way."""
        rule = self.rule
        if rule.times is not None and self.fired >= rule.times:
            return False
        self.matched += 1
        if self.matched <= rule.after:
            return False
        if rule.probability < 1 and self.rng.random() >= rule.probability:
            return False
        self.fired += 1
        return True

    def delay(self) -> float:
        return self.rule.delay.sample(self.rng) if self.rule.delay else 0.0

    def view(self) -> dict[str, Any]:
        times = self.rule.times
        remaining = None if times is None else max(times - self.fired, 0)
        return {"id": self.rule.id, **copy.deepcopy(dict(self.rule.spec)), "remaining": remaining, "fired": self.fired, "matched": self.matched}


Sleep = Callable[[float], Awaitable[None]]


class FaultBook:
    """The armed rules, in order. Thread-safe: the admin API and test code may call from other threads."""

    def __init__(
        self,
        rules: tuple[Mapping[str, Any], ...] | list[Mapping[str, Any]] = (),
        *,
        rng_factory: Callable[[int], random.Random] = random.Random,
        sleep: Sleep = asyncio.sleep,
        seed_source: Callable[[], int] = random_seed,
    ) -> None:
        self.rng_factory = rng_factory
        self.sleep = sleep  # public so a running simulator's user-detail delays can be faked in tests
        self.seed_source = seed_source
        self._lock = threading.RLock()
        self._armed: list[_Armed] = []
        self._next_id = 1
        check_rules(list(rules))  # all-or-nothing: a bad rule anywhere stops start-up
        parsed = [parse_rule(raw, f"faults[{i}]", seed_source=seed_source) for i, raw in enumerate(rules)]
        seen: dict[str, int] = {}
        for index, rule in enumerate(parsed):
            if rule.id in seen:
                raise FaultRuleError(f"faults[{index}].id", f"{rule.id!r} is already the id of faults[{seen[rule.id]}]")
            if rule.id:
                seen[rule.id] = index
        self._configured: list[Rule] = []
        for rule in parsed:
            self._configured.append(rule if rule.id else replace(rule, id=self._new_id({r.id for r in parsed})))
        self.reset()

    def _new_id(self, taken: set[str]) -> str:
        """``f1``, ``f2``, ...: never reused until reset, skipping ids given explicitly."""
        taken = taken | {armed.rule.id for armed in self._armed}
        while f"f{self._next_id}" in taken:
            self._next_id += 1
        self._next_id += 1
        return f"f{self._next_id - 1}"

    def arm(self, rule: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and arm a rule; the same id again replaces that rule in place (fresh counters)."""
        with self._lock:
            parsed = parse_rule(rule, seed_source=self.seed_source)
            if not parsed.id:
                parsed = replace(parsed, id=self._new_id(set()))
            armed = _Armed(parsed, self.rng_factory(parsed.seed))
            for index, existing in enumerate(self._armed):
                if existing.rule.id == parsed.id:
                    self._armed[index] = armed
                    break
            else:
                self._armed.append(armed)
            return armed.view()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [armed.view() for armed in self._armed]

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            kept = [a for a in self._armed if a.rule.id != rule_id]
            removed = len(kept) != len(self._armed)
            self._armed = kept
            return removed

    def clear(self) -> None:
        """Disarm every rule, configured ones too (``reset`` brings those back)."""
        with self._lock:
            self._armed = []

    def reset(self) -> None:
        """Back to the configured rules, with fresh counters and random streams."""
        with self._lock:
            self._armed = [_Armed(rule, self.rng_factory(rule.seed)) for rule in self._configured]
            self._next_id = 1

    def _first_firing(self, target: str, values: Mapping[str, str | None]) -> tuple[Rule, float] | None:
        with self._lock:
            for armed in self._armed:
                if armed.rule.target == target and armed.rule.matches(values) and armed.fire():
                    return armed.rule, armed.delay()
        return None

    def for_token_request(self, context: TokenRequestContext) -> TokenFault | None:
        values = {"client_id": context.client_id, "subject_token": context.subject_token, "grant_type": context.grant_type}
        fired = self._first_firing(TOKEN_ENDPOINT, values)
        if fired is None:
            return None
        rule, delay = fired
        return TokenFault(
            rule_id=rule.id, delay=delay, answer=rule.answer, connection=rule.connection,
            expires_in=rule.expires_in, expired=rule.expired,
        )

    # -- embed: the stand-in embedded app asks (FaultBook is its EmbedFaults) -------------------------

    def _first_embed_firing(self, page: bool, values: Mapping[str, str | None]) -> tuple[Rule, float] | None:
        """Like _first_firing, among the embed rules that act at page load (``page``) or at the token check."""
        with self._lock:
            for armed in self._armed:
                rule = armed.rule
                if rule.target == EMBED and (rule.embed != REFUSE_TOKEN) == page and rule.matches(values) and armed.fire():
                    return rule, armed.delay()
        return None

    def for_page(self, org_id: str | None) -> EmbedFault | None:
        """Consulted once per page load: request_late and request_twice rules."""
        fired = self._first_embed_firing(True, {"org_id": org_id})
        if fired is None:
            return None
        rule, delay = fired
        return EmbedFault(rule.id, request_delay=delay, request_count=2 if rule.embed == REQUEST_TWICE else 1)

    def for_token(self, org_id: str | None, client_id: str | None) -> EmbedFault | None:
        """Consulted once per valid token in a well-formed answer: refuse_token rules."""
        fired = self._first_embed_firing(False, {"org_id": org_id, "client_id": client_id})
        return EmbedFault(fired[0].id, refuse_token=True) if fired else None

    async def intercept_partner_jwks(self, url: str, timeout: float, max_bytes: int) -> UserDetailResponse | None:
        """Answer in place of a partner's JWKS URL, raise CallbackFailed, or None for the real fetch."""
        fired = self._first_firing(PARTNER_JWKS, {"url": url})
        if fired is None:
            return None
        rule, delay = fired
        kind, arg = rule.partner_jwks or (None, None)
        if not await self._outbound_fault(rule.id, kind, delay, timeout):
            return None
        assert kind is not None
        return partner_jwks_answer(kind, arg, rule.id, max_bytes)

    async def _outbound_fault(self, rule_id: str, kind: str | None, delay: float, timeout: float) -> bool:
        """The part of a fired outbound rule that is the same for every call the simulator makes:
        a timeout (waiting only the caller's timeout), a refused connection, or a delay before the
        answer. True when the rule's answer should stand in; False for the real call."""
        if kind == "timeout" or delay >= timeout:
            await self.sleep(timeout)
            raise CallbackTimedOut(f"no answer within {timeout:g} s (simulated by fault rule {rule_id})")
        if delay > 0:
            await self.sleep(delay)
        if kind == "unreachable":
            raise CallbackFailed(f"connection refused (simulated by fault rule {rule_id})")
        return kind is not None

    async def intercept_user_detail(self, context: CallbackContext) -> UserDetailResponse | None:
        """Answer in place of the user-detail API, raise CallbackFailed, or None for the real call.

        A delay at or past the client's timeout waits only the timeout and then times out, as the
        real call would; a shorter delay is waited before the answer (or before the real call).
        """
        fired = self._first_firing(USER_DETAIL, {"client_id": context.client_id, "subject_token": context.subject_token})
        if fired is None:
            return None
        rule, delay = fired
        context.record.fault_id = rule.id
        kind, arg = rule.user_detail or (None, None)
        if not await self._outbound_fault(rule.id, kind, delay, context.timeout):
            return None
        assert kind is not None
        return user_detail_answer(kind, arg, rule.id, context.email_field, context.max_bytes)


def partner_jwks_answer(kind: str, arg: Any, rule_id: str, max_bytes: int) -> UserDetailResponse:
    """The answer a partner-jwks rule stands in for, as the HTTP reader would have read it."""
    json_type = {"content-type": "application/json"}
    if kind == "response":
        return user_detail_answer("response", arg, rule_id, max_bytes=max_bytes)
    if kind == "not_json":
        return UserDetailResponse(200, {"content-type": "text/html"}, b"<html>simulated: not a JWKS</html>")
    if kind == "no_keys":
        return UserDetailResponse(200, json_type, b'{"keys": []}')
    assert kind == "keys_swapped"
    return UserDetailResponse(200, json_type, json.dumps({"keys": [_swapped_key(rule_id)]}).encode())


@functools.lru_cache(maxsize=16)
def _swapped_key(rule_id: str) -> dict[str, str]:
    """A public key nobody signs with: the partner's real keys are gone from its JWKS."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, str] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": f"swapped-by-fault-{rule_id}", "use": "sig", "alg": "RS256"}


def user_detail_answer(
    kind: str, arg: Any, rule_id: str, email_field: str = DEFAULT_EMAIL_FIELD, max_bytes: int = MAX_BODY_BYTES
) -> UserDetailResponse:
    """The answer a user-detail rule stands in for, built as the HTTP reader would have read it."""
    json_type = {"content-type": "application/json"}
    if kind == "response":
        headers = {name.lower(): value for name, value in arg["headers"].items()}
        body = arg.get("body")
        if "body" not in arg:
            raw = b""
        elif isinstance(body, str):
            raw = body.encode()
            headers.setdefault("content-type", "text/plain; charset=utf-8")
        else:
            raw = json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
        return _capped(arg["status"], headers, raw, max_bytes)
    if kind == "email":
        document: Any = arg
        for segment in reversed(email_field.split(".")):
            document = {segment: document}
        return UserDetailResponse(200, json_type, json.dumps(document).encode())
    if kind == "no_email":
        return UserDetailResponse(200, json_type, json.dumps({"user": {"name": "No Email"}}).encode())
    if kind == "not_json":
        return UserDetailResponse(200, {"content-type": "text/plain"}, b"simulated: this body is not JSON")
    if kind == "html_error":
        page = _HTML_PAGE.format(status=arg, rule=rule_id).encode()
        return UserDetailResponse(arg, {"content-type": "text/html; charset=utf-8"}, page)
    if kind == "redirect":
        return UserDetailResponse(302, {"location": arg}, b"")
    assert kind == "oversized"
    padding = b"x" * (max_bytes + 1024)
    return _capped(200, json_type, b'{"user": {"email": "oversized@example.com", "padding": "' + padding + b'"}}', max_bytes)


def _capped(status: int, headers: Mapping[str, str], body: bytes, max_bytes: int) -> UserDetailResponse:
    """As the real reader keeps it: cut at the read cap and flagged, so the size check fires the same way."""
    if len(body) > max_bytes:
        return UserDetailResponse(status, headers, body[:max_bytes], truncated=True)
    return UserDetailResponse(status, headers, body)
