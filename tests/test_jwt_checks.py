"""`check jwt` against the reference identity provider and deliberately broken JWKS, on real loopback ports."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spotnana_sim.kit.jwt_checks import CHECKS, JwtProbe, JwtTarget, run_check, run_checks
from spotnana_sim.kit.report import FAIL, PASS, SKIP, WARN, Report
from spotnana_sim.reference.partner_idp import JWKS_PATH, PartnerIdentityProvider, create_partner_idp_app

from .servers import ServerThread

pytestmark = pytest.mark.e2e

JWT_CHECKS = [name for name in CHECKS if name.startswith("jwt-")]


@dataclass
class Answer:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"cache-control": "public, max-age=300"})
    media_type: str = "application/json"


@pytest.fixture(scope="module")
def partner() -> Iterator[tuple[str, Answer]]:
    """One server for the module; each test sets what the JWKS URL answers."""
    answer = Answer()

    async def jwks(request: Request) -> Response:
        content = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        return Response(content, status_code=answer.status, headers=answer.headers, media_type=answer.media_type)

    with ServerThread(Starlette(routes=[Route(JWKS_PATH, jwks)])) as server:
        yield server.url + JWKS_PATH, answer


@pytest.fixture
def serve(partner: tuple[str, Answer]) -> Iterator[Any]:
    url, answer = partner

    def set_answer(body: Any, **more: Any) -> str:
        fresh = Answer(body, **more)
        answer.body, answer.status, answer.headers, answer.media_type = (
            fresh.body, fresh.status, fresh.headers, fresh.media_type)
        return url

    yield set_answer


@pytest.fixture(scope="module")
def idp() -> PartnerIdentityProvider:
    return PartnerIdentityProvider(issuer="https://auth.customer.com")


def check(url: str, token: str | None = None, **target: Any) -> Report:
    with httpx.Client() as http:
        return run_checks(JwtTarget(jwks_url=url, token=token, **target), http)


def statuses(report: Report) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


def test_the_reference_idp_passes_every_check(idp: PartnerIdentityProvider) -> None:
    with ServerThread(create_partner_idp_app(idp)) as server:
        report = check(server.url + JWKS_PATH, idp.sign_for("ada"), issuer="https://auth.customer.com")
    assert statuses(report) == {name: PASS for name in CHECKS}, report.to_table()
    assert report.exit_status == 0


def test_without_a_token_the_jwt_checks_skip(serve: Any, idp: PartnerIdentityProvider) -> None:
    report = check(serve(idp.jwks()))
    assert {statuses(report)[name] for name in JWT_CHECKS} == {SKIP}
    assert not report.failed and "--token" in report.result("jwt-format").summary


def test_a_jwks_leaking_private_parts_is_critical(serve: Any, idp: PartnerIdentityProvider) -> None:
    private: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(idp.private_key, as_dict=True)
    report = check(serve({"keys": [{**private, "kid": idp.kid, "use": "sig", "alg": "RS256"}]}), idp.sign_for("ada"))
    leak = report.result("jwks-no-private-keys")
    assert leak.status == FAIL and leak.critical and "CRITICAL" in leak.summary
    assert leak.details == (f"keys[0] (kid {idp.kid!r}): d, p, q, dp, dq, qi",)
    for rendering in (report.to_json(), report.to_table(), report.to_junit()):
        assert private["d"] not in rendering and private["p"] not in rendering
    assert report.failed


def test_a_symmetric_key_in_the_jwks_is_critical(serve: Any, idp: PartnerIdentityProvider) -> None:
    report = check(serve({"keys": [*idp.jwks()["keys"], {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}]}))
    assert report.result("jwks-no-private-keys").critical
    assert report.result("jwks-rs256-keys").status == PASS  # the RSA key itself is fine


def test_a_token_with_a_kid_not_in_the_jwks(serve: Any, idp: PartnerIdentityProvider) -> None:
    token = jwt.encode({"email": "ada@example.com", "aud": "spotnana", "iat": int(time.time()),
                        "exp": int(time.time()) + 3600}, idp.private_key, algorithm="RS256", headers={"kid": "old-key"})
    report = check(serve(idp.jwks()), token)
    kid = report.result("jwt-kid")
    assert kid.status == FAIL and "'old-key' is not in the JWKS" in kid.summary and idp.kid in kid.summary
    assert report.result("jwt-signature").status == SKIP


def test_a_token_signed_by_another_key(serve: Any, idp: PartnerIdentityProvider) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    token = jwt.encode({"email": "ada@example.com", "aud": "spotnana", "iat": now, "exp": now + 3600},
                       stranger, algorithm="RS256", headers={"kid": idp.kid})
    report = check(serve(idp.jwks()), token)
    assert report.result("jwt-signature").status == FAIL
    assert report.result("jwt-kid").status == PASS


def test_an_empty_jwks_fails_saying_why(serve: Any) -> None:
    report = check(serve({"keys": []}))
    assert report.result("jwks-format").status == FAIL and "no keys" in report.result("jwks-format").summary
    assert report.result("jwks-rs256-keys").status == FAIL
    assert report.failed


@pytest.mark.parametrize(("body", "check_name", "says"), [
    (b"<html>login</html>", "jwks-format", "not JSON"),
    ({"kty": "RSA", "n": "x", "e": "AQAB"}, "jwks-format", 'no "keys" array'),
    ({"keys": ["junk"]}, "jwks-format", "not valid JWKs"),
])
def test_not_a_jwk_set(serve: Any, body: Any, check_name: str, says: str) -> None:
    report = check(serve(body))
    result = report.result(check_name)
    assert result.status == FAIL and says in result.summary


def test_a_key_without_kid(serve: Any, idp: PartnerIdentityProvider) -> None:
    (key,) = idp.jwks()["keys"]
    report = check(serve({"keys": [{k: v for k, v in key.items() if k != "kid"}]}))
    assert report.result("jwks-kids").status == FAIL
    assert report.result("jwks-rs256-keys").status == FAIL


def test_duplicate_kids_warn(serve: Any, idp: PartnerIdentityProvider) -> None:
    (key,) = idp.jwks()["keys"]
    assert check(serve({"keys": [key, key]})).result("jwks-kids").status == WARN


def test_unusable_rsa_keys(serve: Any, idp: PartnerIdentityProvider) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    small_jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(small.public_key(), as_dict=True), "kid": "small"}
    mixed = check(serve({"keys": [*idp.jwks()["keys"], small_jwk]})).result("jwks-rs256-keys")
    assert mixed.status == WARN and "1024 bits" in mixed.details[0]
    only_small = check(serve({"keys": [small_jwk]})).result("jwks-rs256-keys")
    assert only_small.status == FAIL


def test_a_jwks_behind_authentication(serve: Any) -> None:
    result = check(serve({"error": "unauthorized"}, status=401)).result("jwks-reachable")
    assert result.status == FAIL and "without authentication" in result.fix


def test_an_unreachable_jwks() -> None:
    with ServerThread(Starlette()) as server:
        url = server.url + JWKS_PATH
    report = check(url)
    assert report.result("jwks-reachable").status == FAIL and report.result("jwks-format").status == FAIL


@pytest.mark.parametrize(("headers", "status"), [
    ({}, WARN),
    ({"cache-control": "no-store"}, WARN),
    ({"cache-control": "max-age=5"}, WARN),
    ({"cache-control": "max-age=604800"}, WARN),
    ({"cache-control": "public"}, WARN),
    ({"cache-control": "public, max-age=600"}, PASS),
])
def test_cache_headers(serve: Any, idp: PartnerIdentityProvider, headers: dict[str, str], status: str) -> None:
    assert check(serve(idp.jwks(), headers=headers)).result("jwks-cache-headers").status == status


def test_an_odd_content_type_warns(serve: Any, idp: PartnerIdentityProvider) -> None:
    assert check(serve(idp.jwks(), media_type="text/plain")).result("jwks-format").status == WARN


def test_plain_http_away_from_loopback_fails() -> None:
    probe = JwtProbe(JwtTarget(jwks_url="http://idp.example/jwks"), httpx.Client())
    assert run_check("jwks-https", probe).status == FAIL


def _token(idp: PartnerIdentityProvider, **claims: Any) -> str:
    return idp.sign("ada@example.com", **claims)


@pytest.mark.parametrize(("make", "check_name", "status", "says"), [
    (lambda idp: jwt.encode({"email": "a@b.c"}, "s" * 32, algorithm="HS256", headers={"kid": idp.kid}),
     "jwt-algorithm", FAIL, "HS256"),
    (lambda idp: _token(idp, email=None), "jwt-email", FAIL, "no email at claim 'email'"),
    (lambda idp: _token(idp, email=None, user={"mail": "ada@example.com"}), "jwt-email", FAIL, "user.mail"),
    (lambda idp: _token(idp, aud="https://apis.example"), "jwt-audience", FAIL, "expected it to contain 'spotnana'"),
    (lambda idp: _token(idp, aud=["a", "spotnana"]), "jwt-audience", PASS, "contains"),
    (lambda idp: _token(idp, exp=int(time.time()) + 7200), "jwt-lifetime", WARN, "over an hour"),
    (lambda idp: _token(idp, iat=int(time.time()), exp=int(time.time()) - 10), "jwt-lifetime", FAIL,
     "exp is not later than iat"),
    (lambda idp: _token(idp, exp=None), "jwt-lifetime", FAIL, "no numeric exp"),
    (lambda idp: _token(idp, iat=None), "jwt-lifetime", WARN, "no numeric iat"),
    (lambda idp: _token(idp, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), "jwt-lifetime", WARN,
     "expired"),
    (lambda idp: _token(idp, iss=None), "jwt-issuer", WARN, "no iss claim"),
])
def test_sample_token_checks(serve: Any, idp: PartnerIdentityProvider, make: Any, check_name: str, status: str,
                             says: str) -> None:
    report = check(serve(idp.jwks()), make(idp))
    result = report.result(check_name)
    assert result.status == status and says in result.summary, result.explain()


def test_an_expected_issuer_is_compared(serve: Any, idp: PartnerIdentityProvider) -> None:
    report = check(serve(idp.jwks()), idp.sign_for("ada"), issuer="https://other.example")
    assert report.result("jwt-issuer").status == FAIL


def test_a_garbage_token(serve: Any, idp: PartnerIdentityProvider) -> None:
    token = "not-a-jwt-but-a-secret-0123456789"
    report = check(serve(idp.jwks()), token)
    assert report.result("jwt-format").status == FAIL
    assert {statuses(report)[n] for n in JWT_CHECKS if n != "jwt-format"} == {SKIP}
    assert token not in report.to_json()


def test_the_token_is_never_shown_whole(serve: Any, idp: PartnerIdentityProvider) -> None:
    token = _token(idp, aud="wrong")
    report = check(serve(idp.jwks()), token)
    for rendering in (report.to_json(), report.to_table(), report.to_junit()):
        assert token not in rendering and token.rsplit(".", 1)[1] not in rendering
    ET.fromstring(report.to_junit().split("?>", 1)[1])


def test_targets_are_validated() -> None:
    with pytest.raises(ValueError, match="jwks_url"):
        JwtTarget(jwks_url="ftp://idp.example/jwks")
    with pytest.raises(ValueError, match="timeout"):
        JwtTarget(jwks_url="https://idp.example/jwks", timeout=0)
    assert JwtTarget(jwks_url="https://idp.example/jwks", token="  \n").token is None
    assert "secret-token" not in repr(JwtTarget(jwks_url="https://idp.example/jwks", token="secret-token"))


def test_unknown_check_names_are_listed() -> None:
    probe = JwtProbe(JwtTarget(jwks_url="https://idp.example/jwks"), httpx.Client())
    with pytest.raises(ValueError, match="jwks-reachable"):
        run_check("nope", probe)
