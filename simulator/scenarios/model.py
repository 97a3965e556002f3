"""The scenario model: what a loaded scenario file is, and how a step's request is built from it.

A scenario (one YAML file in ``scenarios/``, format in ``scenarios/scenario.schema.json``) names
itself, says whether its expected outcome is documented by Spotnana or modeled by us, sets up config
overrides and fault rules, then runs steps: a request described *relative to a valid default
token request* (omit, set, repeat fields; headers, content type, raw body, method, path) and what
must come back. ``loader`` builds these objects from files; nothing here reads a file or sends a request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    FORM_CONTENT_TYPE,
    OPENID_SCOPE,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.settings import JWT_IDENTITY
from spotnana_sim.scenarios.placeholders import (
    API_TOKENS,
    COMPANY_ID,
    PARTNER,
    PARTNER_JWKS_URL,
    is_partner_jwt,
    substitute,
    substitute_all,
)

DOCUMENTED = "documented"
MODELED = "modeled"
SOURCES = (DOCUMENTED, MODELED)
JSON_CONTENT_TYPE = "application/json"

GRANTS = {"token-exchange": TOKEN_EXCHANGE_GRANT, "client_credentials": CLIENT_CREDENTIALS_GRANT}
DEFAULT_FORMS: dict[str, tuple[tuple[str, str], ...]] = {
    "token-exchange": (
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("client_id", "${client_id}"),
        ("client_secret", "${client_secret}"),
        ("subject_token", "${subject_token}"),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("scope", OPENID_SCOPE),
    ),
    "client_credentials": (
        ("grant_type", CLIENT_CREDENTIALS_GRANT),
        ("client_id", "${client_id}"),
        ("client_secret", "${client_secret}"),
    ),
}
# Config sections a scenario may override: the TOML file's keys, minus [server] (replay owns it)
# and [[faults]] (a scenario's faults are its own top-level list), plus ``client``, a patch of
# the client the steps use (so a scenario never restates a secret).
CONFIG_SECTIONS = ("errors", "tokens", "journal", "profiles", "clients", "client")
CLIENT_PATCH_KEYS = (
    "grants", "user_detail_url", "email_field", "timeout",
    "identity", "jwks_url", "audience", "issuer", "email_claim", "leeway", "subject_token_types", "keys",
)
CONNECTION_BROKEN = "broken"


@dataclass(frozen=True)
class RequestSpec:
    """A request: by default a token request, relative to the default valid request of ``grant``."""

    grant: str = "token-exchange"
    form: tuple[tuple[str, str], ...] | None = None  # replaces the default form entirely (recorded files)
    omit: tuple[str, ...] = ()
    set: tuple[tuple[str, str], ...] = ()
    repeat: tuple[tuple[str, tuple[str, ...]], ...] = ()  # field -> every value sent, in order
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = FORM_CONTENT_TYPE  # None: no Content-Type header at all
    body: str | None = None  # sent as is instead of the encoded form
    json: Any = None  # a mapping or list sent as JSON instead of the form (placeholders filled inside)
    method: str = "POST"
    path: str = TOKEN_ENDPOINT_PATH

    def form_pairs(self, values: Mapping[str, str]) -> list[tuple[str, str]]:
        pairs = list(self.form if self.form is not None else DEFAULT_FORMS[self.grant])
        omitted = set(self.omit)
        pairs = [(k, v) for k, v in pairs if k not in omitted]
        for name, value in self.set:
            if any(k == name for k, _ in pairs):
                pairs = [(k, value if k == name else v) for k, v in pairs]
            else:
                pairs.append((name, value))
        for name, repeated in self.repeat:
            position = next((i for i, (k, _) in enumerate(pairs) if k == name), len(pairs))
            pairs = [p for p in pairs if p[0] != name]
            pairs[position:position] = [(name, v) for v in repeated]
        return [(k, substitute(v, values)) for k, v in pairs]

    def build(self, values: Mapping[str, str]) -> BuiltRequest:
        if self.json is not None:
            body = json.dumps(substitute_all(self.json, values)).encode()
        elif self.body is not None:
            body = substitute(self.body, values).encode()
        else:
            body = urlencode(self.form_pairs(values)).encode()
        headers = {k: substitute(v, values) for k, v in self.headers}
        if self.content_type is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = self.content_type
        return BuiltRequest(method=self.method, path=substitute(self.path, values), headers=headers, body=body)


@dataclass(frozen=True)
class BuiltRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class UserDetailExpectation:
    calls: int | None = None
    status: int | None = None  # status of the last call
    error_contains: str | None = None  # substring of the last call's recorded error
    authorization: str | None = None  # exact Authorization header the simulator sent (in-process only)


@dataclass(frozen=True)
class Expectation:
    status: int | None = None
    error_code: str | None = None  # Spotnana dialect: errorMessages[0].errorCode
    error: str | None = None  # rfc6749 dialect: error
    error_parameter: str | None = None  # a name in errorMessages[0].errorParameters
    connection: str | None = None  # "broken": the client must see the connection fail
    json: bool | None = None  # whether the body must (true) or must not (false) parse as JSON
    body: tuple[tuple[str, Any], ...] = ()  # top-level field -> matcher
    headers: tuple[tuple[str, Any], ...] = ()
    claims: tuple[tuple[str, Any], ...] = ()  # access-token claims -> matcher
    user_detail: UserDetailExpectation | None = None


@dataclass(frozen=True)
class Step:
    name: str
    request: RequestSpec
    expect: Expectation


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    source: str  # DOCUMENTED or MODELED
    steps: tuple[Step, ...]
    config: Mapping[str, Any] = field(default_factory=dict)
    faults: tuple[Mapping[str, Any], ...] = ()
    file: str = ""
    placeholders: frozenset[str] = frozenset()  # every ${name} the file uses

    def unfilled(self, values: Mapping[str, str]) -> list[str]:
        """The placeholders this scenario uses that ``values`` does not fill, as written (``${subject_token_3}``)."""
        return ["${" + name + "}" for name in sorted(self.placeholders) if name not in values]

    def uses(self, *names: str) -> bool:
        return any(name in self.placeholders for name in names)

    @property
    def partner_jwts(self) -> list[str]:
        """The ``partner_jwt`` placeholders used, each a token to sign before the first step."""
        return sorted(name for name in self.placeholders if is_partner_jwt(name))

    @property
    def in_process_config(self) -> tuple[str, ...]:
        """Config sections only an in-process simulator can take (the admin API cannot set them)."""
        return tuple(k for k in self.config if k != "client")

    @property
    def client_patch(self) -> Mapping[str, Any]:
        patch: Mapping[str, Any] = self.config.get("client") or {}
        return patch

    @property
    def registers_partner_key(self) -> bool:
        """``client: {identity: jwt}`` without ``jwks_url`` or ``keys``: the run's partner identity
        provider's key is registered for the client's company before the first step."""
        patch = self.client_patch
        return patch.get("identity") == JWT_IDENTITY and "jwks_url" not in patch and "keys" not in patch

    @property
    def needs_partner(self) -> bool:
        """Whether the run's partner identity provider takes part (its key, JWKS or tokens)."""
        return self.registers_partner_key or self.uses(*PARTNER) or bool(self.partner_jwts)

    @property
    def serves_partner_jwks(self) -> bool:
        return self.uses(PARTNER_JWKS_URL)

    @property
    def needs_api_tokens(self) -> bool:
        return self.uses(*API_TOKENS, COMPANY_ID)

    @property
    def needs_journal(self) -> bool:
        return any(s.expect.user_detail is not None for s in self.steps)

    @property
    def needs_callback_headers(self) -> bool:
        return any(s.expect.user_detail is not None and s.expect.user_detail.authorization for s in self.steps)
