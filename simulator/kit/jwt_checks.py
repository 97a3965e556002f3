"""Grades the partner's side of identity model B: its JWKS and, when given, a sample subject JWT.

Spotnana documents (FACTS.md §3) that the partner publishes a JWKS (RFC 7517) over HTTPS without
authentication with a ``kid`` on every key, and signs RS256 JWTs whose ``kid`` names one of those
keys and whose payload holds the user's email (example: ``aud`` "spotnana", ``exp`` one hour after
``iat``). The checks judge exactly that; what goes beyond it (cache headers, the one-hour lifetime
advice, refusing a JWKS with private parts) is *modeled* and the messages say so. The key rules are
the simulator's own (:func:`spotnana_sim.core.partner_jwt.jwk_problems`), so a green report means
the simulator will accept these keys.

The JWKS is fetched once, lazily, with the injected ``httpx.Client`` (``jwt_probe``); the checks are
in ``jwks_checks`` and ``jwt_sample_checks``, run here in order; the sample token is never shown
whole. ``spotnana-sim check jwt --jwks-url URL [--token FILE|-]`` prints the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from spotnana_sim.core.redaction import redact_url
from spotnana_sim.kit.jwks_checks import JWKS_CHECKS
from spotnana_sim.kit.jwt_probe import CheckFunction, JwtProbe, JwtTarget
from spotnana_sim.kit.jwt_sample_checks import JWT_CHECKS
from spotnana_sim.kit.report import CheckResult, Report

__all__ = ["CHECKS", "TITLE", "JwtProbe", "JwtTarget", "check_names", "run_check", "run_checks"]

TITLE = "model B (partner JWT) conformance"

CHECKS: dict[str, CheckFunction] = {**JWKS_CHECKS, **JWT_CHECKS}  # the JWKS first: the sample's checks need it


def check_names() -> list[str]:
    return list(CHECKS)


def run_check(name: str, probe: JwtProbe) -> CheckResult:
    try:
        check = CHECKS[name]
    except KeyError:
        raise ValueError(f"no jwt check named {name!r}; the checks are {', '.join(CHECKS)}") from None
    return check(probe)


def run_checks(target: JwtTarget, http: httpx.Client, *, now: Callable[[], float] = time.time) -> Report:
    """Every check, in order; one GET of the JWKS at most."""
    probe = JwtProbe(target, http, now=now)
    report = Report(TITLE, redact_url(target.jwks_url))
    for name in CHECKS:
        report.add(run_check(name, probe))
    return report
