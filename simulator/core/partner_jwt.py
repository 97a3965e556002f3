"""Identity model B: a subject token that is a JWT the partner signed, verified against the partner's keys.

Spotnana documents (FACTS.md §3): the partner signs an RS256 JWT whose header ``kid`` names one of its
public keys and whose payload holds the user's email; Spotnana verifies the signature, takes the email
and looks the user up. Its example payload is ``{"email","iss","sub","aud":"spotnana","iat","exp"}``.
What is *modeled* here, each in :class:`JwtExpectations`: the leeway on ``exp``/``iat``/``nbf`` (60 s),
that ``aud`` must contain the expected audience (default ``spotnana``, as in the example), that ``exp``
is required while ``iat`` is optional, and where the email is read (``email_claim``, a dotted path).

The order of the checks matters: the token's shape and ``alg`` are judged before any key is looked
up, so ``none`` or an HMAC token never reaches a verifier, and claims are judged only once the
signature holds. Time comes from the injected clock, never from PyJWT (which reads the wall clock):
PyJWT verifies the signature only.

The JWK rules (:func:`jwk_problems`) are shared by the JWKS cache, the key registry and ``check jwt``,
so the three agree on what an RS256 key is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from spotnana_sim.core.errors import (
    SubjectJwtAlgorithmRefused,
    SubjectJwtAudienceMismatch,
    SubjectJwtClaimInvalid,
    SubjectJwtEmailMissing,
    SubjectJwtExpired,
    SubjectJwtIssuerMismatch,
    SubjectJwtMalformed,
    SubjectJwtNotYetValid,
    SubjectJwtRejected,
    SubjectJwtSignatureInvalid,
    SubjectJwtUnknownKid,
)
from spotnana_sim.core.keys import jwk_thumbprint
from spotnana_sim.core.redaction import redact, shorten
from spotnana_sim.core.user_detail import extract_email

__all__ = [
    "ALGORITHM",
    "DEFAULT_AUDIENCE",
    "DEFAULT_EMAIL_CLAIM",
    "DEFAULT_LEEWAY",
    "MIN_RSA_BITS",
    "PRIVATE_JWK_MEMBERS",
    "PUBLIC_RSA_MEMBERS",
    "AsyncKeyLookup",
    "JwtExpectations",
    "KeyLookup",
    "PartnerKey",
    "UnverifiedJwt",
    "VerifiedJwt",
    "averify_partner_jwt",
    "jwk_problems",
    "read_unverified",
    "verify_partner_jwt",
    "verify_with_key",
]

ALGORITHM = "RS256"  # the only algorithm Spotnana names for model B
DEFAULT_AUDIENCE = "spotnana"  # Spotnana's example payload; modeled as the expected aud
DEFAULT_EMAIL_CLAIM = "email"  # Spotnana's example payload
DEFAULT_LEEWAY = 60.0  # modeled: seconds of clock skew tolerated on exp, iat and nbf
MIN_RSA_BITS = 2048  # RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used" with RS256

# RFC 7518 §6.3.2 (RSA private members) and §6.4.1 (the symmetric key "k"): never accepted, kept or shown.
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
PUBLIC_RSA_MEMBERS = ("kty", "use", "alg", "kid", "n", "e")


class _Clock(Protocol):
    def now(self) -> float: ...


# --------------------------------------------------------------------------------------------------
# keys


def jwk_problems(jwk: Any, *, strict: bool = False) -> list[tuple[str, str]]:
    """Why ``jwk`` is not a public RSA key usable for RS256, as (member, problem) pairs; [] when it is.

    A JWKS may omit ``use`` and ``alg`` (RFC 7517 §4.2, §4.4); ``strict`` requires them, as the
    partner-public-keys API does (one RSA/sig/RS256 key with its ``kid``). ``kid`` is always required:
    a key without one can never match a token's header.
    """
    if not isinstance(jwk, Mapping):
        return [("", f"must be a JSON object, got {_type_name(jwk)}")]
    private = [m for m in PRIVATE_JWK_MEMBERS if m in jwk]
    if private:  # reported alone: nothing else about a leaked private key matters
        problem = (f"carries private key members ({', '.join(private)}); publish the public key only "
                   f"({', '.join(PUBLIC_RSA_MEMBERS)})")
        return [("", problem)]
    problems: list[tuple[str, str]] = []
    kty = jwk.get("kty")
    if kty != "RSA":
        problems.append(("kty", f"must be \"RSA\", got {_shown(kty)}"))
    for member, expected, required in (("use", "sig", strict), ("alg", ALGORITHM, strict)):
        if member in jwk or required:
            value = jwk.get(member)
            if value != expected:
                problems.append((member, f"must be \"{expected}\", got {_shown(value)}"))
    if "key_ops" in jwk:
        ops = jwk["key_ops"]
        if not isinstance(ops, list) or "verify" not in ops:
            problems.append(("key_ops", f"must include \"verify\" when present, got {_shown(ops)}"))
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid.strip():
        problems.append(("kid", f"must be a non-empty string, got {_shown(kid)}"))
    for member in ("n", "e"):
        if not isinstance(jwk.get(member), str) or not jwk.get(member):
            problems.append((member, f"must be a base64url string, got {_shown(jwk.get(member))}"))
    if problems:
        return problems
    try:
        parsed = jwt.PyJWK(dict(jwk), algorithm=ALGORITHM)
    except jwt.PyJWTError as exc:
        return [("n", f"n and e do not make an RSA public key ({_pyjwt_reason(exc)})")]
    key = parsed.key
    if not isinstance(key, RSAPublicKey):  # pragma: no cover - private members were refused above
        return [("", "is not an RSA public key")]
    if key.key_size < MIN_RSA_BITS:
        return [("n", f"the modulus is {key.key_size} bits; RS256 needs at least {MIN_RSA_BITS} (RFC 7518 §3.3)")]
    return []


@dataclass(frozen=True)
class PartnerKey:
    """A partner's public RS256 key and where it came from (``source`` is shown in the journal)."""

    kid: str
    thumbprint: str  # RFC 7638 SHA-256, base64url
    source: str  # e.g. "jwks https://idp.example/.well-known/jwks.json" or "registered <record id>"
    public_jwk: dict[str, Any] = field(repr=False, compare=False)  # public members only
    pyjwk: jwt.PyJWK = field(repr=False, compare=False)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any], source: str, *, strict: bool = False) -> PartnerKey:
        """The key, or ``ValueError`` naming the first problem (see :func:`jwk_problems`)."""
        problems = jwk_problems(jwk, strict=strict)
        if problems:
            member, problem = problems[0]
            raise ValueError(f"{member}: {problem}" if member else problem)
        public = {m: jwk[m] for m in PUBLIC_RSA_MEMBERS if m in jwk}
        return cls(
            kid=str(jwk["kid"]),
            thumbprint=jwk_thumbprint(public),
            source=source,
            public_jwk=public,
            pyjwk=jwt.PyJWK(dict(public), algorithm=ALGORITHM),
        )

    def describe(self) -> dict[str, str]:
        return {"kid": self.kid, "thumbprint": self.thumbprint, "source": self.source}


KeyLookup = Callable[[str], PartnerKey | None]
AsyncKeyLookup = Callable[[str], Awaitable[PartnerKey | None]]


# --------------------------------------------------------------------------------------------------
# tokens


@dataclass(frozen=True)
class JwtExpectations:
    """What a model-B client expects of its subject JWTs (everything here but RS256 is modeled)."""

    audience: str = DEFAULT_AUDIENCE
    issuer: str | None = None
    email_claim: str = DEFAULT_EMAIL_CLAIM
    leeway: float = DEFAULT_LEEWAY


@dataclass(frozen=True)
class UnverifiedJwt:
    """A token that has the shape of an RS256 JWT with a ``kid``; nothing in it is trusted yet."""

    header: dict[str, Any]
    claims: dict[str, Any]
    kid: str
    signature: str  # the third part, base64url; only ever shown redacted

    def view(self) -> dict[str, Any]:
        """What the journal may keep: header and claims, the signature redacted."""
        return {"header": self.header, "claims": self.claims, "signature": redact(self.signature)}


@dataclass(frozen=True)
class VerifiedJwt:
    header: dict[str, Any]
    claims: dict[str, Any]
    kid: str
    email: str
    key: PartnerKey  # the key that verified the signature
    signature: str = field(repr=False)

    def view(self) -> dict[str, Any]:
        """For the journal: header, claims, the signature redacted, and which key verified it."""
        return {"header": self.header, "claims": self.claims, "signature": redact(self.signature),
                "key": self.key.describe()}


def read_unverified(token: str) -> UnverifiedJwt:
    """The token's header and claims, if it is a compact JWS with ``alg`` RS256 and a ``kid``.

    Raises :class:`SubjectJwtMalformed`, :class:`SubjectJwtAlgorithmRefused` or
    :class:`SubjectJwtUnknownKid` (no ``kid``). Nothing is verified.
    """
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        hint = " (five parts: an encrypted JWE, which is not accepted)" if len(parts) == 5 else ""
        raise SubjectJwtMalformed(
            f"the subject token is not a JWT: expected three base64url parts separated by dots, "
            f"got {len(parts)}{hint}"
        )
    try:
        decoded = jwt.decode_complete(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise SubjectJwtMalformed(f"the subject token is not a JWT: {_pyjwt_reason(exc)}") from None
    header: dict[str, Any] = decoded["header"]
    claims: dict[str, Any] = decoded["payload"]
    view = {"header": header, "claims": claims, "signature": redact(parts[2])}
    alg = header.get("alg")
    if alg != ALGORITHM:
        what = "no alg" if alg is None else f"alg {_shown(alg)}"
        raise _with_view(SubjectJwtAlgorithmRefused(
            f"the subject JWT header has {what}; only {ALGORITHM} is accepted (none, HS256 and every other "
            "algorithm are refused)"
        ), view)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _with_view(SubjectJwtUnknownKid(
            "the subject JWT header has no kid; it must name the partner key that signed it"
        ), view)
    return UnverifiedJwt(header=header, claims=claims, kid=kid, signature=parts[2])


def verify_with_key(unverified: UnverifiedJwt, token: str, key: PartnerKey, expect: JwtExpectations,
                    now: float) -> VerifiedJwt:
    """Check the signature with ``key``, then the claims against ``expect`` at time ``now``."""
    view = unverified.view()
    try:
        jwt.decode_complete(
            token,
            key=key.pyjwk,
            algorithms=[ALGORITHM],
            options={
                # time-based and audience checks are ours, against the injected clock
                "verify_signature": True, "verify_exp": False, "verify_iat": False, "verify_nbf": False,
                "verify_aud": False, "verify_iss": False, "verify_sub": False, "verify_jti": False,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.InvalidSignatureError:
        raise _with_view(SubjectJwtSignatureInvalid(
            f"the subject JWT's signature does not verify with the key of kid {_shown(unverified.kid)} "
            f"({key.source}): it was signed by another key or altered after signing"
        ), view) from None
    except jwt.PyJWTError as exc:
        raise _with_view(SubjectJwtSignatureInvalid(
            f"the subject JWT could not be verified with the key of kid {_shown(unverified.kid)} "
            f"({key.source}): {_pyjwt_reason(exc)}"
        ), view) from None
    claims = unverified.claims
    try:
        _check_times(claims, now, expect.leeway)
        _check_audience(claims, expect.audience)
        _check_issuer(claims, expect.issuer)
    except SubjectJwtRejected as exc:
        raise _with_view(exc, view) from None
    email = extract_email(claims, expect.email_claim)
    if not email or "@" not in email:
        found = "a value that is not an email address" if email else "nothing"
        raise _with_view(SubjectJwtEmailMissing(
            f"the subject JWT has {found} at claim {expect.email_claim!r}; expected the user's email there, "
            f"as in Spotnana's example {{\"email\": \"user@yourcompany.com\"}}"
        ), view)
    return VerifiedJwt(header=unverified.header, claims=claims, kid=unverified.kid, email=email.strip(),
                       key=key, signature=unverified.signature)


def verify_partner_jwt(token: str, keys: KeyLookup | Mapping[str, PartnerKey], expect: JwtExpectations,
                       clock: _Clock) -> VerifiedJwt:
    """Verify a model-B subject token against ``keys`` (kid → key), at ``clock.now()``."""
    unverified = read_unverified(token)
    key = keys.get(unverified.kid) if isinstance(keys, Mapping) else keys(unverified.kid)
    return verify_with_key(unverified, token, _known(key, unverified), expect, clock.now())


async def averify_partner_jwt(token: str, keys: AsyncKeyLookup, expect: JwtExpectations,
                              clock: _Clock) -> VerifiedJwt:
    """As :func:`verify_partner_jwt`, for a lookup that may fetch (the JWKS cache)."""
    unverified = read_unverified(token)
    key = await keys(unverified.kid)
    return verify_with_key(unverified, token, _known(key, unverified), expect, clock.now())


def _known(key: PartnerKey | None, unverified: UnverifiedJwt) -> PartnerKey:
    if key is None:
        raise _with_view(SubjectJwtUnknownKid(
            f"the subject JWT's kid {_shown(unverified.kid)} matches no ACTIVE partner key (neither in the "
            "partner's JWKS nor among the keys registered for the company)"
        ), unverified.view())
    return key


def _numeric(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SubjectJwtClaimInvalid(
            f"the subject JWT's {name} is {_shown(value)}; it must be a number of seconds since 1970 (RFC 7519 §2)"
        )
    return float(value)


def _check_times(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    exp = _numeric(claims, "exp")
    iat = _numeric(claims, "iat")
    nbf = _numeric(claims, "nbf")
    if exp is None:
        raise SubjectJwtClaimInvalid(
            "the subject JWT has no exp claim; it must say when it expires (Spotnana's example carries exp, "
            "one hour after iat)"
        )
    if now > exp + leeway:
        raise SubjectJwtExpired(
            f"the subject JWT expired {_duration(now - exp)} ago (exp {exp:.0f}, now {now:.0f}, "
            f"leeway {leeway:g} s)"
        )
    for name, value in (("iat", iat), ("nbf", nbf)):
        if value is not None and value > now + leeway:
            raise SubjectJwtNotYetValid(
                f"the subject JWT's {name} is {_duration(value - now)} in the future ({name} {value:.0f}, "
                f"now {now:.0f}, leeway {leeway:g} s): check the partner's clock"
            )


def _check_audience(claims: Mapping[str, Any], audience: str) -> None:
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if values is None:
        got = "no aud claim" if aud is None else f"aud {_shown(aud)}, which is neither a string nor a list"
        raise SubjectJwtAudienceMismatch(f"the subject JWT has {got}; expected aud to contain {audience!r}")
    if audience not in values:
        raise SubjectJwtAudienceMismatch(
            f"the subject JWT's aud is {_shown(aud)}; expected it to contain {audience!r}"
        )


def _check_issuer(claims: Mapping[str, Any], issuer: str | None) -> None:
    if issuer is None:
        return
    iss = claims.get("iss")
    if iss != issuer:
        got = "has no iss claim" if iss is None else f"iss is {_shown(iss)}"
        raise SubjectJwtIssuerMismatch(f"the subject JWT {got}; expected {issuer!r}")


def _with_view(error: SubjectJwtRejected, view: dict[str, Any]) -> SubjectJwtRejected:
    error.token_view = view
    return error


def _shown(value: Any) -> str:
    """A header or claim value in a message: it comes from the partner, so it is cut short."""
    if value is None:
        return "nothing"
    return shorten(repr(value), 80)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(type(value), type(value).__name__)


def _pyjwt_reason(exc: Exception) -> str:
    # PyJWT's messages name the part that is wrong ("Invalid header padding", "Not enough segments")
    # and never contain the token itself.
    return shorten(str(exc) or type(exc).__name__, 160)


def _duration(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
