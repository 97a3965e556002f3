"""One journal entry: the contract between what answers a request and everything that reads about it.

The endpoint writes entries; the admin API serves them (``to_json``); the testing handle, the client
grader, ``record``, ``replay``, the scenario judge and the dashboard read them; the OpenAPI schema and
the docs' journal reference are derived from these dataclasses. Secrets appear only redacted.

Entries also read like the JSON they serve (``entry["email"]``, ``entry.get("status")``), which is how
tests written against the journal's JSON keep working.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH

TOKEN = "token"  # a request to the token endpoint
EMBED = "embed"  # a step of the embedded app's postMessage handshake
KINDS = (TOKEN, EMBED)


def doc(text: str, default: Any = None, *, default_factory: Any = None) -> Any:
    """A field with its description, which the OpenAPI schema and the docs show."""
    if default_factory is not None:
        return field(default_factory=default_factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


@dataclass
class UserDetailCall:
    """One call to the partner's user-detail API made while answering the request."""

    url: str = doc("the URL called, userinfo and query values redacted", "")
    status: int | None = doc("the HTTP status it answered; null when no answer came")
    elapsed_ms: float = doc("how long the call took", 0.0)
    error: str | None = doc("why the answer was not accepted, when it was not")
    fault_id: str | None = doc("the fault rule that stood in for the API, if one fired")


@dataclass
class JournalEntry(Mapping[str, Any]):
    """One request the simulator answered (``kind`` token) or one embedded-app handshake step (embed)."""

    id: int = doc("1, 2, …: the order requests arrived in; never reused until reset", 0)
    kind: str = doc("token: a token-endpoint request; embed: an embedded-app handshake step", TOKEN)
    timestamp: float = doc("the simulator's clock when the request arrived (Unix seconds)", 0.0)
    time: str = doc("the same instant in ISO 8601, UTC", "")
    method: str = doc("the HTTP method", "POST")
    path: str = doc("the path requested", TOKEN_ENDPOINT_PATH)
    content_type: str | None = doc("the Content-Type sent")
    client_id: str | None = doc("client_id as sent (before authentication)")
    grant_type: str | None = doc("grant_type as sent")
    form: dict[str, list[str]] = doc("every form field and its values, secret ones redacted", default_factory=dict)
    query_fields: dict[str, list[str]] = doc("fields sent in the URL's query string, secret ones redacted",
                                             default_factory=dict)
    user_detail_calls: list[UserDetailCall] = doc("the user-detail calls made, in order", default_factory=list)
    user_detail_tls_verified: bool = doc("false when started with --user-detail-insecure", True)
    fault_id: str | None = doc("the token-endpoint fault rule that fired, if any")
    status: int | None = doc("the HTTP status answered; null when a connection fault broke the connection")
    error_code: str | None = doc("the errorCode (spotnana dialect) or error (rfc6749) answered, or connection:<kind>")
    connection_fault: str | None = doc("the connection fault that fired instead of an answer")
    elapsed_ms: float = doc("time spent answering", 0.0)
    retry_after: str | None = doc("the Retry-After header answered, if any")
    debug_identifier: str | None = doc("the debugIdentifier of an error answer (spotnana dialect)")
    email: str | None = doc("the email the identity check produced")
    subject: str | None = doc("the sub of the issued access token")
    jti: str | None = doc("the jti of the issued access token")
    expires_at: int | None = doc("the exp of the issued access token")
    partner_jwt: dict[str, Any] | None = doc("model B: the subject JWT's header and claims (signature redacted) and "
                                            "the key that verified it")
    embed: dict[str, Any] | None = doc("kind embed: the handshake step, its origin and outcome (tokens redacted)")

    # ------------------------------------------------------------------ the JSON it is served as

    def to_json(self) -> dict[str, Any]:
        # Built by hand, not with dataclasses.asdict: that deep-copies every value, and the journal
        # sizes each entry on the token endpoint's path. Callers must not mutate what they get.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["user_detail_calls"] = [_call_json(call) for call in self.user_detail_calls]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JournalEntry:
        """An entry read back from JSON (a saved journal); unknown keys are ignored, missing ones default."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        calls = values.get("user_detail_calls") or []
        call_fields = {f.name for f in dataclasses.fields(UserDetailCall)}
        values["user_detail_calls"] = [
            UserDetailCall(**{k: v for k, v in call.items() if k in call_fields})
            for call in calls if isinstance(call, Mapping)
        ]
        for name in ("form", "query_fields"):
            if not isinstance(values.get(name), dict):
                values[name] = {}
        return cls(**values)

    def size_estimate(self) -> int:
        """About the bytes of the entry as compact JSON, from the lengths of its variable texts.

        Measured rather than encoded: encoding every entry to JSON to size it cost the token endpoint
        a few percent of its time (make bench), and the bound only has to keep memory in check.
        """
        size = _FIXED_JSON_BYTES
        for text in (self.time, self.content_type, self.client_id, self.grant_type, self.fault_id, self.error_code,
                     self.connection_fault, self.retry_after, self.debug_identifier, self.email, self.subject,
                     self.jti):
            if text:
                size += len(text)
        size += _fields_size(self.form) + _fields_size(self.query_fields)
        for call in self.user_detail_calls:
            size += _CALL_JSON_BYTES + len(call.url) + len(call.error or "") + len(call.fault_id or "")
        for extra in (self.partner_jwt, self.embed):
            if extra:
                size += len(_COMPACT.encode(extra))
        return size

    # ------------------------------------------------------------------ read like the JSON

    def __getitem__(self, key: str) -> Any:
        if key not in _FIELD_NAMES:
            raise KeyError(key)
        value = getattr(self, key)
        if key == "user_detail_calls":
            return [_call_json(call) for call in value]
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELD_NAMES)

    def __len__(self) -> int:
        return len(_FIELD_NAMES)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(JournalEntry))


# Compact JSON of the keys and the fixed-size values of an entry, and of one user-detail call.
_FIXED_JSON_BYTES = 560
_CALL_JSON_BYTES = 80
# One encoder for the rare nested views; ensure_ascii keeps characters and bytes equal.
_COMPACT = json.JSONEncoder(separators=(",", ":"), default=str)


def _fields_size(fields: dict[str, list[str]]) -> int:
    return sum(len(name) + 6 + sum(len(value) + 3 for value in values) for name, values in fields.items())


def _call_json(call: UserDetailCall) -> dict[str, Any]:
    return {"url": call.url, "status": call.status, "elapsed_ms": call.elapsed_ms, "error": call.error,
            "fault_id": call.fault_id}
