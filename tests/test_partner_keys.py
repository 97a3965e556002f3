"""The partner-public-keys registry: register, list, revoke, and every refusal naming its field."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from spotnana_sim.core.clock import Clock
from spotnana_sim.core.error_rendering import ErrorTable
from spotnana_sim.core.errors import (
    RFC6749,
    SPOTNANA,
    ApiForbidden,
    ApiNotAuthenticated,
    PartnerKeyConflict,
    PartnerKeyNotFound,
    ValidationFailed,
)
from spotnana_sim.core.partner_jwt import JwtExpectations, verify_partner_jwt
from spotnana_sim.core.partner_keys import ACTIVE, REVOKED, PartnerKeyRegistry

ORG = "6f0c7bd2-5a0e-4c57-9d53-1b2b0e0a9f11"
OTHER_ORG = "0d7d1c8e-2f7c-4a2d-8c8b-7d8e9f0a1b2c"
T0 = 1_750_000_000.0


@pytest.fixture(scope="module")
def signer() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private_key: rsa.RSAPrivateKey, kid: str = "key-2025-01") -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": jwk["n"], "e": jwk["e"]}


def body(*keys: Any) -> dict[str, Any]:
    return {"keyType": "JWKS", "jwks": {"keys": list(keys)}}


@pytest.fixture
def clock() -> Clock:
    return Clock(base=lambda: T0)


@pytest.fixture
def registry(clock: Clock) -> PartnerKeyRegistry:
    counter = itertools.count(1)
    return PartnerKeyRegistry(clock, new_id=lambda: f"pk-{next(counter)}")


def test_register_answers_the_documented_record(registry: PartnerKeyRegistry, signer: rsa.RSAPrivateKey) -> None:
    jwk = public_jwk(signer)
    record = registry.register(ORG, body(jwk))
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert record.as_dict() == {"id": "pk-1", "orgId": ORG, "kid": "key-2025-01", "status": "ACTIVE",
                                "createdAt": "2025-06-15T15:06:40.000Z", "thumbprint": thumbprint}


def test_created_at_comes_from_the_clock(registry: PartnerKeyRegistry, clock: Clock, signer: rsa.RSAPrivateKey) -> None:
    clock.advance(86400.5)
    assert registry.register(ORG, body(public_jwk(signer))).created_at == "2025-06-16T15:06:40.500Z"


def test_list_by_status(registry: PartnerKeyRegistry, signer: rsa.RSAPrivateKey) -> None:
    registry.register(ORG, body(public_jwk(signer, "a")))
    registry.register(ORG, body(public_jwk(signer, "b")))
    registry.revoke(ORG, "a")
    assert [r.kid for r in registry.list(ORG)] == ["b"]
    assert [(r.kid, r.status) for r in registry.list(ORG, status=REVOKED)] == [("a", "REVOKED")]
    assert registry.list(OTHER_ORG) == []
    with pytest.raises(ValidationFailed, match="status: must be one of ACTIVE, REVOKED") as caught:
        registry.list(ORG, status="active")
    assert caught.value.field == "status"


def test_a_revoked_key_no_longer_verifies(registry: PartnerKeyRegistry, signer: rsa.RSAPrivateKey, clock: Clock) -> None:
    registry.register(ORG, body(public_jwk(signer, "k1")))
    now = int(clock.now())
    token = jwt.encode({"email": "ada@example.com", "aud": "spotnana", "iat": now, "exp": now + 3600},
                       signer, algorithm="RS256", headers={"kid": "k1"})

    def lookup(kid: str) -> Any:
        return registry.find_active(ORG, kid)

    verified = verify_partner_jwt(token, lookup, JwtExpectations(), clock)
    assert verified.email == "ada@example.com" and verified.key.source == "registered pk-1"
    assert registry.revoke(ORG, "k1").status == REVOKED
    assert registry.find_active(ORG, "k1") is None
    assert registry.find_active(OTHER_ORG, "k1") is None


def test_revoking_twice_or_an_unknown_kid_is_not_found(registry: PartnerKeyRegistry, signer: rsa.RSAPrivateKey) -> None:
    registry.register(ORG, body(public_jwk(signer, "k1")))
    registry.revoke(ORG, "k1")
    with pytest.raises(PartnerKeyNotFound, match="already REVOKED"):
        registry.revoke(ORG, "k1")
    with pytest.raises(PartnerKeyNotFound, match="no key with that kid was registered"):
        registry.revoke(ORG, "never")
    with pytest.raises(PartnerKeyNotFound):
        registry.revoke(OTHER_ORG, "k1")


def test_an_active_kid_conflicts_within_a_company_only(registry: PartnerKeyRegistry, signer: rsa.RSAPrivateKey) -> None:
    registry.register(ORG, body(public_jwk(signer, "k1")))
    with pytest.raises(PartnerKeyConflict, match="kid 'k1' is already ACTIVE"):
        registry.register(ORG, body(public_jwk(signer, "k1")))
    assert registry.register(OTHER_ORG, body(public_jwk(signer, "k1"))).org_id == OTHER_ORG
    registry.revoke(ORG, "k1")
    assert registry.register(ORG, body(public_jwk(signer, "k1"))).status == ACTIVE  # a revoked kid may return


def test_reset_forgets_every_key(registry: PartnerKeyRegistry, signer: rsa.RSAPrivateKey) -> None:
    registry.register(ORG, body(public_jwk(signer)))
    registry.reset()
    assert registry.list(ORG) == [] and registry.find_active(ORG, "key-2025-01") is None


def _without(jwk: dict[str, Any], member: str) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k != member}


@pytest.mark.parametrize(("make", "field", "says"), [
    (lambda k: ["not", "an", "object"], "body", "JSON object"),
    (lambda k: {"keyType": "PEM", "jwks": {"keys": [k]}}, "keyType", "must be 'JWKS'"),
    (lambda k: {"jwks": {"keys": [k]}}, "keyType", "must be 'JWKS'"),
    (lambda k: {"keyType": "JWKS"}, "jwks", "JWK Set object"),
    (lambda k: {"keyType": "JWKS", "jwks": {"keys": k}}, "jwks.keys", "array"),
    (lambda k: body(), "jwks.keys", "exactly one key, got 0"),
    (lambda k: body(k, k), "jwks.keys", "exactly one key, got 2"),
    (lambda k: body("a-string"), "jwks.keys[0]", "JWK object"),
    (lambda k: body({**k, "kty": "EC"}), "jwks.keys[0].kty", 'must be "RSA"'),
    (lambda k: body({**k, "use": "enc"}), "jwks.keys[0].use", 'must be "sig"'),
    (lambda k: body(_without(k, "use")), "jwks.keys[0].use", 'must be "sig", got nothing'),
    (lambda k: body({**k, "alg": "RS512"}), "jwks.keys[0].alg", 'must be "RS256"'),
    (lambda k: body(_without(k, "alg")), "jwks.keys[0].alg", 'must be "RS256"'),
    (lambda k: body(_without(k, "kid")), "jwks.keys[0].kid", "non-empty string"),
    (lambda k: body({**k, "kid": "   "}), "jwks.keys[0].kid", "non-empty string"),
    (lambda k: body({**k, "kid": "x" * 257}), "jwks.keys[0].kid", "at most 256"),
    (lambda k: body({**k, "n": "AQAB"}), "jwks.keys[0].n", "RSA public key"),
    (lambda k: body(_without(k, "e")), "jwks.keys[0].e", "base64url"),
])
def test_refusals_name_the_field(make: Any, field: str, says: str, registry: PartnerKeyRegistry,
                                 signer: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValidationFailed) as caught:
        registry.register(ORG, make(public_jwk(signer)))
    assert caught.value.field == field and says in caught.value.message, caught.value.message
    assert registry.list(ORG) == []
    rendered = ErrorTable().render(caught.value, SPOTNANA)
    assert (rendered.status, rendered.error_code) == (400, "API_VALIDATION_FAILED")


def test_a_short_rsa_key_is_refused(registry: PartnerKeyRegistry) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValidationFailed, match="1024 bits; RS256 needs at least 2048") as caught:
        registry.register(ORG, body(public_jwk(small)))
    assert caught.value.field == "jwks.keys[0].n"


def test_private_parts_are_refused_and_never_echoed(registry: PartnerKeyRegistry, signer: rsa.RSAPrivateKey) -> None:
    private: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(signer, as_dict=True)
    leaky = {**public_jwk(signer), **{m: private[m] for m in ("d", "p", "q", "dp", "dq", "qi")}}
    with pytest.raises(ValidationFailed, match="carries private key members \\(d, p, q, dp, dq, qi\\)") as caught:
        registry.register(ORG, body(leaky))
    assert caught.value.field == "jwks.keys[0]"
    rendered = json.dumps(ErrorTable().render(caught.value, SPOTNANA).body)
    for member in ("d", "p", "q", "dp", "dq", "qi"):
        assert private[member] not in rendered and private[member] not in caught.value.message
    assert registry.list(ORG) == [] and registry.list(ORG, REVOKED) == []


def test_extra_public_members_are_not_kept(registry: PartnerKeyRegistry, signer: rsa.RSAPrivateKey) -> None:
    record = registry.register(ORG, body({**public_jwk(signer), "x5c": ["MIIB..."], "note": "hi"}))
    assert set(record.key.public_jwk) == {"kty", "use", "alg", "kid", "n", "e"}


@pytest.mark.parametrize(("error", "status", "code", "rfc"), [
    (PartnerKeyConflict, 409, "PARTNER_KEY_ALREADY_EXISTS", (409, "invalid_request")),
    (PartnerKeyNotFound, 404, "PARTNER_KEY_NOT_FOUND", (404, "not_found")),
    (ApiNotAuthenticated, 401, "USER_NOT_AUTHENTICATED", (401, "invalid_token")),
    (ApiForbidden, 403, "PERMISSION_DENIED", (403, "insufficient_scope")),
])
def test_keys_api_rows(error: Any, status: int, code: str, rfc: tuple[int, str]) -> None:
    table = ErrorTable()
    spotnana = table.render(error("x"), SPOTNANA)
    assert (spotnana.status, spotnana.error_code) == (status, code)
    rendered = table.render(error("x"), RFC6749)
    assert (rendered.status, rendered.body["error"]) == rfc


def test_a_401_carries_a_bearer_challenge() -> None:
    rendered = ErrorTable().render(ApiNotAuthenticated("no Authorization header"), SPOTNANA)
    assert rendered.headers["WWW-Authenticate"].startswith("Bearer")
    assert ErrorTable().row_for(ApiNotAuthenticated("x")).documented  # S11's sample 401
