"""How to test against an in-process simulator: no socket, a fresh simulator for each test.

``spotnana_sim_app`` needs no event loop of yours: ``request()`` and ``post()`` answer plain (sync)
tests, so pytest alone runs them. In async code (with an async test plugin of your choice), use
``async with spotnana_sim_app.client() as http`` instead, or ``asyncio.run`` as below.
"""

from __future__ import annotations

import asyncio

import httpx

from spotnana_sim.kit.testing import InProcessHandle

FORM = {
    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
    "client_id": "demo-client", "client_secret": "demo-secret", "subject_token": "demo-token-ada",
    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "openid",
}


def test_exchange_in_process(spotnana_sim_app: InProcessHandle) -> None:
    response = spotnana_sim_app.post("/v2/auth/oauth2-token", data=FORM)

    assert response.status_code == 200, response.text
    spotnana_sim_app.assert_exchanges(email="ada@example.com", count=1)


def test_several_requests_on_one_async_client(spotnana_sim_app: InProcessHandle) -> None:
    async def twice() -> list[httpx.Response]:
        async with spotnana_sim_app.client() as http:
            return [await http.post("/v2/auth/oauth2-token", data=FORM) for _ in range(2)]

    assert [r.status_code for r in asyncio.run(twice())] == [200, 200]
