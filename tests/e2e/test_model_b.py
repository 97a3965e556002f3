"""Identity model B end to end over real HTTP: partner-signed subject JWTs verified against the
partner's JWKS URL or keys registered through the partner-public-keys API, and the API-user lifecycle
(rotate, revoke) retiring secrets and tokens at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    JWT_TOKEN_TYPE,
    OPENID_SCOPE,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.settings import ClientConfig, Settings
from spotnana_sim.reference.partner_idp import PartnerIdentityProvider, create_partner_idp_app

from ..servers import ServerThread, running_simulator

pytestmark = pytest.mark.e2e

JWKS_CLIENT = ClientConfig("idp-client", "idp-secret")  # jwks_url set per test run (the IdP's port)
KEYS_CLIENT = ClientConfig("keys-client", "keys-secret", identity="jwt")
TMC = ClientConfig("tmc", "tmc-secret", role="TMC_ADMIN", grants=frozenset({CLIENT_CREDENTIALS_GRANT}))


@pytest.fixture(scope="module")
def idp() -> PartnerIdentityProvider:
    return PartnerIdentityProvider(issuer="https://auth.partner.example")


@pytest.fixture(scope="module")
def idp_server(idp: PartnerIdentityProvider) -> Iterator[ServerThread]:
    with ServerThread(create_partner_idp_app(idp)) as server:
        yield server


@pytest.fixture(scope="module")
def sim(idp_server: ServerThread) -> Iterator[tuple[ServerThread, Any]]:
    jwks_client = ClientConfig("idp-client", "idp-secret", jwks_url=idp_server.url + "/.well-known/jwks.json",
                               jwt_issuer="https://auth.partner.example")
    settings = Settings(clients=(jwks_client, KEYS_CLIENT, TMC), profiles=("ada@example.com", "grace@example.com"))
    with running_simulator(settings) as pair:
        yield pair


@pytest.fixture(autouse=True)
def fresh(sim: tuple[ServerThread, Any]) -> None:
    sim[1].reset()


def exchange(server: ServerThread, client: str, secret: str, token: str, token_type: str = ACCESS_TOKEN_TYPE) -> httpx.Response:
    return httpx.post(server.url + TOKEN_ENDPOINT_PATH, data={
        "grant_type": TOKEN_EXCHANGE_GRANT, "client_id": client, "client_secret": secret, "subject_token": token,
        "subject_token_type": token_type, "scope": OPENID_SCOPE,
    })


def client_token(server: ServerThread, client: str, secret: str) -> str:
    answer = httpx.post(server.url + TOKEN_ENDPOINT_PATH, data={
        "grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": client, "client_secret": secret})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def code(response: httpx.Response) -> str:
    return str(response.json()["errorMessages"][0]["errorCode"])


def test_a_jwt_signed_by_a_key_in_the_partners_jwks_gets_tokens(sim: tuple[ServerThread, Any], idp: PartnerIdentityProvider) -> None:
    server, simulator = sim
    answer = exchange(server, "idp-client", "idp-secret", idp.sign("ada@example.com"))
    assert answer.status_code == 200, answer.text
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    assert claims["email"] == "ada@example.com" and claims["org_id"] == simulator.clients.get("idp-client").org_id
    entry = simulator.journal.entries()[-1]
    assert entry.partner_jwt["token"]["claims"]["email"] == "ada@example.com"
    assert entry.partner_jwt["token"]["key"]["kid"] == idp.kid
    assert idp.sign("ada@example.com").split(".")[2] not in str(entry.to_json())  # the signature is redacted
    assert exchange(server, "idp-client", "idp-secret", idp.sign("ada@example.com"), JWT_TOKEN_TYPE).status_code == 200


@pytest.mark.parametrize(("change", "expected"), [
    ({"aud": "someone-else"}, "SUBJECT_TOKEN_AUDIENCE_INVALID"),
    ({"iss": "https://evil.example"}, "SUBJECT_TOKEN_ISSUER_INVALID"),
    ({"exp_offset": -3600}, "SUBJECT_TOKEN_EXPIRED"),
    ({"email": None}, "SUBJECT_TOKEN_EMAIL_MISSING"),
])
def test_each_wrong_claim_has_its_own_error(
    sim: tuple[ServerThread, Any], idp: PartnerIdentityProvider, change: dict[str, Any], expected: str,
) -> None:
    server, _ = sim
    claims = dict(change)
    if "exp_offset" in claims:
        now = int(idp.clock())
        claims = {"iat": now - 7200, "exp": now + claims.pop("exp_offset")}
    answer = exchange(server, "idp-client", "idp-secret", idp.sign("ada@example.com", **claims))
    assert answer.status_code == 401 and code(answer) == expected, answer.text


def test_a_token_of_another_key_and_a_token_that_is_no_jwt_are_refused_by_name(
    sim: tuple[ServerThread, Any], idp: PartnerIdentityProvider,
) -> None:
    server, _ = sim
    stranger = PartnerIdentityProvider(issuer="https://auth.partner.example")
    assert code(exchange(server, "idp-client", "idp-secret", stranger.sign("ada@example.com"))) == "SUBJECT_TOKEN_KEY_UNKNOWN"
    assert code(exchange(server, "idp-client", "idp-secret", "not-a-jwt")) == "SUBJECT_TOKEN_MALFORMED"
    none_alg = jwt.encode({"email": "ada@example.com"}, None, algorithm="none", headers={"kid": idp.kid})
    assert code(exchange(server, "idp-client", "idp-secret", none_alg)) == "SUBJECT_TOKEN_ALGORITHM_NOT_ALLOWED"


def test_the_jwks_faults_answer_with_their_own_errors(sim: tuple[ServerThread, Any], idp: PartnerIdentityProvider) -> None:
    server, simulator = sim
    token = idp.sign("ada@example.com")
    simulator.faults.arm({"target": "partner-jwks", "partner_jwks": "unreachable", "times": 1})
    assert code(exchange(server, "idp-client", "idp-secret", token)) == "PARTNER_JWKS_UNREACHABLE"
    simulator.faults.arm({"target": "partner-jwks", "partner_jwks": "not_json", "times": 1})
    assert code(exchange(server, "idp-client", "idp-secret", token)) == "PARTNER_JWKS_INVALID"
    assert exchange(server, "idp-client", "idp-secret", token).status_code == 200


def test_a_key_registered_through_the_api_verifies_until_it_is_revoked(
    sim: tuple[ServerThread, Any], idp: PartnerIdentityProvider,
) -> None:
    server, simulator = sim
    company = simulator.clients.get("keys-client").org_id
    bearer = {"Authorization": "Bearer " + client_token(server, "keys-client", "keys-secret")}
    url = f"{server.url}/v2/companies/{company}/partner-public-keys"
    token = idp.sign("grace@example.com")
    assert code(exchange(server, "keys-client", "keys-secret", token)) == "SUBJECT_TOKEN_KEY_UNKNOWN"

    created = httpx.post(url, json={"keyType": "JWKS", "jwks": idp.jwks()}, headers=bearer)
    assert created.status_code == 201, created.text
    (record,) = created.json()["keys"]
    assert record["status"] == "ACTIVE" and record["kid"] == idp.kid and record["orgId"] == company and record["thumbprint"]
    assert exchange(server, "keys-client", "keys-secret", token).status_code == 200
    assert httpx.post(url, json={"keyType": "JWKS", "jwks": idp.jwks()}, headers=bearer).status_code == 409
    assert [k["kid"] for k in httpx.get(url, headers=bearer).json()["keys"]] == [idp.kid]

    assert httpx.delete(f"{url}/{idp.kid}", headers=bearer).status_code == 204
    assert code(exchange(server, "keys-client", "keys-secret", token)) == "SUBJECT_TOKEN_KEY_UNKNOWN"
    assert [k["status"] for k in httpx.get(url + "?status=REVOKED", headers=bearer).json()["keys"]] == ["REVOKED"]
    assert httpx.delete(f"{url}/{idp.kid}", headers=bearer).status_code == 404


def test_the_keys_api_refuses_strangers(sim: tuple[ServerThread, Any], idp: PartnerIdentityProvider) -> None:
    server, simulator = sim
    company = simulator.clients.get("keys-client").org_id
    url = f"{server.url}/v2/companies/{company}/partner-public-keys"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer not-a-token"}).json()["errorMessages"][0]["errorCode"] == \
        "USER_NOT_AUTHENTICATED"
    other = {"Authorization": "Bearer " + client_token(server, "idp-client", "idp-secret")}
    assert httpx.get(url, headers=other).status_code == 403  # another company's API user
    tmc = {"Authorization": "Bearer " + client_token(server, "tmc", "tmc-secret")}
    assert httpx.get(url, headers=tmc).status_code == 200  # a TMC admin manages every company
    private = {"keyType": "JWKS", "jwks": {"keys": [{**idp.jwks()["keys"][0], "d": "c2VjcmV0"}]}}
    refused = httpx.post(url, json=private, headers=tmc)
    assert refused.status_code == 400 and "c2VjcmV0" not in refused.text


def test_rotating_an_api_user_retires_its_secret_and_tokens_at_once(sim: tuple[ServerThread, Any]) -> None:
    server, _ = sim
    old_token = client_token(server, "keys-client", "keys-secret")
    company_url = f"{server.url}/v2/companies/{jwt.decode(old_token, options={'verify_signature': False})['org_id']}"
    assert httpx.get(company_url + "/partner-public-keys", headers={"Authorization": f"Bearer {old_token}"}).status_code == 200
    tmc = {"Authorization": "Bearer " + client_token(server, "tmc", "tmc-secret")}
    rotated = httpx.post(server.url + "/v2/api-users/rotate", json={"clientId": "keys-client"}, headers=tmc)
    assert rotated.status_code == 200 and rotated.json()["clientId"] == "keys-client"
    new_secret = rotated.json()["clientSecret"]
    assert new_secret != "keys-secret"
    assert httpx.get(company_url + "/partner-public-keys", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    failed = httpx.post(server.url + TOKEN_ENDPOINT_PATH, data={
        "grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": "keys-client", "client_secret": "keys-secret"})
    assert failed.status_code == 403
    assert client_token(server, "keys-client", new_secret)


def test_revoking_stops_every_token_and_the_secret_until_rotation(sim: tuple[ServerThread, Any]) -> None:
    server, _ = sim
    token = client_token(server, "keys-client", "keys-secret")
    own = {"Authorization": f"Bearer {token}"}
    assert httpx.post(server.url + "/v2/api-users/revoke", json={"clientId": "keys-client"}, headers=own).status_code == 403
    tmc = {"Authorization": "Bearer " + client_token(server, "tmc", "tmc-secret")}
    assert httpx.post(server.url + "/v2/api-users/revoke", json={"clientId": "keys-client"}, headers=tmc).status_code == 204
    org = jwt.decode(token, options={"verify_signature": False})["org_id"]
    assert httpx.get(f"{server.url}/v2/companies/{org}/partner-public-keys", headers=own).status_code == 401
    refused = httpx.post(server.url + TOKEN_ENDPOINT_PATH, data={
        "grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": "keys-client", "client_secret": "keys-secret"})
    assert refused.status_code == 403
    assert httpx.post(server.url + "/v2/api-users/revoke", json={}, headers=tmc).status_code == 400


# ---------------------------------------------------------------- the command line


def test_check_jwt_passes_a_good_partner_and_fails_a_leaky_jwks_critically(
    idp_server: ServerThread, idp: PartnerIdentityProvider, tmp_path: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    from spotnana_sim.cli.main import main

    token_file = tmp_path / "sample.jwt"
    token_file.write_text(idp.sign("ada@example.com"), encoding="utf-8")
    jwks_url = idp_server.url + "/.well-known/jwks.json"
    assert main(["check", "jwt", "--jwks-url", jwks_url, "--token", str(token_file), "--json"]) == 0, capsys.readouterr().out

    leaky = PartnerIdentityProvider()
    leaked = {"keys": [{**leaky.jwks()["keys"][0], "d": "cHJpdmF0ZS1wYXJ0"}]}
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def jwks(request: Any) -> JSONResponse:
        return JSONResponse(leaked)

    with ServerThread(Starlette(routes=[Route("/jwks", jwks)])) as server:
        capsys.readouterr()
        assert main(["check", "jwt", "--jwks-url", server.url + "/jwks"]) == 1
        table = capsys.readouterr().out
    assert "FAIL (critical)" in table and "cHJpdmF0ZS1wYXJ0" not in table


def test_check_jwt_catches_a_token_whose_kid_is_not_in_the_jwks(
    idp_server: ServerThread, tmp_path: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    from spotnana_sim.cli.main import main

    stranger = PartnerIdentityProvider()
    token_file = tmp_path / "sample.jwt"
    token_file.write_text(stranger.sign("ada@example.com"), encoding="utf-8")
    code_ = main(["check", "jwt", "--jwks-url", idp_server.url + "/.well-known/jwks.json", "--token", str(token_file)])
    assert code_ == 1 and stranger.kid in capsys.readouterr().out


def test_demo_runs_a_model_b_exchange_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    from spotnana_sim.cli.main import main

    assert main(["demo", "--identity", "jwt"]) == 0
    out = capsys.readouterr().out
    assert "(identity jwt)" in out and "-> 200" in out and '"email": "ada@example.com"' in out


def test_keys_from_the_config_file_verify_from_the_start_and_after_a_reset(tmp_path: Any) -> None:
    import json as json_module

    from spotnana_sim.core.config_file import load_settings

    idp = PartnerIdentityProvider(issuer="https://auth.partner.example")
    other = PartnerIdentityProvider(issuer="https://auth.partner.example")
    (tmp_path / "partner-jwks.json").write_text(json_module.dumps(other.jwks()), encoding="utf-8")
    key = idp.jwks()["keys"][0]
    table = "\n".join(f'{name} = "{value}"' for name, value in key.items())
    config = tmp_path / "sim.toml"
    config.write_text(f'[[clients]]\nid = "acme"\nsecret = "acme-secret"\nidentity = "jwt"\n'
                      f'jwks_file = "partner-jwks.json"\n[[clients.keys]]\n{table}\n', encoding="utf-8")
    with running_simulator(load_settings(config)) as (server, simulator):
        for signer in (idp, other):
            assert exchange(server, "acme", "acme-secret", signer.sign("ada@example.com")).status_code == 200
        simulator.reset()
        assert exchange(server, "acme", "acme-secret", idp.sign("ada@example.com")).status_code == 200
        (view,) = [c for c in httpx.get(server.url + "/_sim/clients").json()["clients"] if c["id"] == "acme"]
        assert (view["identity"], view["role"]) == ("jwt", "COMPANY_ADMIN") and view["org_id"]
