"""How to test what your backend does when the user-detail API times out, without waiting 5 seconds.

A ``user_detail: timeout`` fault makes the simulator wait the client's whole callback timeout (5 s
unless configured), as a hung user-detail API would, then answer ``504 USER_DETAIL_TIMEOUT``. In a
test, give the client a short timeout first: per test with ``use_user_detail(..., timeout=)`` or
``add_client(..., timeout=)``, or for a marked test with a client whose ``timeout`` is short.
"""

from __future__ import annotations

import httpx
import pytest

from spotnana_sim.core.settings import ClientConfig
from spotnana_sim.kit.testing import SimulatorHandle

TIMEOUT = {"target": "user-detail", "times": 1, "user_detail": "timeout"}
FORM = {
    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
    "client_id": "demo-client", "client_secret": "demo-secret", "subject_token": "demo-token-ada",
    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "openid",
}


def test_a_user_detail_timeout_is_a_504_for_your_backend(spotnana_sim: SimulatorHandle) -> None:
    # Same API (here the embedded reference one), a 0.2 s callback timeout for this test only.
    spotnana_sim.use_user_detail(spotnana_sim.user_detail_url, timeout=0.2)
    spotnana_sim.arm_fault(TIMEOUT)

    response = httpx.post(spotnana_sim.token_url, data=FORM)

    assert response.status_code == 504
    assert response.json()["errorMessages"][0]["errorCode"] == "USER_DETAIL_TIMEOUT"
    assert httpx.post(spotnana_sim.token_url, data=FORM).status_code == 200  # the fault fired once


@pytest.mark.spotnana_sim(clients=[ClientConfig("demo-client", "demo-secret", timeout=0.2)])
def test_the_same_with_a_marked_client(spotnana_sim: SimulatorHandle) -> None:
    spotnana_sim.arm_fault(TIMEOUT)
    assert httpx.post(spotnana_sim.token_url, data=FORM).status_code == 504
    [entry] = spotnana_sim.journal()
    assert "no answer within 0.2 s" in entry["user_detail_calls"][0]["error"]
