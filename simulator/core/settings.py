"""What the simulator is configured with: immutable objects, checked where they are built.

Where settings come from, one validation path each (``spotnana_sim.core.validators`` holds the
value checks and their messages):

* a TOML file or a scenario's ``config`` section: ``spotnana_sim.core.config_file``;
* command-line flags and ``SPOTNANA_SIM_*`` environment variables: ``spotnana_sim.core.overrides``;
* the admin API's ``POST /_sim/clients``: ``config_file.client_from_table`` as well.

Secrets (client secrets, the admin token) never appear in an error message or a ``repr``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from spotnana_sim.core.embed_config import EmbedConfig
from spotnana_sim.core.error_table import ERROR_TABLE, SPOTNANA
from spotnana_sim.core.protocol import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, SUPPORTED_GRANTS
from spotnana_sim.core.redaction import redact, redact_url
from spotnana_sim.core.validators import (
    ALGORITHMS,
    COMPANY_ADMIN,
    DEFAULT_EMAIL_FIELD,
    MAX_TIMEOUT,
    ROLES,
    TMC_ADMIN,
    ConfigError,
)

__all__ = [
    "ALGORITHMS",
    "COMPANY_ADMIN",
    "DEFAULT_EMAIL_FIELD",
    "DEFAULT_TIMEOUT",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "MAX_TIMEOUT",
    "ROLES",
    "TMC_ADMIN",
    "ClientConfig",
    "ConfigError",
    "EmbedConfig",
    "RateLimitConfig",
    "Settings",
    "TokenConfig",
    "UserDetailPolicy",
]

# Only for the embedded demo (`make run` prints them); a configured client list replaces it.
DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"
DEFAULT_TIMEOUT = 5.0  # modeled: Spotnana's real user-detail timeout is not public

# uuid5 namespace for org_id_for_client; never change it: every process must derive the same org.
ORG_NAMESPACE = uuid.UUID("c4f9b1d0-ac1b-505a-9c1f-567a74ae6df4")  # = uuid5(NAMESPACE_URL, "urn:spotnana-sim:org")


USER_DETAIL_IDENTITY = "user-detail"  # model A: Spotnana calls the partner's get-user-detail API
JWT_IDENTITY = "jwt"  # model B: the partner signs an RS256 JWT holding the email
IDENTITY_MODELS = (USER_DETAIL_IDENTITY, JWT_IDENTITY)
DEFAULT_JWT_AUDIENCE = "spotnana"  # Spotnana's example payload (modeled as the expected aud)
DEFAULT_EMAIL_CLAIM = "email"  # Spotnana's example payload
DEFAULT_JWT_LEEWAY = 60.0  # modeled
# Spotnana documents only the access_token type; model-B clients also take the JWT type (modeled).
JWT_SUBJECT_TOKEN_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE)


def org_id_for_client(client_id: str) -> str:
    """Modeled: a client's org when its config sets none, a UUID stable across processes and restarts."""
    return str(uuid.uuid5(ORG_NAMESPACE, client_id))
# The modeled rows of the error table: the only ones a config may re-answer (fidelity policy 2).
MODELED_ERROR_ROWS = tuple(key for key, row in ERROR_TABLE.items() if row.modeled)
ERROR_OVERRIDE_FIELDS = ("status", "errorCode")


@dataclass(frozen=True)
class ClientConfig:
    """One API client allowed at the token endpoint, and how its users' identities are checked."""

    client_id: str
    client_secret: str
    grants: frozenset[str] = frozenset(SUPPORTED_GRANTS)
    user_detail_url: str | None = None  # None → the embedded reference user-detail API
    email_field: str = DEFAULT_EMAIL_FIELD  # dotted path into the user-detail JSON
    timeout: float = DEFAULT_TIMEOUT  # seconds for the user-detail callback
    ca_file: Path | None = None  # PEM bundle trusted for an https user-detail URL (None: the system's)
    org_id: str = ""  # the client's company (a UUID); empty → derived from client_id (org_id_for_client)
    role: str = COMPANY_ADMIN  # COMPANY_ADMIN, or TMC_ADMIN (may manage API users and any company's keys)
    # Identity model B: the subject token is a JWT the partner signed (FACTS §3).
    identity: str = USER_DETAIL_IDENTITY  # "user-detail" (model A) or "jwt" (model B); jwks_url implies "jwt"
    jwks_url: str | None = None  # the partner's JWKS; None → only keys registered through the keys API
    audience: str = DEFAULT_JWT_AUDIENCE  # the aud expected in subject JWTs (modeled, as Spotnana's example)
    jwt_issuer: str | None = None  # the iss expected in subject JWTs; None → not checked
    email_claim: str = DEFAULT_EMAIL_CLAIM  # dotted path of the email in the subject JWT's claims
    jwt_leeway: float = DEFAULT_JWT_LEEWAY  # modeled: seconds of clock skew allowed on exp and iat
    subject_token_types: frozenset[str] = frozenset()  # empty → the identity model's (accepted_subject_token_types)
    keys: tuple[Mapping[str, Any], ...] = ()  # public JWKs registered for this client's company at start

    def __post_init__(self) -> None:
        # Callers building clients in code may pass a set or list; equality and hashing need a frozenset.
        object.__setattr__(self, "grants", frozenset(self.grants))
        if not self.org_id:
            object.__setattr__(self, "org_id", org_id_for_client(self.client_id))
        if self.jwks_url and self.identity == USER_DETAIL_IDENTITY:
            object.__setattr__(self, "identity", JWT_IDENTITY)
        object.__setattr__(self, "subject_token_types", frozenset(self.subject_token_types))
        object.__setattr__(self, "keys", tuple(self.keys))

    @property
    def accepted_subject_token_types(self) -> frozenset[str]:
        """The subject_token_type values this client may send: configured, or its identity model's."""
        if self.subject_token_types:
            return self.subject_token_types
        return frozenset(JWT_SUBJECT_TOKEN_TYPES if self.identity == JWT_IDENTITY else (ACCESS_TOKEN_TYPE,))

    def __repr__(self) -> str:  # the dataclass default would print the secret
        url = redact_url(self.user_detail_url) if self.user_detail_url else None
        return (
            f"ClientConfig(client_id={self.client_id!r}, client_secret={redact(self.client_secret)!r}, "
            f"grants={sorted(self.grants)!r}, user_detail_url={url!r}, "
            f"email_field={self.email_field!r}, timeout={self.timeout!r}, ca_file={self.ca_file!r}, "
            f"org_id={self.org_id!r}, role={self.role!r}, identity={self.identity!r}, "
            f"jwks_url={redact_url(self.jwks_url) if self.jwks_url else None!r})"
        )


@dataclass(frozen=True)
class TokenConfig:
    """How the simulator's own tokens are made."""

    lifetime: int = 3600  # expires_in; Spotnana documents 3600 (S1, S6)
    refresh_lifetime: int = 30 * 86400  # modeled: Spotnana does not publish it
    algorithm: str = "RS256"
    key_file: Path | None = None  # PEM; None → a key generated at start
    issuer: str | None = None  # None → derived from the server's own URL at start


EMAIL_MATCHES = ("case-insensitive", "exact")


@dataclass(frozen=True)
class UserDetailPolicy:
    """How the user-detail answer is judged: all modeled (Spotnana does not document it), one place."""

    max_body_bytes: int = 64 * 1024  # how much of the answer is read
    rejecting_statuses: frozenset[int] = frozenset({401, 403})  # answers meaning "this token is not a user"
    email_match: str = "case-insensitive"  # how the email is compared with profile emails
    verify_tls: bool = True  # False only with --user-detail-insecure; the banner and journal say so
    connection_limit: int = 100  # open connections to user-detail APIs at once, all clients together


@dataclass(frozen=True)
class RateLimitConfig:
    """Modeled: Spotnana rate-limits the endpoint but publishes no numbers, so it is off by default."""

    requests: int  # per client_id, within...
    per_seconds: float  # ...this many seconds, refilled evenly


@dataclass(frozen=True)
class Settings:
    """Everything the simulator is configured with. Immutable: overrides make a new one."""

    host: str = "127.0.0.1"
    port: int = 8080
    clients: tuple[ClientConfig, ...] = ()  # empty → the demo client (see effective_clients)
    profiles: tuple[str, ...] | None = None  # None → no profile source configured
    tokens: TokenConfig = TokenConfig()
    user_detail: UserDetailPolicy = UserDetailPolicy()
    rate_limit: RateLimitConfig | None = None  # None: no limit (the default; see RateLimitConfig)
    errors: str = SPOTNANA  # the error dialect, one of errors.DIALECTS
    error_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    journal_size: int = 1000
    faults: tuple[Mapping[str, Any], ...] = ()  # raw [[faults]] tables, validated by the faults module
    admin_token: str | None = None
    admin_hosts: tuple[str, ...] = ()  # Host names the admin API answers besides loopback ones
    forwarded_allow_ips: str | None = None  # proxies whose X-Forwarded-For is believed; None: none
    embed: EmbedConfig = EmbedConfig()  # the stand-in embedded app ([embed]: allowed origins, second port, ...)

    def __post_init__(self) -> None:
        # Accept lists from callers building settings in code; the fields stay tuples.
        object.__setattr__(self, "clients", tuple(self.clients))
        if self.profiles is not None:
            object.__setattr__(self, "profiles", tuple(self.profiles))
        object.__setattr__(self, "faults", tuple(self.faults))

    def effective_clients(self) -> tuple[ClientConfig, ...]:
        """The configured clients, or the demo client when none is configured."""
        return self.clients or (ClientConfig(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),)

    def uses_embedded_user_detail(self) -> bool:
        """Whether some client relies on the in-process reference user-detail API."""
        return any(client.identity == USER_DETAIL_IDENTITY and client.user_detail_url is None
                   for client in self.effective_clients())

    def __repr__(self) -> str:  # the dataclass default would print the admin token
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "admin_token" and value is not None:
                value = redact(value)
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"


