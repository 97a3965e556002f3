"""Settings from a TOML file or an already-parsed document, every key checked.

The file layout (``examples/simulator.toml`` is a full commented example)::

    profiles = ["ada@example.com", ...]       # top-level: the emails Spotnana has profiles for

    [server]     host, port, admin_token, admin_hosts, forwarded_allow_ips
    [tokens]     lifetime, refresh_lifetime, algorithm ("RS256" | "ES256"), key_file, issuer
    [user_detail]  max_body_bytes, rejecting_statuses, email_match, verify_tls, connection_limit
    [rate_limit] requests, per_seconds
    [errors]     dialect = "spotnana" | "rfc6749"
    [errors.modeled.<row key>]   status = 404, errorCode = "PROFILE_MISSING"   (modeled rows only)
    [journal]    size
    [embed]      allowed_origins, port, handshake_timeout, token_check_interval, request_target,
                 check_refresh_token   (the stand-in embedded app)

    [[clients]]  id, secret, grants, user_detail_url, email_field, timeout, ca_file
    [[faults]]   fault rules, validated by spotnana_sim.core.fault_rules

An unknown key, a wrong type or an out-of-range value raises :class:`ConfigError`, whose text names
the source, the key (``clients[0].timeout``, indexes from 0) and the problem: a typo must stop
start-up, never be silently ignored. The admin API checks a client with :func:`client_from_table`,
so it accepts exactly what a ``[[clients]]`` table accepts, with the same messages.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from spotnana_sim.core import validators as value_checks
from spotnana_sim.core.embed_config import EmbedConfig
from spotnana_sim.core.error_table import ERROR_TABLE
from spotnana_sim.core.fault_rules import FaultRuleError, check_rules
from spotnana_sim.core.partner_jwt import PartnerKey
from spotnana_sim.core.settings import (
    ClientConfig,
    ConfigError,
    RateLimitConfig,
    Settings,
    TokenConfig,
    UserDetailPolicy,
)

# The modeled rows of the error table: the only ones a config may re-answer (fidelity policy 2).
MODELED_ERROR_ROWS = tuple(key for key, row in ERROR_TABLE.items() if row.modeled)
ERROR_OVERRIDE_FIELDS = ("status", "errorCode")


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
    "embed",
)
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "server": ("host", "port", "admin_token", "admin_hosts", "forwarded_allow_ips"),
    "tokens": ("lifetime", "refresh_lifetime", "algorithm", "key_file", "issuer"),
    "errors": ("dialect", "modeled"),
    "journal": ("size",),
    "user_detail": ("max_body_bytes", "rejecting_statuses", "email_match", "verify_tls", "connection_limit"),
    "rate_limit": ("requests", "per_seconds"),
    "embed": ("allowed_origins", "port", "handshake_timeout", "token_check_interval", "request_target",
              "check_refresh_token"),
}
CLIENT_KEYS = (
    "id", "secret", "grants", "user_detail_url", "email_field", "timeout", "ca_file", "org_id", "role",
    "identity", "jwks_url", "audience", "issuer", "email_claim", "leeway", "subject_token_types", "keys", "jwks_file",
)


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
        values: dict[str, Any] = self.checked(server, "server", {
            "host": value_checks.host, "port": value_checks.port, "admin_token": value_checks.admin_token,
            "admin_hosts": value_checks.host_names, "forwarded_allow_ips": value_checks.nonempty_string,
        })
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
        values["embed"] = self.embed(self.section(document, "embed"))
        return Settings(**values)

    def check_keys(self, table: Mapping[str, Any], accepted: Sequence[str], prefix: str, where: str) -> None:
        _check_keys(table, accepted, prefix, where, self.source)

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
            "verify_tls": value_checks.boolean,
            "connection_limit": value_checks.connection_limit,
        }))

    def embed(self, table: Mapping[str, Any]) -> EmbedConfig:
        values = self.checked(table, "embed", {
            "allowed_origins": value_checks.origins,
            "port": value_checks.port,
            "handshake_timeout": value_checks.handshake_timeout,
            "token_check_interval": value_checks.token_check_interval,
            "request_target": value_checks.request_target,
            "check_refresh_token": value_checks.boolean,
        })
        try:
            return EmbedConfig(**values)
        except ValueError as exc:  # every key was checked above; this is a backstop with the same rules
            raise self.fail("embed", str(exc)) from None

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
        return _path(value, self.folder)

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
            client = client_from_table(table, prefix=prefix, source=self.source, folder=self.folder)
            if client.client_id in first_index:
                raise self.fail(
                    prefix + "id", f"duplicate client id {client.client_id!r} (also clients[{first_index[client.client_id]}])"
                )
            first_index[client.client_id] = i
            clients.append(client)
        return tuple(clients)

    def error_overrides(self, value: Any) -> Mapping[str, Mapping[str, Any]]:
        if not isinstance(value, dict):
            raise self.fail("errors.modeled", f"must be a table of error rows, got {value_checks.shown(value)}")
        overrides: dict[str, Mapping[str, Any]] = {}
        for row_key, change in value.items():
            key = f"errors.modeled.{row_key}"
            row = ERROR_TABLE.get(row_key)
            if row is None:
                hint = value_checks.did_you_mean(row_key, MODELED_ERROR_ROWS)
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
        try:
            check_rules(value)
        except FaultRuleError as exc:
            raise ConfigError(exc.path, exc.problem, self.source) from None
        return tuple(value)




def _path(value: Any, folder: Path) -> Path:
    """A file path; relative ones are relative to the folder of the file that names them."""
    path = Path(value_checks.nonempty_string(value)).expanduser()
    return path if path.is_absolute() else folder / path


def _check_keys(table: Mapping[str, Any], accepted: Sequence[str], prefix: str, where: str, source: str | None) -> None:
    for name in table:
        if name in accepted:
            continue
        hint = value_checks.did_you_mean(str(name), accepted)
        problem = "unknown key" + hint
        if not hint and prefix and name in _TOP_LEVEL_KEYS:
            # A top-level key written after a [table] header lands inside that table.
            problem += f" ({name!r} belongs at the top level, above the first [table] header)"
        problem += f"; accepted keys in {where}: {', '.join(accepted)}"
        raise ConfigError(prefix + str(name), problem, source)


def client_from_table(
    table: Mapping[str, Any],
    *,
    prefix: str = "",
    source: str | None = None,
    folder: Path | None = None,
    base: ClientConfig | None = None,
) -> ClientConfig:
    """One client from a ``[[clients]]`` table or an admin-API body, every value checked.

    With ``base`` (a client being changed at run time) only the keys given change, and ``secret``
    may be left out; without it ``id`` and ``secret`` are required.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(prefix.rstrip(".") or "client", f"must be a table of client settings, got {value_checks.shown(table)}", source)
    _check_keys(table, CLIENT_KEYS, prefix, "[[clients]]", source)
    required = ("id",) if base is not None else ("id", "secret")
    for name in required:
        if name not in table:
            raise ConfigError(prefix + name, "missing; every [[clients]] table needs an id and a secret", source)
    checks: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "id": ("client_id", value_checks.client_id),
        "secret": ("client_secret", value_checks.secret),
        "grants": ("grants", value_checks.grants),
        "user_detail_url": ("user_detail_url", value_checks.http_url),
        "email_field": ("email_field", value_checks.email_field),
        "timeout": ("timeout", value_checks.timeout),
        "ca_file": ("ca_file", lambda value: _path(value, folder or Path.cwd())),
        "org_id": ("org_id", value_checks.org_id),
        "role": ("role", value_checks.role),
        "identity": ("identity", value_checks.identity),
        "jwks_url": ("jwks_url", value_checks.http_url),
        "audience": ("audience", value_checks.nonempty_string),
        "issuer": ("jwt_issuer", value_checks.nonempty_string),
        "email_claim": ("email_claim", value_checks.email_field),
        "leeway": ("jwt_leeway", value_checks.leeway),
        "subject_token_types": ("subject_token_types", value_checks.subject_token_types),
    }
    values = {attr: _check(check, table[name], prefix + name, source)
              for name, (attr, check) in checks.items() if name in table}
    keys = [*_public_jwks(table.get("keys", []), prefix + "keys", source)]
    if "jwks_file" in table:
        keys += _jwks_file(table["jwks_file"], prefix + "jwks_file", source, folder or Path.cwd())
    if keys:
        values["keys"] = tuple(keys)
    if base is not None:
        values.pop("client_id")
        return replace(base, **values)
    return ClientConfig(**values)


def _check(validate: Callable[[Any], Any], value: Any, key: str, source: str | None = None) -> Any:
    try:
        return validate(value)
    except value_checks.Invalid as exc:
        raise ConfigError(key, str(exc), source) from None


def _public_jwks(value: Any, key: str, source: str | None) -> list[dict[str, Any]]:
    """Public RSA signing keys to register at start: each checked as the keys API checks a POST."""
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise ConfigError(key, f"must be an array of JWK tables ([[clients.keys]]), got {value_checks.shown(value)}", source)
    for index, jwk in enumerate(value):
        try:
            PartnerKey.from_jwk(jwk, "config", strict=True)
        except ValueError as exc:
            raise ConfigError(f"{key}[{index}]", str(exc), source) from None
    return [dict(jwk) for jwk in value]


def _jwks_file(value: Any, key: str, source: str | None, folder: Path) -> list[dict[str, Any]]:
    path = _path(value, folder)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror or exc}", source) from None
    except ValueError as exc:
        raise ConfigError(key, f"{path} is not JSON: {exc}", source) from None
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ConfigError(key, f'{path} must be a JWKS: {{"keys": [...]}}', source)
    return _public_jwks(document["keys"], f"{key} keys", source)
