"""The modeled per-client rate limit: a token bucket on the simulator's clock."""

from __future__ import annotations

import httpx
import pytest

from spotnana_sim.core.clock import Clock
from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH
from spotnana_sim.core.rate_limit import RateLimiter
from spotnana_sim.core.settings import RateLimitConfig, Settings
from spotnana_sim.server.inprocess import InProcessSimulator

from .helpers import exchange_form

FORM = exchange_form()


def test_a_full_bucket_allows_its_capacity_then_says_how_long_to_wait() -> None:
    clock = Clock(base=lambda: 1000.0)
    limiter = RateLimiter(requests=3, per_seconds=60, clock=clock)
    assert [limiter.retry_after("a") for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("a") == 20  # one request's worth refills in 60 / 3 s
    clock.advance(20)
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a") == 20


def test_clients_have_separate_budgets_and_reset_refills() -> None:
    limiter = RateLimiter(requests=1, per_seconds=10, clock=Clock(base=lambda: 0.0, offset=1000))
    assert limiter.retry_after("a") is None and limiter.retry_after("b") is None
    assert limiter.retry_after("a") == 10
    limiter.reset()
    assert limiter.retry_after("a") is None


def test_a_clock_moved_back_never_refills() -> None:
    clock = Clock(base=lambda: 5000.0)
    limiter = RateLimiter(requests=1, per_seconds=10, clock=clock)
    assert limiter.retry_after("a") is None
    clock.advance(-3000)
    assert limiter.retry_after("a") == 10


@pytest.mark.parametrize("settings", [Settings(rate_limit=RateLimitConfig(requests=2, per_seconds=60))])
async def test_the_endpoint_answers_429_with_retry_after_once_the_budget_is_spent(
    sim_client: httpx.AsyncClient, in_process: InProcessSimulator
) -> None:
    assert [(await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)).status_code for _ in range(2)] == [200, 200]
    limited = await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "30"
    assert limited.json()["errorMessages"][0]["errorCode"] == "TOO_MANY_REQUESTS"
    entry = in_process.simulator.journal.entries()[-1]
    assert (entry["status"], entry["error_code"], entry["retry_after"]) == (429, "TOO_MANY_REQUESTS", "30")
    assert entry["user_detail_calls"] == []  # a limited request goes no further
    await sim_client.post("/_sim/clock", json={"advance": 30})
    assert (await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)).status_code == 200


async def test_no_limit_by_default(sim_client: httpx.AsyncClient) -> None:
    statuses = {(await sim_client.post(TOKEN_ENDPOINT_PATH, data=FORM)).status_code for _ in range(30)}
    assert statuses == {200}
