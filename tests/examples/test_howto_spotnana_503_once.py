"""How to test what your backend does when Spotnana answers 503 once, then recovers.

Arm a fault rule (the JSON of ``POST /_sim/faults``); it fires on the next request only.
"""

from __future__ import annotations

from spotnana_sim.kit.testing import SimulatorHandle
from spotnana_sim.reference.client import SpotnanaTokenClient


def test_one_503_is_retried_and_the_login_succeeds(spotnana_sim: SimulatorHandle) -> None:
    spotnana_sim.arm_fault({"target": "token-endpoint", "times": 1,
                            "response": {"status": 503, "errorCode": "SERVICE_UNAVAILABLE"}})
    waits: list[float] = []
    with SpotnanaTokenClient(spotnana_sim.token_url, "demo-client", "demo-secret", sleep=waits.append) as client:
        tokens = client.tokens_for("user-1", subject_token="demo-token-ada")

    assert tokens.access_token
    assert [entry["status"] for entry in spotnana_sim.journal()] == [503, 200]
    assert len(waits) == 1 and waits[0] > 0  # it backed off before retrying
