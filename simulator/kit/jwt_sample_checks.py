"""The sample-token half of ``check jwt``: is the partner's subject JWT one the simulator would accept.

Spotnana documents (FACTS.md §3) RS256, a ``kid`` that names a key of the JWKS, and the user's email in
the payload (its example: ``aud`` "spotnana", ``exp`` one hour after ``iat``). The one-hour lifetime
advice is *modeled*. The token is never shown whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jwt

from spotnana_sim.core.partner_jwt import ALGORITHM, DEFAULT_LEEWAY
from spotnana_sim.core.redaction import shorten
from spotnana_sim.core.user_detail import extract_email
from spotnana_sim.kit.jwt_probe import CheckFunction, JwtProbe, Sample
from spotnana_sim.kit.report import FAIL, PASS, SKIP, WARN, CheckResult

# Modeled advice, in one place. Spotnana documents none of these thresholds.
ADVISED_MAX_LIFETIME = 3600  # Spotnana's example token lives one hour; longer is called out


def _sample_or_skip(name: str, probe: JwtProbe) -> Sample | CheckResult:
    sample = probe.sample
    if sample is None:
        return CheckResult(name, SKIP, "no sample JWT given (--token FILE, or - for stdin)")
    if sample.error:
        return CheckResult(name, SKIP, "the sample is not a JWT (see jwt-format)")
    return sample


def _token_result(name: str, status: str, summary: str, probe: JwtProbe, shown: Any = None, **more: Any) -> CheckResult:
    more.setdefault("sent", probe.shown_token)
    if shown is not None:
        more.setdefault("received", shorten(json.dumps(shown, ensure_ascii=False, default=str), 300))
    return CheckResult(name, status, summary, **more)


def jwt_format(probe: JwtProbe) -> CheckResult:
    name, sample = "jwt-format", probe.sample
    if sample is None:
        return CheckResult(name, SKIP, "no sample JWT given (--token FILE, or - for stdin)")
    if sample.error:
        return _token_result(name, FAIL, f"the sample is not a JWT: {sample.error}", probe,
                             fix="pass the compact JWS your identity provider signs: header.payload.signature")
    return _token_result(name, PASS, "a compact JWS with a JSON header and payload", probe, shown=sample.header)


def jwt_algorithm(probe: JwtProbe) -> CheckResult:
    name = "jwt-algorithm"
    sample = _sample_or_skip(name, probe)
    if isinstance(sample, CheckResult):
        return sample
    alg = sample.header.get("alg")
    if alg == ALGORITHM:
        return _token_result(name, PASS, "alg is RS256", probe, shown=sample.header)
    return _token_result(name, FAIL, f"alg is {shorten(repr(alg))}; Spotnana accepts RS256 only", probe,
                         shown=sample.header, fix="sign with RS256 (RSA with SHA-256) and a 2048-bit or larger RSA key")


def jwt_kid(probe: JwtProbe) -> CheckResult:
    name = "jwt-kid"
    sample = _sample_or_skip(name, probe)
    if isinstance(sample, CheckResult):
        return sample
    kid = sample.header.get("kid")
    if not isinstance(kid, str) or not kid:
        return _token_result(name, FAIL, "the header has no kid", probe, shown=sample.header,
                             fix="put the kid of the signing key in the JWT header (documented)")
    if probe.keys is None:
        return CheckResult(name, SKIP, "needs the JWKS (see jwks-reachable, jwks-format)")
    if kid in probe.usable:
        return _token_result(name, PASS, f"kid {kid!r} is in the JWKS", probe, shown=sample.header)
    listed = [k.get("kid") for k in probe.keys if isinstance(k, dict)]
    where = ("names a key the simulator cannot use (see jwks-rs256-keys)" if kid in listed
             else f"is not in the JWKS (kids there: {shorten(', '.join(map(str, listed)), 200) or 'none'})")
    return _token_result(name, FAIL, f"kid {shorten(kid)!r} {where}", probe, shown=sample.header,
                         fix="publish the signing key in the JWKS before signing with it, under the same kid")


def jwt_signature(probe: JwtProbe) -> CheckResult:
    name = "jwt-signature"
    sample = _sample_or_skip(name, probe)
    if isinstance(sample, CheckResult):
        return sample
    key = probe.usable.get(str(sample.header.get("kid")))
    if sample.header.get("alg") != ALGORITHM or key is None:
        return CheckResult(name, SKIP, "needs alg RS256 and a kid that is in the JWKS (see jwt-algorithm, jwt-kid)")
    try:
        jwt.decode_complete(probe.target.token or "", key=key.pyjwk, algorithms=[ALGORITHM],
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                     "verify_aud": False, "verify_iss": False, "verify_sub": False,
                                     "verify_jti": False})
    except jwt.PyJWTError as exc:
        return _token_result(name, FAIL, f"the signature does not verify with the key of kid {key.kid!r} "
                             f"({shorten(str(exc) or type(exc).__name__)})", probe,
                             fix="sign with the private key whose public half is published under that kid")
    return _token_result(name, PASS, f"the signature verifies with the key of kid {key.kid!r}", probe)


def _emails(document: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _emails(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(document, str) and "@" in document and " " not in document.strip():
        yield prefix


def jwt_email(probe: JwtProbe) -> CheckResult:
    name, path = "jwt-email", probe.target.email_claim
    sample = _sample_or_skip(name, probe)
    if isinstance(sample, CheckResult):
        return sample
    email = extract_email(sample.claims, path)
    if email and "@" in email:
        return _token_result(name, PASS, f"claim {path!r} is {email!r}", probe)
    elsewhere = list(_emails(sample.claims))
    hint = f" (email-like values at: {', '.join(elsewhere)})" if elsewhere else ""
    return _token_result(name, FAIL, f"no email at claim {path!r}{hint}", probe, shown=sample.claims,
                         fix=f"put the user's email (as their Spotnana profile was created with) at {path!r}, "
                             "or configure the client's email_claim")


def jwt_audience(probe: JwtProbe) -> CheckResult:
    name, audience = "jwt-audience", probe.target.audience
    sample = _sample_or_skip(name, probe)
    if isinstance(sample, CheckResult):
        return sample
    aud = sample.claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience in values:
        return _token_result(name, PASS, f"aud contains {audience!r}", probe)
    return _token_result(name, FAIL, f"aud is {shorten(repr(aud))}; expected it to contain {audience!r}", probe,
                         fix=f"set aud to {audience!r}, as in Spotnana's example (the simulator's expected "
                             "audience is configurable per client: modeled)")


def jwt_issuer(probe: JwtProbe) -> CheckResult:
    name, issuer = "jwt-issuer", probe.target.issuer
    sample = _sample_or_skip(name, probe)
    if isinstance(sample, CheckResult):
        return sample
    iss = sample.claims.get("iss")
    if issuer is None:
        if isinstance(iss, str) and iss:
            return _token_result(name, PASS, f"iss is {iss!r} (not compared: no expected issuer given)", probe)
        return _token_result(name, WARN, "no iss claim; Spotnana's example carries one", probe,
                             fix="set iss to your identity provider's URL")
    if iss == issuer:
        return _token_result(name, PASS, f"iss is {issuer!r}", probe)
    return _token_result(name, FAIL, f"iss is {shorten(repr(iss))}; expected {issuer!r}", probe,
                         fix="sign with the issuer the client is configured with, or change the expectation")


def jwt_lifetime(probe: JwtProbe) -> CheckResult:
    name = "jwt-lifetime"
    sample = _sample_or_skip(name, probe)
    if isinstance(sample, CheckResult):
        return sample
    claims = sample.claims
    exp, iat = _number(claims.get("exp")), _number(claims.get("iat"))
    times = {"exp": claims.get("exp"), "iat": claims.get("iat")}
    if exp is None:
        return _token_result(name, FAIL, "no numeric exp claim: the simulator refuses a JWT that never expires",
                             probe, shown=times, fix="set exp (seconds since 1970), one hour after iat as in Spotnana's example")
    if iat is None:
        return _token_result(name, WARN, "no numeric iat claim: the lifetime cannot be judged", probe, shown=times,
                             fix="set iat to the signing time, as in Spotnana's example")
    lifetime = exp - iat
    if lifetime <= 0:
        return _token_result(name, FAIL, f"exp is not later than iat (exp - iat = {lifetime:g} s)", probe, shown=times,
                             fix="set exp after iat: Spotnana's example uses exp = iat + 3600")
    now = probe.now()
    if lifetime > ADVISED_MAX_LIFETIME:
        return _token_result(name, WARN, f"the token lives {lifetime:g} s, over an hour (modeled advice: Spotnana's "
                             "example lives 3600 s; a leaked token works for as long as it lives)", probe, shown=times,
                             fix="keep subject tokens short-lived: one hour or less")
    if iat > now + DEFAULT_LEEWAY:
        return _token_result(name, WARN, f"iat is {iat - now:.0f} s in the future: the signer's clock runs ahead",
                             probe, shown=times, fix="sync the identity provider's clock (NTP)")
    if exp < now:
        return _token_result(name, WARN, f"lifetime {lifetime:g} s is fine, but this sample expired "
                             f"{now - exp:.0f} s ago: the simulator would refuse it now", probe, shown=times,
                             fix="check a freshly signed token")
    return _token_result(name, PASS, f"the token lives {lifetime:g} s", probe, shown=times)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# In the order they run and are reported.
JWT_CHECKS: dict[str, CheckFunction] = {
    "jwt-format": jwt_format,
    "jwt-algorithm": jwt_algorithm,
    "jwt-kid": jwt_kid,
    "jwt-signature": jwt_signature,
    "jwt-email": jwt_email,
    "jwt-audience": jwt_audience,
    "jwt-issuer": jwt_issuer,
    "jwt-lifetime": jwt_lifetime,
}
