"""Settings for the simulator: the objects, loading them from TOML, and command-line overrides.

The file layout (``examples/simulator.toml`` is a full commented example)::

    profiles = ["ada@example.com", ...]       # top-level: the emails Spotnana has profiles for

    [server]     host, port, admin_token
    [tokens]     lifetime, refresh_lifetime, algorithm ("RS256" | "ES256"), key_file, issuer
    [errors]     dialect = "spotnana" | "rfc6749"
    [errors.modeled.<row key>]   status = 404, errorCode = "PROFILE_MISSING"   (modeled rows only)
    [journal]    size

    [[clients]]  id, secret, grants, user_detail_url, email_field, timeout   (one table per client)
    [[faults]]   any keys; kept as plain dicts and validated by the faults module

Every key is checked: an unknown key, a wrong type or an out-of-range value raises
:class:`ConfigError`, whose text names the file, the key (``clients[0].timeout``, indexes from 0)
and the problem. A typo must stop start-up, never be silently ignored. Secrets (client secrets,
the admin token) never appear in an error message or a ``repr``.

Command-line flags override the file through :func:`apply_overrides`, with the same checks and
the flag named as the key (``--port: must be ...``).
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from spotnana_sim.core import validators as value_checks
from spotnana_sim.core.validators import ALGORITHMS, DEFAULT_EMAIL_FIELD, MAX_TIMEOUT  # re-exported
from spotnana_sim.core.errors import ERROR_TABLE, SPOTNANA
from spotnana_sim.core.protocol import CLIENT_CREDENTIALS_GRANT, SUPPORTED_GRANTS, TOKEN_EXCHANGE_GRANT
from spotnana_sim.core.redaction import redact, shorten

__all__ = [
    "ALGORITHMS",
    "CLIENT_CREDENTIALS_GRANT",
    "DEFAULT_EMAIL_FIELD",
    "DEFAULT_TIMEOUT",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "MAX_TIMEOUT",
    "TOKEN_EXCHANGE_GRANT",
    "ClientConfig",
    "ConfigError",
    "Settings",
    "TokenConfig",
    "apply_overrides",
    "load_settings",
]

# Only for the embedded demo (`make run` prints them); a configured client list replaces it.
DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"
DEFAULT_TIMEOUT = 5.0  # modeled: Spotnana's real user-detail timeout is not public
# The modeled rows of the error table: the only ones a config may re-answer (fidelity policy 2).
MODELED_ERROR_ROWS = tuple(key for key, row in ERROR_TABLE.items() if row.modeled)
ERROR_OVERRIDE_FIELDS = ("status", "errorCode")


class ConfigError(Exception):
    """A configuration value the simulator cannot run with.

    ``str()`` reads ``"<source>: <key>: <problem>"``, e.g.
    ``sim.toml: clients[1].timeout: must be a positive number of seconds, got 'abc'``;
    ``source`` is the config file (``None`` for command-line flags, whose key is the flag) and
    ``key`` is empty for problems with the file as a whole (missing, TOML syntax).
    """

    def __init__(self, key: str, problem: str, source: str | None = None) -> None:
        # The args are the constructor's, so the error survives pickling (multiprocessing workers).
        super().__init__(key, problem, source)
        self.key = key
        self.problem = problem
        self.source = source

    def __str__(self) -> str:
        return ": ".join(part for part in (self.source, self.key, self.problem) if part)


@dataclass(frozen=True)
class ClientConfig:
    """One API client allowed at the token endpoint, and how its users' identities are checked."""

    client_id: str
    client_secret: str
    grants: frozenset[str] = frozenset(SUPPORTED_GRANTS)
    user_detail_url: str | None = None  # None → the embedded reference user-detail API
    email_field: str = DEFAULT_EMAIL_FIELD  # dotted path into the user-detail JSON
    timeout: float = DEFAULT_TIMEOUT  # seconds for the user-detail callback

    def __post_init__(self) -> None:
        # Callers building clients in code may pass a set or list; equality and hashing need a frozenset.
        object.__setattr__(self, "grants", frozenset(self.grants))

    def __repr__(self) -> str:  # the dataclass default would print the secret
        url = value_checks.redact_url(self.user_detail_url) if self.user_detail_url else None
        return (
            f"ClientConfig(client_id={self.client_id!r}, client_secret={redact(self.client_secret)!r}, "
            f"grants={sorted(self.grants)!r}, user_detail_url={url!r}, "
            f"email_field={self.email_field!r}, timeout={self.timeout!r})"
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
        return any(client.user_detail_url is None for client in self.effective_clients())

    def __repr__(self) -> str:  # the dataclass default would print the admin token
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "admin_token" and value is not None:
                value = redact(value)
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"


# ---------------------------------------------------------------------------------------------
# Loading


def settings_from_document(document: dict[str, Any], source: str, folder: Path | None = None) -> Settings:
    """Settings from an already-parsed document (a scenario's ``config`` section), checked like a file.

    ``source`` names the document in error messages; relative paths resolve against ``folder``.
    """
    return _Loader(source, folder or Path.cwd()).settings(document)


def load_settings(path: Path) -> Settings:
    """Read and check a TOML config file. Raises :class:`ConfigError` naming the key and the problem."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read the config file: {exc.strerror or exc}", source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"not UTF-8 text (byte {exc.start})", source) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)"; keep it, it is what editors jump to.
        raise ConfigError("", f"TOML syntax error: {exc}", source) from None
    return _Loader(source, Path(path).absolute().parent).settings(document)


_TOP_LEVEL_KEYS = (
    "server", "tokens", "user_detail", "rate_limit", "errors", "journal", "profiles", "clients", "faults",
)
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "server": ("host", "port", "admin_token"),
    "tokens": ("lifetime", "refresh_lifetime", "algorithm", "key_file", "issuer"),
    "errors": ("dialect", "modeled"),
    "journal": ("size",),
    "user_detail": ("max_body_bytes", "rejecting_statuses", "email_match"),
    "rate_limit": ("requests", "per_seconds"),
}
_CLIENT_KEYS = ("id", "secret", "grants", "user_detail_url", "email_field", "timeout")


class _Loader:
    """Turns one parsed TOML document into Settings; every failure names ``source`` and the key."""

    def __init__(self, source: str, folder: Path) -> None:
        self.source = source
        self.folder = folder  # relative paths in the file are relative to the file, not the cwd

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(key, problem, self.source)

    def settings(self, document: dict[str, Any]) -> Settings:
        self.check_keys(document, _TOP_LEVEL_KEYS, "", "the top level")
        server = self.section(document, "server")
        tokens = self.section(document, "tokens")
        errors = self.section(document, "errors")
        journal = self.section(document, "journal")
        user_detail = self.section(document, "user_detail")
        rate_limit = self.section(document, "rate_limit")
        values: dict[str, Any] = self.checked(
            server, "server", {"host": value_checks.host, "port": value_checks.port, "admin_token": value_checks.admin_token}
        )
        if "profiles" in document:
            values["profiles"] = self.profiles(document["profiles"])
        values["clients"] = self.clients(document.get("clients", []))
        values["tokens"] = self.tokens(tokens)
        values["user_detail"] = self.user_detail(user_detail)
        if rate_limit:
            values["rate_limit"] = self.rate_limit(rate_limit)
        if "dialect" in errors:
            values["errors"] = _check(value_checks.dialect, errors["dialect"], "errors.dialect", self.source)
        values["error_overrides"] = self.error_overrides(errors.get("modeled", {}))
        if "size" in journal:
            values["journal_size"] = _check(value_checks.positive_count, journal["size"], "journal.size", self.source)
        values["faults"] = self.faults(document.get("faults", []))
        return Settings(**values)

    def check_keys(self, table: Mapping[str, Any], accepted: Sequence[str], prefix: str, where: str) -> None:
        for name in table:
            if name in accepted:
                continue
            problem = "unknown key"
            close = difflib.get_close_matches(name, accepted, n=1)
            if close:
                problem += f" (did you mean {close[0]!r}?)"
            elif prefix and name in _TOP_LEVEL_KEYS:
                # A top-level key written after a [table] header lands inside that table.
                problem += f" ({name!r} belongs at the top level, above the first [table] header)"
            problem += f"; accepted keys in {where}: {', '.join(accepted)}"
            raise self.fail(prefix + name, problem)

    def section(self, document: Mapping[str, Any], name: str) -> dict[str, Any]:
        table = document.get(name, {})
        if not isinstance(table, dict):
            raise self.fail(name, f"must be a table ([{name}]), got {value_checks.shown(table)}")
        self.check_keys(table, _SECTION_KEYS[name], f"{name}.", f"[{name}]")
        return table

    def user_detail(self, table: Mapping[str, Any]) -> UserDetailPolicy:
        return UserDetailPolicy(**self.checked(table, "user_detail", {
            "max_body_bytes": value_checks.body_bytes,
            "rejecting_statuses": value_checks.rejecting_statuses,
            "email_match": value_checks.email_match,
        }))

    def checked(self, table: Mapping[str, Any], prefix: str, checks: Mapping[str, Callable[[Any], Any]]) -> dict[str, Any]:
        """The keys of ``table`` that ``checks`` names, each run through its check (errors name ``prefix.key``)."""
        return {name: _check(check, table[name], f"{prefix}.{name}", self.source)
                for name, check in checks.items() if name in table}

    def rate_limit(self, table: Mapping[str, Any]) -> RateLimitConfig:
        for name in ("requests", "per_seconds"):
            if name not in table:
                raise self.fail(f"rate_limit.{name}", "is required when [rate_limit] is given")
        return RateLimitConfig(
            requests=_check(value_checks.positive_count, table["requests"], "rate_limit.requests", self.source),
            per_seconds=_check(value_checks.timeout_like, table["per_seconds"], "rate_limit.per_seconds", self.source),
        )

    def tokens(self, table: Mapping[str, Any]) -> TokenConfig:
        values = self.checked(table, "tokens", {
            "lifetime": value_checks.seconds_int,
            "refresh_lifetime": value_checks.seconds_int,
            "algorithm": value_checks.algorithm,
            "key_file": self.key_file,
            "issuer": value_checks.http_url,
        })
        return TokenConfig(**values)

    def key_file(self, value: Any) -> Path:
        text = value_checks.nonempty_string(value)
        key_path = Path(text).expanduser()
        return key_path if key_path.is_absolute() else self.folder / key_path

    def profiles(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail("profiles", f"must be a list of email addresses, got {value_checks.shown(value)}")
        return tuple(_check(value_checks.email, item, f"profiles[{i}]", self.source) for i, item in enumerate(value))

    def clients(self, value: Any) -> tuple[ClientConfig, ...]:
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.fail("clients", f"must be an array of tables ([[clients]]), got {value_checks.shown(value)}")
        clients: list[ClientConfig] = []
        first_index: dict[str, int] = {}
        for i, table in enumerate(value):
            prefix = f"clients[{i}]."
            self.check_keys(table, _CLIENT_KEYS, prefix, "[[clients]]")
            for required in ("id", "secret"):
                if required not in table:
                    raise self.fail(prefix + required, "missing; every [[clients]] table needs an id and a secret")
            client_id = _check(value_checks.client_id, table["id"], prefix + "id", self.source)
            if client_id in first_index:
                raise self.fail(
                    prefix + "id", f"duplicate client id {client_id!r} (also clients[{first_index[client_id]}])"
                )
            first_index[client_id] = i
            values: dict[str, Any] = {
                "client_id": client_id,
                "client_secret": _check(value_checks.secret, table["secret"], prefix + "secret", self.source),
            }
            if "grants" in table:
                values["grants"] = _check(value_checks.grants, table["grants"], prefix + "grants", self.source)
            if "user_detail_url" in table:
                values["user_detail_url"] = _check(
                    value_checks.http_url, table["user_detail_url"], prefix + "user_detail_url", self.source
                )
            if "email_field" in table:
                values["email_field"] = _check(value_checks.email_field, table["email_field"], prefix + "email_field", self.source)
            if "timeout" in table:
                values["timeout"] = _check(value_checks.timeout, table["timeout"], prefix + "timeout", self.source)
            clients.append(ClientConfig(**values))
        return tuple(clients)

    def error_overrides(self, value: Any) -> Mapping[str, Mapping[str, Any]]:
        if not isinstance(value, dict):
            raise self.fail("errors.modeled", f"must be a table of error rows, got {value_checks.shown(value)}")
        overrides: dict[str, Mapping[str, Any]] = {}
        for row_key, change in value.items():
            key = f"errors.modeled.{row_key}"
            row = ERROR_TABLE.get(row_key)
            if row is None:
                close = difflib.get_close_matches(row_key, MODELED_ERROR_ROWS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(
                    key, f"unknown error row{hint}; modeled rows: {', '.join(MODELED_ERROR_ROWS)}"
                )
            if not row.modeled:
                raise self.fail(
                    key,
                    f"documented by Spotnana ({row.documented}), so it cannot be overridden; "
                    f"modeled rows: {', '.join(MODELED_ERROR_ROWS)}",
                )
            if not isinstance(change, dict):
                raise self.fail(key, f"must be a table with status and/or errorCode, got {value_checks.shown(change)}")
            self.check_keys(change, ERROR_OVERRIDE_FIELDS, key + ".", f"[{key}]")
            if not change:
                raise self.fail(key, "empty; set status and/or errorCode")
            checked: dict[str, Any] = {}
            if "status" in change:
                checked["status"] = _check(value_checks.error_status, change["status"], key + ".status", self.source)
            if "errorCode" in change:
                checked["errorCode"] = _check(value_checks.error_code, change["errorCode"], key + ".errorCode", self.source)
            overrides[row_key] = MappingProxyType(checked)
        return MappingProxyType(overrides)

    def faults(self, value: Any) -> tuple[dict[str, Any], ...]:
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.fail("faults", f"must be an array of tables ([[faults]]), got {value_checks.shown(value)}")
        from spotnana_sim.core.fault_rules import FaultRuleError, check_rules  # late import: fault_rules imports config

        try:
            check_rules(value)
        except FaultRuleError as exc:
            raise ConfigError(exc.path, exc.problem, self.source) from None
        return tuple(value)


# ---------------------------------------------------------------------------------------------
# Command-line overrides


def apply_overrides(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    user_detail_url: str | None = None,
    clients: Sequence[str] = (),
    profiles: Sequence[str] = (),
    email_field: str | None = None,
    errors: str | None = None,
    admin_token: str | None = None,
) -> Settings:
    """Settings with command-line flags applied over the file's values.

    ``clients`` are ``ID:SECRET`` strings (split on the first colon, so a secret may hold colons).
    A flag client whose id is already configured replaces that client's secret and keeps its other
    settings (grants, URL, mapping, timeout), so a file can be committed without its secret and
    CI can inject it; other flag clients are added. ``user_detail_url`` and ``email_field`` apply
    to every effective client, flag clients and the demo client included. ``profiles`` replace
    the file's list.
    """
    changes: dict[str, Any] = {}
    if host is not None:
        changes["host"] = _check(value_checks.host, host, "--host")
    if port is not None:
        changes["port"] = _check(value_checks.port, port, "--port")
    if errors is not None:
        changes["errors"] = _check(value_checks.dialect, errors, "--errors")
    if admin_token is not None:
        changes["admin_token"] = _check(value_checks.admin_token, admin_token, "--admin-token")
    if profiles:
        changes["profiles"] = tuple(_check(value_checks.email, p, "--profile") for p in profiles)

    url = _check(value_checks.http_url, user_detail_url, "--user-detail-url") if user_detail_url is not None else None
    mapping = _check(value_checks.email_field, email_field, "--email-field") if email_field is not None else None
    effective = list(settings.clients)
    if clients:
        effective = _merge_flag_clients(effective, clients)
    if url is not None or mapping is not None:
        # Materialise the demo client when nothing is configured, so the flags reach it too.
        effective = list(effective or settings.effective_clients())
        patch: dict[str, Any] = {}
        if url is not None:
            patch["user_detail_url"] = url
        if mapping is not None:
            patch["email_field"] = mapping
        effective = [replace(client, **patch) for client in effective]
    changes["clients"] = tuple(effective)
    return replace(settings, **changes)


def _merge_flag_clients(configured: list[ClientConfig], flags: Sequence[str]) -> list[ClientConfig]:
    merged = list(configured)
    position = {client.client_id: i for i, client in enumerate(merged)}
    seen: set[str] = set()
    for flag in flags:
        client_id, secret = _parse_client_flag(flag)
        if client_id in seen:
            raise ConfigError("--client", f"client id {client_id!r} given twice")
        seen.add(client_id)
        if client_id in position:
            i = position[client_id]
            merged[i] = replace(merged[i], client_secret=secret)
        else:
            position[client_id] = len(merged)
            merged.append(ClientConfig(client_id, secret))
    return merged


def _parse_client_flag(flag: Any) -> tuple[str, str]:
    # Never echo the flag: without its colon the whole value may be a secret.
    if not isinstance(flag, str):
        raise ConfigError("--client", f"must be ID:SECRET, got {type(flag).__name__}")
    client_id, colon, secret = flag.partition(":")
    if not colon:
        raise ConfigError("--client", "must be ID:SECRET (no ':' found)")
    if not client_id.strip():
        raise ConfigError("--client", "must be ID:SECRET with a non-empty ID")
    if not secret:
        raise ConfigError("--client", f"must be ID:SECRET with a non-empty SECRET (client {shorten(client_id)!r})")
    return _check(value_checks.client_id, client_id, "--client"), secret


def _check(validate: Callable[[Any], Any], value: Any, key: str, source: str | None = None) -> Any:
    try:
        return validate(value)
    except value_checks.Invalid as exc:
        raise ConfigError(key, str(exc), source) from None
