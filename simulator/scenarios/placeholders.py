"""Placeholders: the ``${...}`` that stand, in a scenario file, for what is only known when it runs.

Secrets never live in scenario files, and neither does anything made per run (an access token, a
partner's signed JWT, the port its JWKS is served on). Names:

* ``client_id``, ``client_secret``, ``subject_token`` and ``subject_token_2``, ``subject_token_3``…
  (more users' tokens; ``record`` writes one per user);
* ``client_token``: an access token of the scenario's client (``client_credentials``, got before the
  first step); ``tmc_admin_token``: the same for a ``TMC_ADMIN`` API user the runner sets up;
* ``company_id``: the client's company (its ``org_id``);
* ``partner_kid``, ``partner_jwks`` (the public JWK Set, as JSON text), ``partner_jwks_url``: the run's
  partner identity provider (identity model B);
* ``partner_jwt``: a subject JWT that provider signed for the default user, and
  ``partner_jwt:OPTIONS`` one made to order, e.g. ``${partner_jwt:email=grace@example.com,exp=-120}``
  (the options: :data:`JWT_OPTIONS`).

This module is text only: which names exist, what a ``partner_jwt`` recipe asks for, filling strings
in. Who fills the values is ``scenarios.setup`` (and the runners).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from spotnana_sim.core.validators import did_you_mean

CLIENT_TOKEN = "client_token"
TMC_ADMIN_TOKEN = "tmc_admin_token"
COMPANY_ID = "company_id"
PARTNER_KID = "partner_kid"
PARTNER_JWKS = "partner_jwks"
PARTNER_JWKS_URL = "partner_jwks_url"
PARTNER_JWT = "partner_jwt"

CREDENTIALS = ("client_id", "client_secret", "subject_token")
API_TOKENS = (CLIENT_TOKEN, TMC_ADMIN_TOKEN)
PARTNER = (PARTNER_KID, PARTNER_JWKS, PARTNER_JWKS_URL, PARTNER_JWT)
PLACEHOLDERS = (*CREDENTIALS, *API_TOKENS, COMPANY_ID, *PARTNER)
# Placeholders whose values are credentials: never shown whole in a failure message.
SECRET_PLACEHOLDERS = ("client_secret", "subject_token", *API_TOKENS, PARTNER_JWT)

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_NUMBERED_SUBJECT_TOKEN = re.compile(r"subject_token_([2-9]|[1-9][0-9]+)")
KNOWN_PLACEHOLDERS_TEXT = (
    "${client_id}, ${client_secret}, ${subject_token}, ${subject_token_N} (N = 2, 3…), ${client_token}, "
    "${tmc_admin_token}, ${company_id}, ${partner_kid}, ${partner_jwks}, ${partner_jwks_url}, ${partner_jwt}, "
    "${partner_jwt:OPTIONS}"
)

# ------------------------------------------------------------------------ ${partner_jwt:OPTIONS}

TIME_CLAIMS = ("exp", "iat", "nbf")  # whole seconds from now: exp=-120, iat=+300
TEXT_CLAIMS = ("email", "sub", "aud", "iss", "jti", "name")
ALGORITHMS = ("RS256", "HS256", "none")
SIGNATURES = ("bad",)
CLAIM_PREFIX = "claim."  # claim.upn=… sets any other claim
JWT_OPTIONS = (*TEXT_CLAIMS, *TIME_CLAIMS, "omit", "alg", "kid", "signature", CLAIM_PREFIX + "NAME")
_CLAIM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")
_SECONDS = re.compile(r"[+-]?[0-9]{1,10}")


class PlaceholderError(ValueError):
    """A placeholder that cannot be filled; the message says what is wrong and what is accepted."""


@dataclass(frozen=True)
class PartnerJwtRecipe:
    """What ``${partner_jwt:OPTIONS}`` asks for; the defaults make the token a valid one."""

    claims: tuple[tuple[str, str], ...] = ()  # claim -> text, replacing or adding
    times: tuple[tuple[str, int], ...] = ()  # exp/iat/nbf -> seconds from now
    omit: tuple[str, ...] = ()  # claims left out
    alg: str = "RS256"
    kid: str | None = None  # the header's kid; None: the provider's own
    bad_signature: bool = False  # a signature that does not verify (the right kid, the wrong bytes)


def parse_partner_jwt(name: str) -> PartnerJwtRecipe:
    """The recipe of ``partner_jwt`` or ``partner_jwt:OPTIONS``; raises :class:`PlaceholderError`."""
    head, colon, options = name.partition(":")
    if head != PARTNER_JWT:
        raise PlaceholderError(f"{name!r} is not a partner_jwt placeholder")
    if not colon:
        return PartnerJwtRecipe()
    if not options.strip():
        raise PlaceholderError("no options after 'partner_jwt:'; write ${partner_jwt} for a valid token, or "
                               "options such as ${partner_jwt:email=grace@example.com,exp=-120}")
    claims: dict[str, str] = {}
    times: dict[str, int] = {}
    omit: list[str] = []
    alg, kid, bad_signature = "RS256", None, False
    seen: set[str] = set()
    for item in (part.strip() for part in options.split(",")):
        option, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not option:
            raise PlaceholderError(f"{item!r} is not name=value; options are separated by commas, "
                                   "e.g. ${partner_jwt:aud=other,exp=-120}")
        if option in seen and option != "omit":
            raise PlaceholderError(f"{option} is given twice")
        seen.add(option)
        if option in TIME_CLAIMS:
            if not _SECONDS.fullmatch(value):
                raise PlaceholderError(f"{option}={value!r}: {option} takes whole seconds from now, "
                                       f"e.g. {option}=-120 (two minutes ago) or {option}=+300")
            times[option] = int(value)
        elif option in TEXT_CLAIMS:
            claims[option] = value
        elif option.startswith(CLAIM_PREFIX) and _CLAIM_NAME.fullmatch(option[len(CLAIM_PREFIX):]):
            claims[option[len(CLAIM_PREFIX):]] = value
        elif option == "omit":
            if not _CLAIM_NAME.fullmatch(value):
                raise PlaceholderError(f"omit={value!r}: name the claim to leave out, e.g. omit=email")
            omit.append(value)
        elif option == "alg":
            if value not in ALGORITHMS:
                raise PlaceholderError(f"alg={value!r}: must be one of {', '.join(ALGORITHMS)}{did_you_mean(value, ALGORITHMS)}")
            alg = value
        elif option == "kid":
            if not value:
                raise PlaceholderError("kid= needs a value: the kid the header names")
            kid = value
        elif option == "signature":
            if value not in SIGNATURES:
                raise PlaceholderError(f"signature={value!r}: the one value is 'bad' (a signature that does not verify)")
            bad_signature = True
        else:
            raise PlaceholderError(f"unknown option {option!r}{did_you_mean(option, JWT_OPTIONS)}; "
                                   f"options: {', '.join(JWT_OPTIONS)}")
    clash = set(omit) & (set(claims) | set(times))
    if clash:
        raise PlaceholderError(f"{', '.join(sorted(clash))} is both set and omitted")
    return PartnerJwtRecipe(claims=tuple(claims.items()), times=tuple(times.items()), omit=tuple(omit), alg=alg,
                            kid=kid, bad_signature=bad_signature)


# ---------------------------------------------------------------------------------------- names


def is_partner_jwt(name: str) -> bool:
    return name == PARTNER_JWT or name.startswith(PARTNER_JWT + ":")


def placeholder_problem(name: str) -> str | None:
    """What is wrong with ``${name}``, or None when it is a placeholder the runners fill."""
    if name in PLACEHOLDERS or _NUMBERED_SUBJECT_TOKEN.fullmatch(name):
        return None
    if name.startswith(PARTNER_JWT + ":"):
        try:
            parse_partner_jwt(name)
        except PlaceholderError as exc:
            return f"${{{name}}}: {exc}"
        return None
    return f"unknown placeholder {'${' + name + '}'!r}{did_you_mean(name, PLACEHOLDERS)}; known: {KNOWN_PLACEHOLDERS_TEXT}"


def is_placeholder(name: str) -> bool:
    return placeholder_problem(name) is None


def subject_token_placeholder(number: int) -> str:
    """The placeholder name for the ``number``-th user's subject token (1: ``subject_token``)."""
    return "subject_token" if number == 1 else f"subject_token_{number}"


def users_needed(names: Iterable[str]) -> int:
    """How many users' subject tokens these placeholders need (``subject_token_3`` → 3)."""
    return max([1] + [int(n.rsplit("_", 1)[1]) for n in names if _NUMBERED_SUBJECT_TOKEN.fullmatch(n)])


def placeholders_used(value: Any) -> set[str]:
    """Every placeholder name in every string inside ``value``."""
    if isinstance(value, str):
        return {match.group(1) for match in PLACEHOLDER.finditer(value)}
    if isinstance(value, Mapping):
        return set().union(*(placeholders_used(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(placeholders_used(v) for v in value)) if value else set()
    return set()


def placeholder_problems(value: Any, path: str = "") -> Iterable[tuple[str, str]]:
    """(path, problem) for every placeholder in ``value`` that is not one the runners fill."""
    if isinstance(value, str):
        for match in PLACEHOLDER.finditer(value):
            problem = placeholder_problem(match.group(1))
            if problem:
                yield path, problem
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from placeholder_problems(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from placeholder_problems(v, f"{path}[{i}]")


# -------------------------------------------------------------------------------------- filling


def substitute(text: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def substitute_all(value: Any, values: Mapping[str, str]) -> Any:
    """``value`` with every placeholder in every string inside it filled in."""
    if isinstance(value, str):
        return substitute(value, values)
    if isinstance(value, Mapping):
        return {k: substitute_all(v, values) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [substitute_all(v, values) for v in value]
    return value


def sample_values(names: Iterable[str]) -> dict[str, str]:
    """Stand-ins for checking a file when it loads: the faults engine and the config rules see
    real-looking strings (a URL where a URL goes)."""
    values = {"client_id": "scenario-client", "client_secret": "scenario-secret", "subject_token": "scenario-token",
              CLIENT_TOKEN: "scenario.client.token", TMC_ADMIN_TOKEN: "scenario.tmc.token",
              COMPANY_ID: "00000000-0000-4000-8000-000000000000", PARTNER_KID: "scenario-kid",
              PARTNER_JWKS: '{"keys": []}', PARTNER_JWKS_URL: "http://partner-idp.invalid/.well-known/jwks.json"}
    for name in names:
        values.setdefault(name, "scenario-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
    return values
