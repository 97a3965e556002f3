"""How to assert that your backend reuses a token rather than fetching it twice.

Spotnana rate-limits the token endpoint and asks partners to reuse tokens until they expire.
Move the simulator's clock instead of sleeping: give your client the same clock.
"""

from __future__ import annotations

from spotnana_sim.kit.testing import SimulatorHandle
from spotnana_sim.reference.client import SpotnanaTokenClient


def test_second_login_reuses_the_token(spotnana_sim: SimulatorHandle) -> None:
    with SpotnanaTokenClient(spotnana_sim.token_url, "demo-client", "demo-secret") as client:
        first = client.tokens_for("user-1", subject_token="demo-token-ada")
        second = client.tokens_for("user-1", subject_token="demo-token-ada")

    assert second.access_token == first.access_token
    spotnana_sim.assert_exchanges(email="ada@example.com", count=1)  # lists every request if not


def test_a_new_token_is_fetched_once_the_old_one_expires(spotnana_sim: SimulatorHandle) -> None:
    clock = spotnana_sim.simulator.clock
    with SpotnanaTokenClient(spotnana_sim.token_url, "demo-client", "demo-secret", clock=clock.now) as client:
        client.tokens_for("user-1", subject_token="demo-token-ada")
        spotnana_sim.advance_clock(3600)  # the token's whole life, without waiting an hour
        client.tokens_for("user-1", subject_token="demo-token-ada")

    spotnana_sim.assert_exchanges(email="ada@example.com", count=2)
    assert not spotnana_sim.grade_client().failed  # the grader agrees: no needless exchange
