"""The reference partner identity provider: the JWTs it signs and the JWKS it serves."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import jwt
import pytest

from spotnana_sim.core.clock import Clock
from spotnana_sim.core.partner_jwks import JwksCache
from spotnana_sim.core.partner_jwt import (
    PRIVATE_JWK_MEMBERS,
    JwtExpectations,
    PartnerKey,
    averify_partner_jwt,
    jwk_problems,
)
from spotnana_sim.core.user_detail import CallbackFailed, UserDetailResponse
from spotnana_sim.reference.partner_idp import (
    JWKS_PATH,
    TOKEN_PATH,
    PartnerIdentityProvider,
    create_partner_idp_app,
    demo_emails,
)
from spotnana_sim.reference.user_detail import DEMO_USERS

from .servers import ServerThread

NOW = 1_750_000_000.0


@pytest.fixture(scope="module")
def idp() -> PartnerIdentityProvider:
    return PartnerIdentityProvider(issuer="https://auth.customer.com", clock=lambda: NOW)


def test_demo_users_are_the_reference_apis() -> None:
    assert sorted(demo_emails().values()) == sorted(DEMO_USERS.values())
    assert demo_emails()["ada"] == "ada@example.com"


def test_tokens_have_spotnanas_example_shape(idp: PartnerIdentityProvider) -> None:
    token = idp.sign_for("ada")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == idp.kid
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == {"email", "iss", "sub", "aud", "iat", "exp"}
    assert claims["email"] == "ada@example.com" and claims["aud"] == "spotnana"
    assert claims["iss"] == "https://auth.customer.com" and claims["exp"] - claims["iat"] == 3600
    assert claims["sub"] == jwt.decode(idp.sign("ada@example.com"), options={"verify_signature": False})["sub"]


def test_users_by_short_name_or_email(idp: PartnerIdentityProvider) -> None:
    by_email = jwt.decode(idp.sign_for("grace@example.com"), options={"verify_signature": False})
    assert by_email["email"] == "grace@example.com"
    with pytest.raises(KeyError, match="unknown user 'mallory'"):
        idp.sign_for("mallory")


def test_overrides_make_broken_tokens(idp: PartnerIdentityProvider) -> None:
    claims = jwt.decode(idp.sign("ada@example.com", aud="other", exp=0), options={"verify_signature": False})
    assert (claims["aud"], claims["exp"]) == ("other", 0)


def test_the_jwks_is_public_only_and_kid_is_the_thumbprint(idp: PartnerIdentityProvider) -> None:
    (key,) = idp.jwks()["keys"]
    assert not set(PRIVATE_JWK_MEMBERS) & set(key)
    assert jwk_problems(key, strict=True) == []
    canonical = json.dumps({m: key[m] for m in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    assert key["kid"] == base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def test_rotation_keeps_the_previous_key_published() -> None:
    idp = PartnerIdentityProvider(clock=lambda: NOW)
    old_kid, old_token = idp.kid, idp.sign_for("ada")
    new_kid = idp.rotate()
    assert new_kid != old_kid and jwt.get_unverified_header(idp.sign_for("ada"))["kid"] == new_kid
    keys = {k["kid"]: PartnerKey.from_jwk(k, "idp") for k in idp.jwks()["keys"]}
    assert list(keys) == [new_kid, old_kid]
    jwt.decode(old_token, key=keys[old_kid].pyjwk, algorithms=["RS256"], audience="spotnana",
               options={"verify_exp": False, "verify_iat": False})
    idp.rotate(keep=0)
    assert len(idp.jwks()["keys"]) == 1


async def test_the_app_in_process() -> None:
    idp = PartnerIdentityProvider(clock=lambda: NOW)
    transport = httpx.ASGITransport(app=create_partner_idp_app(idp))
    async with httpx.AsyncClient(transport=transport, base_url="http://idp") as client:
        jwks = await client.get(JWKS_PATH)
        assert jwks.status_code == 200 and jwks.json() == idp.jwks()
        assert jwks.headers["cache-control"] == "public, max-age=300"
        assert jwks.headers["content-type"].startswith("application/jwk-set+json")
        token = await client.get(TOKEN_PATH, params={"user": "linus"})
        assert token.status_code == 200 and token.headers["cache-control"] == "no-store"
        claims = jwt.decode(token.json()["subject_token"], options={"verify_signature": False})
        assert claims["email"] == "linus@example.com" and token.json()["expires_in"] == 3600
        unknown = await client.get(TOKEN_PATH, params={"user": "nobody"})
        assert unknown.status_code == 404 and "ada" in unknown.json()["error_description"]


@pytest.mark.e2e
async def test_the_simulators_jwks_cache_verifies_its_tokens_over_http() -> None:
    clock = Clock()
    idp = PartnerIdentityProvider(clock=clock.now)
    with ServerThread(create_partner_idp_app(idp)) as server:
        async with httpx.AsyncClient() as http:

            async def fetch(url: str) -> UserDetailResponse:
                try:
                    response = await http.get(url, timeout=5)
                except httpx.HTTPError as exc:
                    raise CallbackFailed(str(exc)) from None
                return UserDetailResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                                          response.content)

            cache = JwksCache(fetch, clock)
            token = (await http.get(server.url + TOKEN_PATH, params={"user": "ada"})).json()["subject_token"]
            url = server.url + JWKS_PATH
            verified = await averify_partner_jwt(token, cache.lookup(url), JwtExpectations(), clock)
            assert verified.email == "ada@example.com" and verified.kid == idp.kid
            idp.rotate()  # a key rotated in is found by the unknown-kid refetch, 10 s later
            clock.advance(10)
            fresh = (await http.get(server.url + TOKEN_PATH, params={"user": "grace"})).json()["subject_token"]
            assert (await averify_partner_jwt(fresh, cache.lookup(url), JwtExpectations(), clock)).email == "grace@example.com"
