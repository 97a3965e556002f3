"""Model-B subject token verification: every way a partner JWT can be wrong gets its own error."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from spotnana_sim.core.clock import Clock
from spotnana_sim.core.error_rendering import ErrorTable
from spotnana_sim.core.errors import (
    RFC6749,
    SPOTNANA,
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
from spotnana_sim.core.partner_jwt import (
    JwtExpectations,
    PartnerKey,
    averify_partner_jwt,
    jwk_problems,
    read_unverified,
    verify_partner_jwt,
)
from spotnana_sim.reference.partner_idp import PartnerIdentityProvider

NOW = 1_750_000_000.0
KID = "partner-key-1"
EMAIL = "ada@example.com"


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def signer() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_signer() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private_key: rsa.RSAPrivateKey, **extra: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": KID, "use": "sig", "alg": "RS256", **extra}


@pytest.fixture(scope="module")
def key(signer: rsa.RSAPrivateKey) -> PartnerKey:
    return PartnerKey.from_jwk(public_jwk(signer), "jwks https://idp.example/jwks")


@pytest.fixture
def clock() -> Clock:
    return Clock(base=lambda: NOW)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"email": EMAIL, "iss": "https://auth.customer.com", "sub": "u-1", "aud": "spotnana",
                            "iat": int(NOW) - 10, "exp": int(NOW) + 3590}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(private_key: rsa.RSAPrivateKey, payload: dict[str, Any] | None = None, **headers: Any) -> str:
    headers = {"kid": KID, **headers}
    return jwt.encode(payload or claims(), private_key, algorithm="RS256",
                      headers={k: v for k, v in headers.items() if v is not None})


def verify(token: str, key: PartnerKey, clock: Clock, **expect: Any) -> Any:
    return verify_partner_jwt(token, {key.kid: key}, JwtExpectations(**expect), clock)


def test_a_valid_token_verifies_and_says_which_key(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    token = sign(signer)
    result = verify(token, key, clock)
    assert (result.email, result.kid, result.key) == (EMAIL, KID, key)
    assert result.claims["aud"] == "spotnana" and result.header["alg"] == "RS256"
    view = result.view()
    assert view["key"] == {"kid": KID, "thumbprint": key.thumbprint, "source": "jwks https://idp.example/jwks"}
    signature = token.rsplit(".", 1)[1]
    assert signature not in json.dumps(view) and view["signature"].startswith("…")


def test_key_sources_may_be_a_function_or_async(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    token = sign(signer)
    asked: list[str] = []

    def lookup(kid: str) -> PartnerKey | None:
        asked.append(kid)
        return key if kid == KID else None

    assert verify_partner_jwt(token, lookup, JwtExpectations(), clock).email == EMAIL
    assert asked == [KID]


async def test_async_lookup(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    async def lookup(kid: str) -> PartnerKey | None:
        return key if kid == KID else None

    assert (await averify_partner_jwt(sign(signer), lookup, JwtExpectations(), clock)).email == EMAIL
    with pytest.raises(SubjectJwtUnknownKid):
        await averify_partner_jwt(sign(signer, kid="nope"), lookup, JwtExpectations(), clock)


# -- not a JWT ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("opaque-partner-token-0123456789", "got 1"),
        ("only.two", "got 2"),
        ("a.b.c.d.e", "JWE"),
        ("!!!.@@@.###", "padding"),
        (b64(b"not json") + "." + b64({"email": EMAIL}) + ".c2ln", "header"),
        (b64({"alg": "RS256", "kid": KID}) + "." + b64(b"not json") + ".c2ln", "payload"),
        (b64({"alg": "RS256", "kid": KID}) + "." + b64(b"[1, 2]") + ".c2ln", "payload"),
    ],
)
def test_not_a_jwt(token: str, says: str, key: PartnerKey, clock: Clock) -> None:
    with pytest.raises(SubjectJwtMalformed, match="not a JWT") as caught:
        verify(token, key, clock)
    assert says in caught.value.message
    assert token not in caught.value.message


# -- algorithm: judged before any key is looked up -------------------------------------------------------


def _never_called(kid: str) -> PartnerKey | None:
    raise AssertionError("a key was looked up for a token whose algorithm is refused")


def test_alg_none_is_refused(clock: Clock) -> None:
    token = b64({"alg": "none", "kid": KID}) + "." + b64(claims()) + "."
    with pytest.raises(SubjectJwtAlgorithmRefused, match=r"alg 'none'.*only RS256"):
        verify_partner_jwt(token, _never_called, JwtExpectations(), clock)


def test_hs256_signed_with_the_public_key_is_refused(signer: rsa.RSAPrivateKey, clock: Clock) -> None:
    # the classic key-confusion attack: HMAC keyed with the (public) RSA key's PEM
    pem = signer.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64({"alg": "HS256", "kid": KID, "typ": "JWT"})
    payload = b64(claims())
    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{b64(mac)}"
    with pytest.raises(SubjectJwtAlgorithmRefused, match="HS256"):
        verify_partner_jwt(token, _never_called, JwtExpectations(), clock)


def test_other_algorithms_and_a_missing_alg_are_refused(clock: Clock) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    es256 = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": KID})
    with pytest.raises(SubjectJwtAlgorithmRefused, match="ES256"):
        verify_partner_jwt(es256, _never_called, JwtExpectations(), clock)
    no_alg = b64({"kid": KID}) + "." + b64(claims()) + ".c2ln"
    with pytest.raises(SubjectJwtAlgorithmRefused, match="no alg"):
        verify_partner_jwt(no_alg, _never_called, JwtExpectations(), clock)


# -- kid and signature --------------------------------------------------------------------------------


def test_a_token_without_kid(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    token = jwt.encode(claims(), signer, algorithm="RS256")
    with pytest.raises(SubjectJwtUnknownKid, match="no kid"):
        verify(token, key, clock)


def test_an_unknown_kid(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    with pytest.raises(SubjectJwtUnknownKid, match="'rotated-key-7' matches no ACTIVE partner key"):
        verify(sign(signer, kid="rotated-key-7"), key, clock)


def test_signed_by_another_key(other_signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    with pytest.raises(SubjectJwtSignatureInvalid, match="does not verify with the key of kid 'partner-key-1'"):
        verify(sign(other_signer), key, clock)


def test_a_payload_altered_after_signing(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    header, _, signature = sign(signer).split(".")
    forged = f"{header}.{b64(claims(email='mallory@example.com'))}.{signature}"
    with pytest.raises(SubjectJwtSignatureInvalid, match="altered after signing"):
        verify(forged, key, clock)


# -- time -----------------------------------------------------------------------------------------------


def test_expired_beyond_the_leeway(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    with pytest.raises(SubjectJwtExpired, match=r"expired 61 s ago.*leeway 60 s"):
        verify(sign(signer, claims(iat=int(NOW) - 3661, exp=int(NOW) - 61)), key, clock)
    assert verify(sign(signer, claims(iat=int(NOW) - 3659, exp=int(NOW) - 59)), key, clock).email == EMAIL


def test_the_leeway_is_configurable(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    token = sign(signer, claims(exp=int(NOW) - 5))
    with pytest.raises(SubjectJwtExpired):
        verify(token, key, clock, leeway=0)


def test_time_comes_from_the_injected_clock(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    token = sign(signer)
    clock.advance(3600 + 61)
    with pytest.raises(SubjectJwtExpired):
        verify(token, key, clock)


def test_issued_in_the_future(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    with pytest.raises(SubjectJwtNotYetValid, match="iat is 2 min in the future"):
        verify(sign(signer, claims(iat=int(NOW) + 120)), key, clock)
    assert verify(sign(signer, claims(iat=int(NOW) + 59)), key, clock).email == EMAIL


def test_not_before_in_the_future(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    with pytest.raises(SubjectJwtNotYetValid, match="nbf"):
        verify(sign(signer, claims(nbf=int(NOW) + 3600)), key, clock)


@pytest.mark.parametrize(("overrides", "says"), [
    ({"exp": None}, "no exp claim"),
    ({"exp": "tomorrow"}, "exp is 'tomorrow'"),
    ({"iat": True}, "iat is True"),
])
def test_missing_or_ill_typed_times(overrides: dict[str, Any], says: str, signer: rsa.RSAPrivateKey,
                                    key: PartnerKey, clock: Clock) -> None:
    with pytest.raises(SubjectJwtClaimInvalid, match=says):
        verify(sign(signer, claims(**overrides)), key, clock)


# -- audience, issuer, email ---------------------------------------------------------------------------


def test_wrong_or_missing_audience(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    with pytest.raises(SubjectJwtAudienceMismatch, match="aud is 'someone-else'; expected it to contain 'spotnana'"):
        verify(sign(signer, claims(aud="someone-else")), key, clock)
    with pytest.raises(SubjectJwtAudienceMismatch, match="no aud claim"):
        verify(sign(signer, claims(aud=None)), key, clock)


def test_audience_lists_and_custom_audiences(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    assert verify(sign(signer, claims(aud=["other", "spotnana"])), key, clock).email == EMAIL
    assert verify(sign(signer, claims(aud="acme-travel")), key, clock, audience="acme-travel").email == EMAIL


def test_issuer_is_checked_only_when_expected(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    token = sign(signer, claims(iss="https://evil.example"))
    assert verify(token, key, clock).email == EMAIL
    with pytest.raises(SubjectJwtIssuerMismatch, match=r"iss is 'https://evil.example'; expected 'https://auth.customer.com'"):
        verify(token, key, clock, issuer="https://auth.customer.com")
    with pytest.raises(SubjectJwtIssuerMismatch, match="has no iss claim"):
        verify(sign(signer, claims(iss=None)), key, clock, issuer="https://auth.customer.com")


def test_no_email_at_the_mapped_claim(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    with pytest.raises(SubjectJwtEmailMissing, match="nothing at claim 'email'"):
        verify(sign(signer, claims(email=None)), key, clock)
    with pytest.raises(SubjectJwtEmailMissing, match="not an email address"):
        verify(sign(signer, claims(email="ada")), key, clock)


def test_a_dotted_email_claim(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    token = sign(signer, claims(email=None, user={"mail": "grace@example.com"}))
    assert verify(token, key, clock, email_claim="user.mail").email == "grace@example.com"


# -- what failures carry --------------------------------------------------------------------------------


def test_failures_keep_a_redacted_view_for_the_journal(signer: rsa.RSAPrivateKey, key: PartnerKey, clock: Clock) -> None:
    token = sign(signer, claims(aud="nope"))
    with pytest.raises(SubjectJwtAudienceMismatch) as caught:
        verify(token, key, clock)
    view = caught.value.token_view
    assert view is not None and view["claims"]["aud"] == "nope" and view["header"]["kid"] == KID
    assert token.rsplit(".", 1)[1] not in json.dumps(view)


ERRORS: list[tuple[type[SubjectJwtRejected], str]] = [
    (SubjectJwtMalformed, "SUBJECT_TOKEN_MALFORMED"),
    (SubjectJwtAlgorithmRefused, "SUBJECT_TOKEN_ALGORITHM_NOT_ALLOWED"),
    (SubjectJwtUnknownKid, "SUBJECT_TOKEN_KEY_UNKNOWN"),
    (SubjectJwtSignatureInvalid, "SUBJECT_TOKEN_SIGNATURE_INVALID"),
    (SubjectJwtClaimInvalid, "SUBJECT_TOKEN_CLAIM_INVALID"),
    (SubjectJwtExpired, "SUBJECT_TOKEN_EXPIRED"),
    (SubjectJwtNotYetValid, "SUBJECT_TOKEN_NOT_YET_VALID"),
    (SubjectJwtAudienceMismatch, "SUBJECT_TOKEN_AUDIENCE_INVALID"),
    (SubjectJwtIssuerMismatch, "SUBJECT_TOKEN_ISSUER_INVALID"),
    (SubjectJwtEmailMissing, "SUBJECT_TOKEN_EMAIL_MISSING"),
]


@pytest.mark.parametrize(("error", "code"), ERRORS)
def test_each_failure_has_its_own_row_in_both_dialects(error: type[SubjectJwtRejected], code: str) -> None:
    table = ErrorTable()
    spotnana = table.render(error("what was wrong"), SPOTNANA)
    assert (spotnana.status, spotnana.error_code) == (401, code)
    assert spotnana.body["errorMessages"][0]["message"] == "what was wrong"
    rfc = table.render(error("what was wrong"), RFC6749)
    assert (rfc.status, rfc.body["error"]) == (400, "invalid_request")  # RFC 8693 §2.2.2
    assert table.row_for(error("x")).modeled
    assert len({e.row_key for e, _ in ERRORS}) == len(ERRORS)


# -- the JWK rules --------------------------------------------------------------------------------------


def test_read_unverified_trusts_nothing_but_reads_the_shape(signer: rsa.RSAPrivateKey) -> None:
    unverified = read_unverified(sign(signer))
    assert unverified.kid == KID and unverified.claims["email"] == EMAIL


@pytest.mark.parametrize(("change", "member", "says"), [
    ({"kty": "EC"}, "kty", 'must be "RSA"'),
    ({"use": "enc"}, "use", 'must be "sig"'),
    ({"alg": "RS512"}, "alg", 'must be "RS256"'),
    ({"kid": ""}, "kid", "non-empty string"),
    ({"kid": None}, "kid", "non-empty string"),
    ({"n": 12}, "n", "base64url"),
    ({"n": "AQAB"}, "n", "do not make an RSA public key"),
    ({"key_ops": ["encrypt"]}, "key_ops", "verify"),
])
def test_jwk_problems_name_the_member(change: dict[str, Any], member: str, says: str, signer: rsa.RSAPrivateKey) -> None:
    jwk = {k: v for k, v in {**public_jwk(signer), **change}.items() if v is not None}
    problems = jwk_problems(jwk)
    assert problems and problems[0][0] == member and says in problems[0][1], problems


def test_jwk_private_members_are_named_never_shown(signer: rsa.RSAPrivateKey) -> None:
    private = jwt.algorithms.RSAAlgorithm.to_jwk(signer, as_dict=True)
    problems = jwk_problems({**private, "kid": KID})
    assert problems == [("", problems[0][1])] and "d, p, q, dp, dq, qi" in problems[0][1]
    assert private["d"] not in problems[0][1]


def test_short_rsa_keys_are_not_usable_for_rs256() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(small.public_key(), as_dict=True), "kid": "small"}
    assert jwk_problems(jwk) == [("n", "the modulus is 1024 bits; RS256 needs at least 2048 (RFC 7518 §3.3)")]


def test_strict_rules_require_use_and_alg(signer: rsa.RSAPrivateKey) -> None:
    bare = {k: v for k, v in public_jwk(signer).items() if k not in ("use", "alg")}
    assert jwk_problems(bare) == []
    assert [m for m, _ in jwk_problems(bare, strict=True)] == ["use", "alg"]


def test_partner_key_keeps_public_members_only(signer: rsa.RSAPrivateKey) -> None:
    key = PartnerKey.from_jwk({**public_jwk(signer), "x5c": ["..."]}, "registered r1")
    assert set(key.public_jwk) == {"kty", "use", "alg", "kid", "n", "e"}
    with pytest.raises(ValueError, match="kty"):
        PartnerKey.from_jwk({**public_jwk(signer), "kty": "EC"}, "x")


def test_the_reference_idp_tokens_verify(clock: Clock) -> None:
    idp = PartnerIdentityProvider(clock=lambda: NOW)
    keys = {k["kid"]: PartnerKey.from_jwk(k, "jwks idp") for k in idp.jwks()["keys"]}
    assert verify_partner_jwt(idp.sign_for("ada"), keys, JwtExpectations(), clock).email == "ada@example.com"
