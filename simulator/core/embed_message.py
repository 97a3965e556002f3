"""How the stand-in embedded app judges a message its parent posted: the documented
TOKEN_EXCHANGE_RESPONSE, a malformed one (each mistake named precisely), or someone else's message.

One implementation for the page (through ``POST /_embed/handshake``) and for ``check frontend``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from spotnana_sim.core.embed import (
    ERROR_TYPE,
    MAX_TOKEN_CHARS,
    REQUEST_TYPE,
    RESPONSE_TYPE,
)
from spotnana_sim.core.errors import EmbedMessageMalformed
from spotnana_sim.core.redaction import redact, shorten

__all__ = ["RESPONSE_MALFORMED", "RESPONSE_OK", "UNRELATED", "MessageVerdict", "classify_exchange_message", "message_view"]

RESPONSE_OK = "response"
RESPONSE_MALFORMED = "malformed"
UNRELATED = "unrelated"
_SHAPE = '{"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"accessToken": "…", "refreshToken": "…"}}'
_PAYLOAD_SHAPE = '{"accessToken": "…", "refreshToken": "…"}'
_TOKEN_FIELDS = ("accessToken", "refreshToken")
_TOKENISH = {"accesstoken", "refreshtoken", "token", "tokens", "idtoken"}


@dataclass(frozen=True)
class MessageVerdict:
    """``kind`` is RESPONSE_OK, RESPONSE_MALFORMED (``problems`` say why) or UNRELATED (not an answer)."""

    kind: str
    problems: tuple[str, ...] = ()
    extra_keys: tuple[str, ...] = ()  # keys beyond the documented shape (allowed, but not documented)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)

    @property
    def explanation(self) -> str:
        return ". ".join(self.problems)

    def error(self) -> EmbedMessageMalformed:
        return EmbedMessageMalformed(self.problems)


def _squash(key: str) -> str:
    return re.sub(r"[^a-z]", "", key.lower())


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _key(key: str) -> str:
    return shorten(key, 40)


def _is_attempt(data: dict[str, Any]) -> bool:
    """Whether a message from the parent is meant as the answer (else it is someone else's message)."""
    kind = data.get("type")
    if isinstance(kind, str) and "tokenexchange" in _squash(kind) and kind not in (REQUEST_TYPE, ERROR_TYPE):
        return True
    return "payload" in data or any(_squash(k) in _TOKENISH for k in data)


def classify_exchange_message(data: object) -> MessageVerdict:
    """Judge a message the parent posted to the iframe, naming each mistake precisely."""
    if isinstance(data, str):
        if not any(hint in data for hint in ("TOKEN_EXCHANGE", "ccessToken", "access_token", "efreshToken")):
            return MessageVerdict(UNRELATED)
        problem = f"the message is a string; postMessage the object itself, {_SHAPE}, not a string"
        try:
            if isinstance(json.loads(data), dict):
                problem += " (it is JSON: drop the JSON.stringify)"
        except ValueError:
            pass
        return MessageVerdict(RESPONSE_MALFORMED, (problem,))
    if not isinstance(data, dict) or not _is_attempt(data):
        return MessageVerdict(UNRELATED)

    problems: list[str] = []
    extras = [_key(k) for k in data if k not in ("type", "payload")]
    kind = data.get("type")
    if "type" not in data:
        problems.append(f'type is missing; it must be "{RESPONSE_TYPE}"')
    elif not isinstance(kind, str):
        problems.append(f'type must be the string "{RESPONSE_TYPE}", got {_kind(kind)}')
    elif kind == REQUEST_TYPE:
        problems.append(f'type is "{REQUEST_TYPE}", the iframe\'s request; the answer\'s type is "{RESPONSE_TYPE}"')
    elif kind != RESPONSE_TYPE:
        same_words = _squash(kind) == _squash(RESPONSE_TYPE)
        problems.append(
            f'type is "{_key(kind)}"; it must be exactly "{RESPONSE_TYPE}"' + (" (upper case, underscores)" if same_words else "")
        )

    tokens: dict[str, str] = {}
    payload = data.get("payload")
    if "payload" not in data:
        top = [k for k in data if _squash(k) in _TOKENISH]
        if top:
            problems.append(f"payload is missing; found {_key(top[0])} at the top level — put the tokens inside payload: {_SHAPE}")
        else:
            problems.append(f"payload is missing; it must be an object {_PAYLOAD_SHAPE}")
    elif isinstance(payload, str):
        problems.append(f"payload is a string; it must be an object {_PAYLOAD_SHAPE} (do not JSON.stringify it)")
    elif not isinstance(payload, dict):
        problems.append(f"payload must be an object {_PAYLOAD_SHAPE}, got {_kind(payload)}")
    else:
        extras += [f"payload.{_key(k)}" for k in payload if k not in _TOKEN_FIELDS]
        for name in _TOKEN_FIELDS:
            mistake = _token_field_problem(payload, name)
            if mistake:
                problems.append(mistake)
            else:
                tokens[name] = payload[name]
    if problems:
        return MessageVerdict(RESPONSE_MALFORMED, tuple(problems), tuple(extras))
    return MessageVerdict(
        RESPONSE_OK, (), tuple(extras), access_token=tokens["accessToken"], refresh_token=tokens["refreshToken"]
    )


def _token_field_problem(payload: dict[str, Any], name: str) -> str | None:
    where = f"payload.{name}"
    if name in payload:
        value = payload[name]
        if not isinstance(value, str):
            return f"{where} must be a string, got {_kind(value)}"
        if not value.strip():
            return f"{where} is empty"
        if value.lower().startswith("bearer "):
            return f'{where} starts with "Bearer "; send the token alone'
        if len(value) > MAX_TOKEN_CHARS:
            return f"{where} is {len(value)} characters long; no token of this simulator is longer than {MAX_TOKEN_CHARS}"
        return None
    twins = [k for k in payload if _squash(k) == _squash(name)]
    if twins and "_" in twins[0]:
        return f"{where} is missing; found {_key(twins[0])} — the embed protocol uses camelCase"
    if twins:
        return f"{where} is missing; found {_key(twins[0])} — the names are case-sensitive: use {name}"
    if payload:
        return f"{where} is missing; payload has: {', '.join(_key(k) for k in list(payload)[:10])}"
    return f"{where} is missing"


def message_view(data: object, *, depth: int = 0, key: str | None = None) -> Any:
    """What the journal may keep of a message: its shape, with every string but ``type``/``from`` redacted."""
    if isinstance(data, str):
        return shorten(data, 80) if key in ("type", "from") else redact(data)
    if data is None or isinstance(data, (bool, int, float)):
        return data
    if depth >= 4:
        return "…"
    if isinstance(data, list):
        return [message_view(v, depth=depth + 1) for v in data[:5]]
    if isinstance(data, dict):
        return {_key(str(k)): message_view(v, depth=depth + 1, key=str(k)) for k, v in list(data.items())[:20]}
    return _kind(data)
