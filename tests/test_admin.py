"""The admin API (an extension): runtime clients and profiles, clock, key rotation, reset, access."""

from __future__ import annotations

import httpx
import jwt

from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from spotnana_sim.server.inprocess import InProcessSimulator

from .helpers import exchange_form


async def test_clients_added_at_runtime_work_until_reset(sim_client: httpx.AsyncClient) -> None:
    added = await sim_client.post("/_sim/clients", json={"id": "acme", "secret": "acme-secret-value"})
    assert added.status_code == 201 and added.json()["secret"] != "acme-secret-value"
    assert (await sim_client.post(TOKEN_ENDPOINT_PATH, data=exchange_form("acme", "acme-secret-value"))).status_code == 200
    listed = (await sim_client.get("/_sim/clients")).json()["clients"]
    assert {c["id"] for c in listed} == {DEMO_CLIENT_ID, "acme"}
    assert "acme-secret-value" not in str(listed)
    await sim_client.post("/_sim/reset")
    assert (await sim_client.post(TOKEN_ENDPOINT_PATH, data=exchange_form("acme", "acme-secret-value"))).status_code == 403


async def test_pointing_a_client_at_another_user_detail_url(sim_client: httpx.AsyncClient, in_process: InProcessSimulator) -> None:
    await sim_client.post("/_sim/clients", json={"id": DEMO_CLIENT_ID, "user_detail_url": "http://127.0.0.1:9/v1/user-detail", "timeout": 1})
    response = await sim_client.post(TOKEN_ENDPOINT_PATH, data=exchange_form())
    assert response.json()["errorMessages"][0]["errorCode"] == "USER_DETAIL_UNREACHABLE"
    assert in_process.simulator.clients.get(DEMO_CLIENT_ID).client_secret == DEMO_CLIENT_SECRET  # type: ignore[union-attr]


async def test_bad_admin_input_names_the_problem(sim_client: httpx.AsyncClient) -> None:
    for body, field in (({"secret": "x"}, "id"), ({"id": "new"}, "secret"),
                        ({"id": "a", "secret": "b", "grants": ["password"]}, "grants"),
                        ({"id": "a", "secret": "b", "timeout": "x"}, "timeout")):
        response = await sim_client.post("/_sim/clients", json=body)
        assert response.status_code == 400, body
        assert response.json()["errorMessages"][0]["message"].startswith(f"{field}: "), body
    response = await sim_client.post("/_sim/clients", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["errorMessages"][0]["message"]


async def test_profiles_added_at_runtime(sim_client: httpx.AsyncClient) -> None:
    await sim_client.post("/_sim/profiles", json={"email": "new@example.com"})
    assert "new@example.com" in (await sim_client.get("/_sim/profiles")).json()["profiles"]
    assert (await sim_client.post("/_sim/profiles", json={"email": "nope"})).status_code == 400


async def test_clock_moves_token_times(sim_client: httpx.AsyncClient) -> None:
    before = jwt.decode((await sim_client.post(TOKEN_ENDPOINT_PATH, data=exchange_form())).json()["access_token"], options={"verify_signature": False})
    assert (await sim_client.post("/_sim/clock", json={"advance": 7200})).json()["offset"] == 7200
    after = jwt.decode((await sim_client.post(TOKEN_ENDPOINT_PATH, data=exchange_form())).json()["access_token"], options={"verify_signature": False})
    assert after["iat"] - before["iat"] >= 7200
    assert (await sim_client.post("/_sim/clock", json={"reset": True})).json()["offset"] == 0
    assert (await sim_client.post("/_sim/clock", json={"advance": "soon"})).status_code == 400
    assert (await sim_client.post("/_sim/clock", json={})).status_code == 400


async def test_key_rotation_keeps_the_old_key_published(sim_client: httpx.AsyncClient) -> None:
    old = (await sim_client.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
    rotated = (await sim_client.post("/_sim/keys/rotate")).json()
    assert rotated["kid"] != old and old in rotated["published"]
    kids = {k["kid"] for k in (await sim_client.get("/.well-known/jwks.json")).json()["keys"]}
    assert kids == {old, rotated["kid"]}
    token = (await sim_client.post(TOKEN_ENDPOINT_PATH, data=exchange_form())).json()["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == rotated["kid"]
    await sim_client.post("/_sim/reset")
    assert [k["kid"] for k in (await sim_client.get("/.well-known/jwks.json")).json()["keys"]] == [old]


async def test_admin_refuses_non_loopback_clients(in_process: InProcessSimulator) -> None:
    transport = httpx.ASGITransport(app=in_process.app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as remote:
        assert (await remote.get("/_sim/journal")).status_code == 403
        assert (await remote.get("/_sim/health")).status_code == 200
