"""Command-line flags and ``SPOTNANA_SIM_*`` environment variables applied over a config file.

Precedence: flags > environment > file. Both sources go through :func:`apply_overrides`, with the
value checks of :mod:`spotnana_sim.core.validators`; a bad value is a :class:`ConfigError` that
names the flag (``--port``) or the variable (``SPOTNANA_SIM_PORT``) it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from spotnana_sim.core import validators as value_checks
from spotnana_sim.core.redaction import shorten
from spotnana_sim.core.settings import ClientConfig, ConfigError, Settings

ENVIRONMENT_PREFIX = "SPOTNANA_SIM_"
# Variable suffix -> the apply_overrides argument it sets. CONFIG is read by the caller (the file
# comes first); CLIENTS and PROFILES are comma-separated lists.
ENVIRONMENT_VARIABLES: dict[str, str] = {
    "HOST": "host",
    "PORT": "port",
    "CLIENTS": "clients",
    "PROFILES": "profiles",
    "USER_DETAIL_URL": "user_detail_url",
    "ISSUER": "issuer",
    "ERRORS": "errors",
    "ADMIN_TOKEN": "admin_token",
}
CONFIG_VARIABLE = ENVIRONMENT_PREFIX + "CONFIG"


def flag_name(argument: str) -> str:
    singular = {"clients": "client", "profiles": "profile", "admin_hosts": "admin_host",
                "embed_origins": "embed_origin"}  # repeatable flags
    return "--" + singular.get(argument, argument).replace("_", "-")


def environment_name(argument: str) -> str:
    suffix = next(key for key, value in ENVIRONMENT_VARIABLES.items() if value == argument)
    return ENVIRONMENT_PREFIX + suffix


def overrides_from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """``apply_overrides`` arguments from the ``SPOTNANA_SIM_*`` variables that are set and not empty."""
    known = {ENVIRONMENT_PREFIX + suffix for suffix in ENVIRONMENT_VARIABLES} | {CONFIG_VARIABLE}
    for name in environ:
        if name.startswith(ENVIRONMENT_PREFIX) and name not in known:
            accepted = ", ".join(sorted(known))
            raise ConfigError(name, f"unknown variable{value_checks.did_you_mean(name, sorted(known))}; accepted: {accepted}",
                              "environment")
    arguments: dict[str, Any] = {}
    for suffix, argument in ENVIRONMENT_VARIABLES.items():
        raw = environ.get(ENVIRONMENT_PREFIX + suffix, "")
        if raw == "":
            continue
        if argument == "port":
            arguments[argument] = _environment_port(raw)
        elif argument in ("clients", "profiles"):
            arguments[argument] = [item.strip() for item in raw.split(",") if item.strip()]
        else:
            arguments[argument] = raw
    return arguments


def _environment_port(raw: str) -> int | str:
    try:
        return int(raw)
    except ValueError:
        return raw  # the port check then says what is accepted, naming the variable


def apply_overrides(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | str | None = None,
    user_detail_url: str | None = None,
    user_detail_ca: str | Path | None = None,
    user_detail_insecure: bool = False,
    identity: str | None = None,
    jwks_url: str | None = None,
    clients: Sequence[str] = (),
    profiles: Sequence[str] = (),
    email_field: str | None = None,
    errors: str | None = None,
    issuer: str | None = None,
    admin_token: str | None = None,
    admin_hosts: Sequence[str] = (),
    forwarded_allow_ips: str | None = None,
    embed_origins: Sequence[str] = (),
    embed_port: int | str | None = None,
    name: Callable[[str], str] = flag_name,
) -> Settings:
    """Settings with flags (or, with ``name=environment_name``, variables) applied over them.

    ``clients`` are ``ID:SECRET`` strings (split on the first colon, so a secret may hold colons).
    One whose id is already configured replaces that client's secret and keeps its other settings
    (grants, URL, mapping, timeout), so a file can be committed without its secret and CI can inject
    it; other clients are added. ``user_detail_url``, ``user_detail_ca``, ``email_field``,
    ``identity`` and ``jwks_url`` apply to every effective client, the demo client included.
    ``profiles`` replace the file's list.
    ``embed_origins`` are added to the embedded app's allowed origins (the default or the file's).
    """

    def check(validate: Callable[[Any], Any], value: Any, argument: str) -> Any:
        try:
            return validate(value)
        except value_checks.Invalid as exc:
            raise ConfigError(name(argument), str(exc)) from None

    changes: dict[str, Any] = {}
    if host is not None:
        changes["host"] = check(value_checks.host, host, "host")
    if port is not None:
        changes["port"] = check(value_checks.port, port, "port")
    if errors is not None:
        changes["errors"] = check(value_checks.dialect, errors, "errors")
    if admin_token is not None:
        changes["admin_token"] = check(value_checks.admin_token, admin_token, "admin_token")
    if admin_hosts:
        changes["admin_hosts"] = tuple(sorted({*settings.admin_hosts, *check(value_checks.host_names, list(admin_hosts), "admin_hosts")}))
    if forwarded_allow_ips is not None:
        changes["forwarded_allow_ips"] = check(value_checks.nonempty_string, forwarded_allow_ips, "forwarded_allow_ips")
    if issuer is not None:
        changes["tokens"] = replace(settings.tokens, issuer=check(value_checks.http_url, issuer, "issuer"))
    if user_detail_insecure:
        changes["user_detail"] = replace(settings.user_detail, verify_tls=False)
    if profiles:
        changes["profiles"] = tuple(check(value_checks.email, p, "profiles") for p in profiles)
    embed: dict[str, Any] = {}
    if embed_origins:
        added = [check(value_checks.origin, origin, "embed_origins") for origin in embed_origins]
        embed["allowed_origins"] = tuple(dict.fromkeys((*settings.embed.allowed_origins, *added)))
    if embed_port is not None:
        embed["port"] = check(value_checks.port, embed_port, "embed_port")
    if embed:
        changes["embed"] = replace(settings.embed, **embed)

    patch: dict[str, Any] = {}
    if user_detail_url is not None:
        patch["user_detail_url"] = check(value_checks.http_url, user_detail_url, "user_detail_url")
    if email_field is not None:
        patch["email_field"] = check(value_checks.email_field, email_field, "email_field")
    if user_detail_ca is not None:
        patch["ca_file"] = Path(check(value_checks.readable_file, str(user_detail_ca), "user_detail_ca"))
    if identity is not None:
        patch["identity"] = check(value_checks.identity, identity, "identity")
    if jwks_url is not None:
        patch["jwks_url"] = check(value_checks.http_url, jwks_url, "jwks_url")
        patch.setdefault("identity", "jwt")
    effective = list(settings.clients)
    if clients:
        effective = _merge_clients(effective, clients, name("clients"))
    if patch:
        # Materialise the demo client when nothing is configured, so the flags reach it too.
        effective = [replace(client, **patch) for client in (effective or settings.effective_clients())]
    changes["clients"] = tuple(effective)
    return replace(settings, **changes)


def _merge_clients(configured: list[ClientConfig], given: Sequence[str], key: str) -> list[ClientConfig]:
    merged = list(configured)
    position = {client.client_id: i for i, client in enumerate(merged)}
    seen: set[str] = set()
    for text in given:
        client_id, secret = _parse_client(text, key)
        if client_id in seen:
            raise ConfigError(key, f"client id {client_id!r} given twice")
        seen.add(client_id)
        if client_id in position:
            i = position[client_id]
            merged[i] = replace(merged[i], client_secret=secret)
        else:
            position[client_id] = len(merged)
            merged.append(ClientConfig(client_id, secret))
    return merged


def _parse_client(text: Any, key: str) -> tuple[str, str]:
    # Never echo the value: without its colon the whole value may be a secret.
    if not isinstance(text, str):
        raise ConfigError(key, f"must be ID:SECRET, got {type(text).__name__}")
    client_id, colon, secret = text.partition(":")
    if not colon:
        raise ConfigError(key, "must be ID:SECRET (no ':' found)")
    if not client_id.strip():
        raise ConfigError(key, "must be ID:SECRET with a non-empty ID")
    if not secret:
        raise ConfigError(key, f"must be ID:SECRET with a non-empty SECRET (client {shorten(client_id)!r})")
    try:
        return value_checks.client_id(client_id), secret
    except value_checks.Invalid as exc:
        raise ConfigError(key, str(exc)) from None
