"""How to check your user-detail API the way Spotnana will call it.

Against a deployed URL, no code is needed::

    pytest -m spotnana_user_detail --spotnana-user-detail-url https://you.example.com/v1/user-detail \
           --spotnana-token "$TEST_USER_TOKEN" --spotnana-email test.user@yourcompany.com

or ``spotnana-sim check user-detail --url ... --token ... --expect-email ...``. In a test, serve your
app on a loopback port with ``AppServer`` and run the checks against it.
"""

from __future__ import annotations

import httpx

from spotnana_sim.kit.testing import AppServer, SimulatorHandle
from spotnana_sim.kit.user_detail_checks import UserDetailTarget, run_checks
from spotnana_sim.reference.user_detail import create_user_detail_app


def test_our_user_detail_api_conforms() -> None:
    app = create_user_detail_app({"live-token-of-ada": "ada@yourcompany.com"})  # your app here
    with AppServer(app) as server, httpx.Client() as http:
        target = UserDetailTarget(url=server.url + "/v1/user-detail", token="live-token-of-ada",
                                  expect_email="ada@yourcompany.com")
        report = run_checks(target, http)

    assert not report.failed, report.to_table()
    assert report.result("garbage-token").status == "pass"


def test_the_simulator_calls_our_api_during_the_exchange(spotnana_sim: SimulatorHandle) -> None:
    app = create_user_detail_app({"live-token-of-ada": "ada@yourcompany.com"})
    with AppServer(app) as server:
        spotnana_sim.use_user_detail(server.url + "/v1/user-detail")
        spotnana_sim.add_profile("ada@yourcompany.com")
        response = httpx.post(spotnana_sim.token_url, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "client_id": "demo-client", "client_secret": "demo-secret",
            "subject_token": "live-token-of-ada",
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "openid",
        })

    assert response.status_code == 200, response.text
    [entry] = spotnana_sim.assert_exchanges(email="ada@yourcompany.com")
    assert entry["user_detail_calls"][0]["status"] == 200
