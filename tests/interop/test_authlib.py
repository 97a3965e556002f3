"""Authlib's OAuth 2.0 client (httpx integration), unchanged, against a real simulator.

Spotnana documents the client credentials in the form body (client_secret_post); Authlib defaults to
HTTP Basic (client_secret_basic), so every working client here sets the method explicitly, and one
left at the default is told why it fails.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from spotnana_sim.core.protocol import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT

from .conftest import LiveSimulator

pytestmark = pytest.mark.e2e


def _client(sim: LiveSimulator, *, secret: str | None = None, **options: str) -> OAuth2Client:
    options.setdefault("token_endpoint_auth_method", "client_secret_post")
    return OAuth2Client(client_id=sim.client_id, client_secret=sim.client_secret if secret is None else secret, **options)


def _exchange(client: OAuth2Client, sim: LiveSimulator, **fields: str) -> dict[str, Any]:
    form = {"subject_token": sim.subject_token, "subject_token_type": ACCESS_TOKEN_TYPE, "scope": "openid", **fields}
    return dict(client.fetch_token(sim.token_url, grant_type=TOKEN_EXCHANGE_GRANT, **form))


class _Responses:
    """An Authlib compliance hook that keeps every token-endpoint response it sees."""

    def __init__(self, client: OAuth2Client) -> None:
        self.seen: list[httpx.Response] = []
        client.register_compliance_hook("access_token_response", self)

    def __call__(self, response: httpx.Response) -> httpx.Response:
        self.seen.append(response)
        return response


def test_token_exchange_with_client_secret_post(rfc6749_simulator: LiveSimulator) -> None:
    sim = rfc6749_simulator
    with _client(sim) as client:
        token = _exchange(client, sim)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "openid"
    assert isinstance(token["refresh_token"], str)
    with httpx.Client() as http:
        jwks = http.get(sim.url + "/.well-known/jwks.json").json()
    claims = _verified_claims(str(token["access_token"]), jwks)
    assert claims["email"] == sim.subject_email
    assert claims["client_id"] == sim.client_id


def test_client_credentials_with_client_secret_post(rfc6749_simulator: LiveSimulator) -> None:
    sim = rfc6749_simulator
    with _client(sim) as client:
        token = dict(client.fetch_token(sim.token_url, grant_type="client_credentials"))
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert "refresh_token" not in token


def test_wrong_secret_surfaces_invalid_client(rfc6749_simulator: LiveSimulator) -> None:
    sim = rfc6749_simulator
    with _client(sim, secret="not-the-secret") as client, pytest.raises(OAuthError) as caught:
        _exchange(client, sim)
    assert caught.value.error == "invalid_client"


def test_wrong_scope_surfaces_invalid_scope(rfc6749_simulator: LiveSimulator) -> None:
    sim = rfc6749_simulator
    with _client(sim) as client, pytest.raises(OAuthError) as caught:
        _exchange(client, sim, scope="email")
    assert caught.value.error == "invalid_scope"


def test_default_basic_auth_is_told_to_use_the_form_body_rfc6749(rfc6749_simulator: LiveSimulator) -> None:
    """Authlib's default, client_secret_basic, sends the credentials only in an Authorization header."""
    sim = rfc6749_simulator
    with OAuth2Client(client_id=sim.client_id, client_secret=sim.client_secret) as client:
        assert client.token_endpoint_auth_method == "client_secret_basic"  # the default this test is about
        responses = _Responses(client)
        with pytest.raises(OAuthError) as caught:
            _exchange(client, sim)
    [response] = responses.seen
    assert response.status_code in (400, 403)
    assert "client_secret_post" in caught.value.description
    assert "body" in caught.value.description


def test_default_basic_auth_is_told_to_use_the_form_body_spotnana(spotnana_simulator: LiveSimulator) -> None:
    """The same in Spotnana's dialect. Authlib does not raise on Spotnana's envelope (no "error" key): it
    returns the body as if it were a token, which is why the documented example adds a compliance hook."""
    sim = spotnana_simulator
    with OAuth2Client(client_id=sim.client_id, client_secret=sim.client_secret) as client:
        responses = _Responses(client)
        answer = _exchange(client, sim)
    [response] = responses.seen
    assert response.status_code in (400, 403)
    assert "access_token" not in answer
    message = " ".join(str(m.get("message", "")) for m in answer["errorMessages"])
    assert "client_secret_post" in message
    assert "body" in message


def _verified_claims(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    [key] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    signing_key = jwt.PyJWK(key)
    return dict(jwt.decode(token, signing_key.key, algorithms=[header["alg"]], options={"verify_aud": False}))
