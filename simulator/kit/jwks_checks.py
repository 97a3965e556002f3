"""The JWKS half of ``check jwt``: is the partner's JWK Set reachable, well-formed, and usable.

What Spotnana documents (FACTS.md §3: an unauthenticated JWKS over HTTPS, a ``kid`` on every key, RS256)
is judged exactly; the cache-header advice and refusing private key members are *modeled*, and the
messages say so. The key rules are the simulator's own (``jwk_problems``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from spotnana_sim.core.hosts import is_loopback
from spotnana_sim.core.partner_jwks import DEFAULT_MAX_AGE, MAX_AGE_CAP, cache_lifetime
from spotnana_sim.core.partner_jwt import PRIVATE_JWK_MEMBERS, jwk_problems
from spotnana_sim.core.redaction import shorten
from spotnana_sim.core.user_detail import MAX_BODY_BYTES
from spotnana_sim.kit.jwt_probe import JWKS_MEDIA_TYPES, CheckFunction, JwtProbe
from spotnana_sim.kit.report import FAIL, PASS, SKIP, WARN, CheckResult

MIN_SENSIBLE_MAX_AGE = 60  # a JWKS refetched more often than this loads the partner for nothing


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


def jwks_https(probe: JwtProbe) -> CheckResult:
    parts = urlsplit(probe.target.jwks_url)
    if parts.scheme == "https":
        return CheckResult("jwks-https", PASS, "the JWKS URL is HTTPS")
    if is_loopback(parts.hostname or ""):
        return CheckResult("jwks-https", PASS, "plain HTTP on loopback: fine for local tests; the URL you give "
                           "Spotnana must be HTTPS (documented)")
    return CheckResult("jwks-https", FAIL, f"plain HTTP to {parts.hostname}: Spotnana fetches the JWKS over HTTPS",
                       fix="serve the JWKS over HTTPS (documented); over HTTP anyone on the path can swap the keys")


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


# In the order they run and are reported.
JWKS_CHECKS: dict[str, CheckFunction] = {
    "jwks-reachable": jwks_reachable,
    "jwks-https": jwks_https,
    "jwks-format": jwks_format,
    "jwks-kids": jwks_kids,
    "jwks-rs256-keys": jwks_rs256_keys,
    "jwks-no-private-keys": jwks_no_private_keys,
    "jwks-cache-headers": jwks_cache_headers,
}
