"""Grades the partner's side of identity model B: its JWKS and, when given, a sample subject JWT.

Spotnana documents (FACTS.md §3) that the partner publishes a JWKS (RFC 7517) over HTTPS without
authentication with a ``kid`` on every key, and signs RS256 JWTs whose ``kid`` names one of those
keys and whose payload holds the user's email (example: ``aud`` "spotnana", ``exp`` one hour after
``iat``). The checks judge exactly that; what goes beyond it (cache headers, the one-hour lifetime
advice, refusing a JWKS with private parts) is *modeled* and the messages say so. The key rules are
the simulator's own (:func:`spotnana_sim.core.partner_jwt.jwk_problems`), so a green report means
the simulator will accept these keys.

The JWKS is fetched once, lazily, with the injected ``httpx.Client``; the sample token is never shown
whole. ``spotnana-sim check jwt --jwks-url URL [--token FILE|-]`` prints the report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from spotnana_sim.core.hosts import is_loopback
from spotnana_sim.core.partner_jwks import DEFAULT_MAX_AGE, MAX_AGE_CAP, cache_lifetime
from spotnana_sim.core.partner_jwt import (
    ALGORITHM,
    DEFAULT_AUDIENCE,
    DEFAULT_EMAIL_CLAIM,
    DEFAULT_LEEWAY,
    PRIVATE_JWK_MEMBERS,
    PartnerKey,
    jwk_problems,
)
from spotnana_sim.core.redaction import redact, redact_url, shorten
from spotnana_sim.core.settings import DEFAULT_TIMEOUT
from spotnana_sim.core.user_detail import MAX_BODY_BYTES, extract_email
from spotnana_sim.kit.report import FAIL, PASS, SKIP, WARN, CheckResult, Report
from spotnana_sim.kit.user_detail_checks import Answer

TITLE = "model B (partner JWT) conformance"

# Modeled advice, in one place. Spotnana documents none of these thresholds.
ADVISED_MAX_LIFETIME = 3600  # Spotnana's example token lives one hour; longer is called out
MIN_SENSIBLE_MAX_AGE = 60  # a JWKS refetched more often than this loads the partner for nothing
JWKS_MEDIA_TYPES = ("application/json", "application/jwk-set+json")  # RFC 7517 §8.5.1


@dataclass(frozen=True)
class JwtTarget:
    """What to grade: the JWKS URL, and optionally a sample JWT with the claims expected in it."""

    jwks_url: str
    token: str | None = None
    email_claim: str = DEFAULT_EMAIL_CLAIM
    audience: str = DEFAULT_AUDIENCE
    issuer: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        parts = urlsplit(self.jwks_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"jwks_url: expected an http:// or https:// URL, got {shorten(redact_url(self.jwks_url))!r}")
        if self.token is not None:
            object.__setattr__(self, "token", self.token.strip() or None)
        if self.timeout <= 0:
            raise ValueError(f"timeout: must be a positive number of seconds, got {self.timeout!r}")

    def __repr__(self) -> str:  # the dataclass default would print the token
        return f"JwtTarget(jwks_url={redact_url(self.jwks_url)!r}, token={'…' if self.token else None})"


@dataclass(frozen=True)
class Sample:
    """The sample token, parsed without verification; ``error`` says why it could not be."""

    header: dict[str, Any]
    claims: dict[str, Any]
    error: str | None = None


class JwtProbe:
    """Fetches the JWKS at most once and parses the sample token; the checks read from here."""

    def __init__(self, target: JwtTarget, http: httpx.Client, *, now: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.perf_counter) -> None:
        self.target = target
        self.http = http
        self.now = now
        self.monotonic = monotonic

    @cached_property
    def answer(self) -> Answer:
        target = self.target
        sent = f"GET {redact_url(target.jwks_url)} without Authorization"
        started = self.monotonic()
        try:
            with self.http.stream("GET", target.jwks_url, headers={"Accept": ", ".join(JWKS_MEDIA_TYPES)},
                                  timeout=target.timeout, follow_redirects=False) as response:
                body = bytearray()
                truncated = False
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        truncated = True
                        break
        except httpx.TimeoutException:
            return Answer(sent, elapsed=self.monotonic() - started, error=f"no answer within {target.timeout:g} s",
                          timed_out=True)
        except httpx.HTTPError as exc:
            return Answer(sent, elapsed=self.monotonic() - started,
                          error=f"{type(exc).__name__}: {shorten(str(exc), 200) or 'connection failed'}")
        return Answer(sent, status=response.status_code, headers={k.lower(): v for k, v in response.headers.items()},
                      body=bytes(body), truncated=truncated, elapsed=self.monotonic() - started)

    def describe(self) -> str:
        answer = self.answer
        if answer.error:
            return answer.error
        text = " ".join(answer.body.decode("utf-8", "replace").split())
        return f"{answer.status}, {answer.content_type or 'no Content-Type'}, body {shorten(text, 160)!r}"

    @cached_property
    def document(self) -> Any:
        """The JWKS as JSON when the answer was a complete 200 JSON body, else None."""
        answer = self.answer
        if answer.status != 200 or answer.truncated:
            return None
        try:
            return answer.json()
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None

    @property
    def keys(self) -> list[Any] | None:
        """The JWKS ``keys`` array, or None when there is no JWK Set to look at."""
        document = self.document
        keys = document.get("keys") if isinstance(document, dict) else None
        return keys if isinstance(keys, list) else None

    @cached_property
    def usable(self) -> dict[str, PartnerKey]:
        """The keys the simulator would verify with, by kid (first of duplicates)."""
        found: dict[str, PartnerKey] = {}
        for jwk in self.keys or []:
            if not jwk_problems(jwk) and jwk["kid"] not in found:
                found[jwk["kid"]] = PartnerKey.from_jwk(jwk, "jwks")
        return found

    @cached_property
    def sample(self) -> Sample | None:
        token = self.target.token
        if token is None:
            return None
        if token.count(".") != 2:
            return Sample({}, {}, f"expected three base64url parts separated by dots, got {token.count('.') + 1}")
        try:
            decoded = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            return Sample({}, {}, shorten(str(exc) or type(exc).__name__, 160))
        return Sample(decoded["header"], decoded["payload"])

    @property
    def shown_token(self) -> str:
        return f"the sample JWT {redact(self.target.token or '')}"


CheckFunction = Callable[[JwtProbe], CheckResult]
CHECKS: dict[str, CheckFunction] = {}


def _check(name: str) -> Callable[[CheckFunction], CheckFunction]:
    def register(function: CheckFunction) -> CheckFunction:
        CHECKS[name] = function
        return function

    return register


def _jwks_result(name: str, status: str, summary: str, probe: JwtProbe, **more: Any) -> CheckResult:
    more.setdefault("sent", probe.answer.sent)
    more.setdefault("received", probe.describe())
    return CheckResult(name, status, summary, **more)


def _keys_or_skip(name: str, probe: JwtProbe) -> list[Any] | CheckResult:
    keys = probe.keys
    if not keys:
        return CheckResult(name, SKIP, "no keys to look at (see jwks-format)")
    return keys


def _kid_of(index: int, jwk: Any) -> str:
    kid = jwk.get("kid") if isinstance(jwk, dict) else None
    return f"keys[{index}] (kid {shorten(kid, 60)!r})" if isinstance(kid, str) else f"keys[{index}]"


# -- the JWKS ---------------------------------------------------------------------------------------


@_check("jwks-reachable")
def jwks_reachable(probe: JwtProbe) -> CheckResult:
    name, answer = "jwks-reachable", probe.answer
    if answer.status == 200:
        return _jwks_result(name, PASS, "the JWKS answered 200 without authentication", probe)
    if answer.error:
        return _jwks_result(name, FAIL, f"the JWKS got no answer: {answer.error}", probe,
                            fix="serve the JWKS where Spotnana can reach it, and answer quickly")
    fix = "serve the JWK Set at this exact URL with 200"
    if answer.status in (401, 403):
        fix = "publish the JWKS without authentication: Spotnana fetches it with no credentials (documented)"
    elif answer.status is not None and 300 <= answer.status < 400:
        fix = "serve the JWKS at this exact URL: the simulator does not follow redirects (modeled)"
    return _jwks_result(name, FAIL, f"the JWKS answered {answer.status}, expected 200", probe, fix=fix)


@_check("jwks-https")
def jwks_https(probe: JwtProbe) -> CheckResult:
    parts = urlsplit(probe.target.jwks_url)
    if parts.scheme == "https":
        return CheckResult("jwks-https", PASS, "the JWKS URL is HTTPS")
    if is_loopback(parts.hostname or ""):
        return CheckResult("jwks-https", PASS, "plain HTTP on loopback: fine for local tests; the URL you give "
                           "Spotnana must be HTTPS (documented)")
    return CheckResult("jwks-https", FAIL, f"plain HTTP to {parts.hostname}: Spotnana fetches the JWKS over HTTPS",
                       fix="serve the JWKS over HTTPS (documented); over HTTP anyone on the path can swap the keys")


@_check("jwks-format")
def jwks_format(probe: JwtProbe) -> CheckResult:
    name, answer = "jwks-format", probe.answer
    if answer.status != 200:
        return CheckResult(name, FAIL, "no JWKS to judge: the URL did not answer 200 (see jwks-reachable)")
    if answer.truncated:
        return _jwks_result(name, FAIL, f"the JWKS is larger than {MAX_BODY_BYTES} bytes, where the simulator "
                            "stops reading (modeled)", probe, fix="publish only the keys in use")
    document = probe.document
    if document is None:
        return _jwks_result(name, FAIL, "the answer is not JSON", probe,
                            fix='answer a JWK Set: {"keys": [{"kty": "RSA", "kid": ..., "n": ..., "e": ...}]} (RFC 7517 §5)')
    keys = probe.keys
    if keys is None:
        return _jwks_result(name, FAIL, 'the JSON is not a JWK Set: no "keys" array (RFC 7517 §5)', probe,
                            fix='wrap the keys: {"keys": [...]}; a single JWK is not a JWK Set')
    if not keys:
        return _jwks_result(name, FAIL, "the JWK Set has no keys: nothing could verify a token", probe,
                            fix="publish the public key your identity provider signs with")
    bad = [f"{_kid_of(i, k)}: " + ("not an object" if not isinstance(k, dict) else "no kty (RFC 7517 §4.1: required)")
           for i, k in enumerate(keys) if not isinstance(k, dict) or not isinstance(k.get("kty"), str)]
    if bad:
        return _jwks_result(name, FAIL, f"{len(bad)} of {len(keys)} entries are not valid JWKs", probe,
                            details=tuple(bad), fix="every entry of keys must be a JWK object with a kty")
    media = answer.content_type.split(";", 1)[0].strip().lower()
    if media not in JWKS_MEDIA_TYPES:
        return _jwks_result(name, WARN, f"a valid JWK Set of {len(keys)} keys, but Content-Type is {media or 'missing'}",
                            probe, fix="send Content-Type: application/json or application/jwk-set+json (RFC 7517 §8.5.1)")
    return CheckResult(name, PASS, f"a valid JWK Set of {len(keys)} key(s), Content-Type {media}")


@_check("jwks-kids")
def jwks_kids(probe: JwtProbe) -> CheckResult:
    name = "jwks-kids"
    keys = _keys_or_skip(name, probe)
    if isinstance(keys, CheckResult):
        return keys
    missing = [_kid_of(i, k) for i, k in enumerate(keys)
               if not isinstance(k, dict) or not isinstance(k.get("kid"), str) or not k["kid"]]
    if missing:
        return CheckResult(name, FAIL, f"{len(missing)} of {len(keys)} keys have no kid", details=tuple(missing),
                           fix="give every key a kid (documented) and put the same kid in the header of the JWTs it signs")
    kids = [k["kid"] for k in keys]
    duplicates = sorted({kid for kid in kids if kids.count(kid) > 1})
    if duplicates:
        return CheckResult(name, WARN, f"kids used more than once: {', '.join(map(repr, duplicates))}",
                           fix="give each key its own kid (RFC 7517 §4.5); the simulator uses the first of duplicates")
    return CheckResult(name, PASS, f"every key has a kid: {shorten(', '.join(kids), 200)}")


@_check("jwks-rs256-keys")
def jwks_rs256_keys(probe: JwtProbe) -> CheckResult:
    name = "jwks-rs256-keys"
    keys = _keys_or_skip(name, probe)
    if isinstance(keys, CheckResult):
        return CheckResult(name, FAIL, "no RSA key usable for RS256: the JWKS has no keys (see jwks-format)")
    unusable = []
    for index, jwk in enumerate(keys):
        problems = jwk_problems(jwk)
        if problems and isinstance(jwk, dict) and jwk.get("kty") == "RSA":
            unusable.append(f"{_kid_of(index, jwk)}: " + "; ".join(f"{m} {p}" if m else p for m, p in problems))
    usable = probe.usable
    if not usable:
        return CheckResult(name, FAIL, f"none of the {len(keys)} keys is an RSA key usable for RS256 with a kid",
                           details=tuple(unusable), fix='publish {"kty": "RSA", "use": "sig", "alg": "RS256", '
                           '"kid": ..., "n": ..., "e": ...} with a modulus of 2048 bits or more')
    if unusable:
        return CheckResult(name, WARN, f"{len(usable)} usable RS256 key(s); {len(unusable)} RSA key(s) the simulator "
                           "ignores", details=tuple(unusable), fix="fix or remove the RSA keys listed")
    return CheckResult(name, PASS, f"{len(usable)} RSA key(s) usable for RS256: {shorten(', '.join(usable), 200)}")


@_check("jwks-no-private-keys")
def jwks_no_private_keys(probe: JwtProbe) -> CheckResult:
    name = "jwks-no-private-keys"
    keys = _keys_or_skip(name, probe)
    if isinstance(keys, CheckResult):
        return keys
    leaks = [f"{_kid_of(i, k)}: {', '.join(m for m in PRIVATE_JWK_MEMBERS if m in k)}"
             for i, k in enumerate(keys) if isinstance(k, dict) and any(m in k for m in PRIVATE_JWK_MEMBERS)]
    if leaks:
        return CheckResult(
            name, FAIL, f"CRITICAL: the JWKS publishes private key material in {len(leaks)} key(s): anyone can sign "
            "JWTs as your identity provider and sign in to Spotnana as any of your users",
            critical=True, details=tuple(leaks),  # member names only: the values are never shown
            fix="remove d, p, q, dp, dq, qi, oth (and any symmetric k) from the JWKS now, then rotate the key: "
                "it must be treated as compromised",
        )
    return CheckResult(name, PASS, f"no private key members in any of the {len(keys)} key(s)")


@_check("jwks-cache-headers")
def jwks_cache_headers(probe: JwtProbe) -> CheckResult:
    name, answer = "jwks-cache-headers", probe.answer
    if answer.status != 200:
        return CheckResult(name, SKIP, "needs a 200 answer (see jwks-reachable)")
    value = answer.headers.get("cache-control")
    note = "(modeled advice: Spotnana does not document how it caches the JWKS)"
    if value is None:
        return _jwks_result(name, WARN, f"no Cache-Control: the simulator keeps the JWKS {DEFAULT_MAX_AGE:g} s {note}",
                            probe, fix="send Cache-Control: public, max-age=300 (or what suits your key rotation)")
    lifetime = cache_lifetime(answer.headers, DEFAULT_MAX_AGE, float("inf"))
    if lifetime == 0:
        return _jwks_result(name, WARN, f"Cache-Control {value!r} forbids caching, so every exchange refetches {note}",
                            probe, fix="allow caching for a few minutes: max-age=300")
    if lifetime < MIN_SENSIBLE_MAX_AGE:
        return _jwks_result(name, WARN, f"max-age {lifetime:g} s is short: the JWKS is fetched almost every exchange {note}",
                            probe, fix="use max-age of a few minutes (300)")
    if lifetime > MAX_AGE_CAP:
        return _jwks_result(name, WARN, f"max-age {lifetime:g} s: a key you remove keeps verifying tokens for that long; "
                            f"the simulator caps it at {MAX_AGE_CAP:g} s {note}", probe,
                            fix="keep max-age at most a day, and publish a new key before signing with it")
    if "max-age" not in value.lower():
        return _jwks_result(name, WARN, f"Cache-Control {value!r} has no max-age: the simulator keeps the JWKS "
                            f"{DEFAULT_MAX_AGE:g} s {note}", probe, fix="add max-age=300")
    return CheckResult(name, PASS, f"Cache-Control {value!r}: cached {lifetime:g} s")


# -- the sample JWT ---------------------------------------------------------------------------------


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


@_check("jwt-format")
def jwt_format(probe: JwtProbe) -> CheckResult:
    name, sample = "jwt-format", probe.sample
    if sample is None:
        return CheckResult(name, SKIP, "no sample JWT given (--token FILE, or - for stdin)")
    if sample.error:
        return _token_result(name, FAIL, f"the sample is not a JWT: {sample.error}", probe,
                             fix="pass the compact JWS your identity provider signs: header.payload.signature")
    return _token_result(name, PASS, "a compact JWS with a JSON header and payload", probe, shown=sample.header)


@_check("jwt-algorithm")
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


@_check("jwt-kid")
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


@_check("jwt-signature")
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


@_check("jwt-email")
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


@_check("jwt-audience")
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


@_check("jwt-issuer")
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


@_check("jwt-lifetime")
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
