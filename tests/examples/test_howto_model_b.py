"""How to test a backend on identity model B: its identity provider signs a JWT, Spotnana checks it.

``spotnana_partner_idp`` is a partner identity provider with a fresh key pair and its JWKS served on a
free loopback port for the test. ``add_jwt_client`` gives the simulator a model-B client that verifies
subject JWTs against that JWKS (``jwks_url=``) or against keys registered for its company.
"""

from __future__ import annotations

import time

import httpx

from spotnana_sim.kit.testing import ServedPartnerIdp, SimulatorHandle


def exchange(sim: SimulatorHandle, client_id: str, secret: str, subject_token: str) -> httpx.Response:
    return httpx.post(sim.token_url, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "client_id": client_id, "client_secret": secret, "subject_token": subject_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "openid",
    })


def test_a_jwt_the_partner_signed_gets_tokens(spotnana_sim: SimulatorHandle, spotnana_partner_idp: ServedPartnerIdp) -> None:
    spotnana_sim.add_jwt_client("acme", "acme-secret", jwks_url=spotnana_partner_idp.jwks_url)

    answer = exchange(spotnana_sim, "acme", "acme-secret", spotnana_partner_idp.sign("ada@example.com"))

    assert answer.status_code == 200, answer.text
    spotnana_sim.assert_exchanges(email="ada@example.com", client_id="acme")


def test_each_bad_jwt_is_refused_by_name(spotnana_sim: SimulatorHandle, spotnana_partner_idp: ServedPartnerIdp) -> None:
    spotnana_sim.add_jwt_client("acme", "acme-secret", jwks_url=spotnana_partner_idp.jwks_url)
    now = int(time.time())
    expired = spotnana_partner_idp.sign("ada@example.com", iat=now - 7200, exp=now - 3600)
    for token, code in ((expired, "SUBJECT_TOKEN_EXPIRED"),
                        (spotnana_partner_idp.sign("ada@example.com", aud="someone-else"), "SUBJECT_TOKEN_AUDIENCE_INVALID"),
                        (spotnana_partner_idp.sign("ada@example.com", email=None), "SUBJECT_TOKEN_EMAIL_MISSING")):
        answer = exchange(spotnana_sim, "acme", "acme-secret", token)
        assert answer.status_code == 401
        assert answer.json()["errorMessages"][0]["errorCode"] == code


def test_a_key_registered_for_the_company(spotnana_sim: SimulatorHandle, spotnana_partner_idp: ServedPartnerIdp) -> None:
    spotnana_sim.add_jwt_client("acme", "acme-secret")  # no JWKS URL: only keys registered for its company
    token = spotnana_partner_idp.sign("ada@example.com")
    assert exchange(spotnana_sim, "acme", "acme-secret", token).status_code == 401  # no key yet

    record = spotnana_sim.register_partner_key("acme", spotnana_partner_idp.jwks()["keys"][0])

    assert record["status"] == "ACTIVE" and record["kid"] == spotnana_partner_idp.kid
    assert exchange(spotnana_sim, "acme", "acme-secret", token).status_code == 200
