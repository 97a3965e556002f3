"""The exchange flow in-process (httpx ASGITransport): ordering, journal, profiles, token quirks."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest

from spotnana_sim.core.protocol import (
    CLIENT_CREDENTIALS_GRANT,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Settings, UserDetailPolicy
from spotnana_sim.reference.user_detail import DEMO_SUBJECT_TOKEN
from spotnana_sim.server.inprocess import InProcessSimulator

from .helpers import exchange_form

FORM = exchange_form()


async def test_demo_exchange_in_process(sim_client: httpx.AsyncClient, in_process: InProcessSimulator) -> None:
    response = await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)
    assert response.status_code == 200, response.text
    claims = in_process.simulator.issuer.verify_access_token(response.json()["access_token"])
    assert claims["email"] == "ada@example.com"


async def test_refresh_token_is_bound_to_client_and_user(sim_client: httpx.AsyncClient, in_process: InProcessSimulator) -> None:
    body = (await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)).json()
    issuer = in_process.simulator.issuer
    grant = issuer.read_refresh_token(body["refresh_token"], client_id=DEMO_CLIENT_ID)
    access = issuer.verify_access_token(body["access_token"])
    assert (grant.subject, grant.email) == (access["sub"], "ada@example.com")
    from spotnana_sim.core.tokens import InvalidRefreshToken

    with pytest.raises(InvalidRefreshToken):
        issuer.read_refresh_token(body["refresh_token"], client_id="someone-else")


async def test_one_journal_entry_per_request_whatever_the_outcome(sim_client: httpx.AsyncClient, in_process: InProcessSimulator) -> None:
    journal = in_process.simulator.journal
    await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)
    await sim_client.post(TOKEN_ENDPOINT_PATH, data={**FORM, "client_secret": "wrong"})
    await sim_client.post(TOKEN_ENDPOINT_PATH, json=FORM)
    await sim_client.get(TOKEN_ENDPOINT_PATH)
    await sim_client.post(TOKEN_ENDPOINT_PATH, content=b"x" * 20_000, headers={"content-type": "application/x-www-form-urlencoded"})
    statuses = [(e["status"], e["error_code"]) for e in journal.entries()]
    assert statuses == [
        (200, None), (403, "INVALID_CLIENT_CREDENTIALS"), (400, "API_VALIDATION_FAILED"),
        (405, "METHOD_NOT_ALLOWED"), (413, "PAYLOAD_TOO_LARGE"),
    ]


async def test_journal_records_the_callback_and_never_a_whole_secret(sim_client: httpx.AsyncClient, in_process: InProcessSimulator) -> None:
    await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)
    (entry,) = in_process.simulator.journal.entries()
    assert entry["client_id"] == DEMO_CLIENT_ID and entry["grant_type"] == TOKEN_EXCHANGE_GRANT
    (call,) = entry["user_detail_calls"]
    assert call["status"] == 200 and call["url"].endswith("/partner/v1/user-detail") and call["elapsed_ms"] >= 0
    text = json.dumps(entry.to_json())
    assert DEMO_CLIENT_SECRET not in text and DEMO_SUBJECT_TOKEN not in text


async def test_wrong_secret_makes_no_callback(sim_client: httpx.AsyncClient, in_process: InProcessSimulator) -> None:
    await sim_client.post(TOKEN_ENDPOINT_PATH, data={**FORM, "client_secret": "nope"})
    (entry,) = in_process.simulator.journal.entries()
    assert entry["user_detail_calls"] == []


async def test_client_credentials_subject_is_the_client(sim_client: httpx.AsyncClient, in_process: InProcessSimulator) -> None:
    response = await sim_client.post(TOKEN_ENDPOINT_PATH, data={
        "grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET})
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == DEMO_CLIENT_ID and "email" not in claims and "scope" not in claims
    assert "refresh_token" not in response.json()


async def test_audience_becomes_the_aud_claim(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post(TOKEN_ENDPOINT_PATH, data={**FORM, "audience": "https://apis.spotnana.com/v2"})
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://apis.spotnana.com/v2"


@pytest.mark.parametrize("settings", [Settings(profiles=("grace@example.com",))])
async def test_email_of_no_profile_is_refused(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)
    assert response.status_code == 403
    assert response.json()["errorMessages"][0]["errorCode"] == "USER_NOT_FOUND"


@pytest.mark.parametrize("settings", [Settings(tokens=Settings().tokens.__class__(lifetime=600))])
async def test_configured_lifetime_is_advertised_and_signed(sim_client: httpx.AsyncClient) -> None:
    body = (await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert body["expires_in"] == 600 == claims["exp"] - claims["iat"]


@pytest.mark.parametrize("settings", [Settings(errors="rfc6749", error_overrides={})])
async def test_modeled_rows_follow_the_dialect(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post(TOKEN_ENDPOINT_PATH, data={**FORM, "subject_token": "unknown"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("settings", [Settings(error_overrides={"profile_not_found": {"status": 404, "errorCode": "NO_PROFILE"}},
                                               profiles=("x@example.com",))])
async def test_overridden_modeled_row_is_used(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)
    assert response.status_code == 404 and response.json()["errorMessages"][0]["errorCode"] == "NO_PROFILE"


@pytest.mark.parametrize("settings", [Settings(profiles=("ADA@example.com",),
                                               user_detail=UserDetailPolicy(email_match="exact"))])
async def test_exact_email_matching_refuses_a_case_only_difference(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)  # the reference API says ada@example.com
    assert response.status_code == 403
    assert response.json()["errorMessages"][0]["errorCode"] == "USER_NOT_FOUND"


@pytest.mark.parametrize("settings", [Settings(profiles=("ADA@example.com",))])
async def test_default_email_matching_ignores_case(sim_client: httpx.AsyncClient) -> None:
    assert (await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)).status_code == 200


@pytest.mark.parametrize("settings", [Settings(user_detail=UserDetailPolicy(rejecting_statuses=frozenset({401, 404})))])
async def test_configured_rejecting_statuses(sim_client: httpx.AsyncClient, in_process: InProcessSimulator) -> None:
    in_process.simulator.faults.arm({"target": "user-detail", "response": {"status": 404}})
    response = await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)
    assert response.status_code == 401 and response.json()["errorMessages"][0]["errorCode"] == "USER_NOT_AUTHENTICATED"
    in_process.simulator.faults.clear()
    in_process.simulator.faults.arm({"target": "user-detail", "response": {"status": 403}})
    response = await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)  # no longer a rejection: 403 is not listed
    assert response.json()["errorMessages"][0]["errorCode"] == "USER_DETAIL_UNEXPECTED_STATUS"


@pytest.mark.parametrize("settings", [Settings(user_detail=UserDetailPolicy(max_body_bytes=2048))])
async def test_configured_read_cap_applies_to_fault_answers_too(sim_client: httpx.AsyncClient, in_process: InProcessSimulator) -> None:
    padding = "x" * 3000  # under the default 64 KiB cap, over the configured 2 KiB one
    in_process.simulator.faults.arm({"target": "user-detail", "response": {"status": 200, "body": {"user": {"email": "ada@example.com"}, "pad": padding}}})
    response = await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)
    assert response.json()["errorMessages"][0]["errorCode"] == "USER_DETAIL_RESPONSE_TOO_LARGE"
