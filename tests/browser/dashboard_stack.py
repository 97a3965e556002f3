"""A served simulator with the dashboard and a scenario runner, as `spotnana-sim serve` wires it, for the
dashboard's browser tests; and the exchanges those tests make against it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from spotnana_sim.core.protocol import ACCESS_TOKEN_TYPE, TOKEN_ENDPOINT_PATH, TOKEN_EXCHANGE_GRANT
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Settings
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.reference.demo_users import DEMO_SUBJECT_TOKEN
from spotnana_sim.scenarios.live import LiveScenarioRunner
from spotnana_sim.server.app import create_app
from spotnana_sim.server.served import AppServer, bind_socket, build_served_simulator, socket_url

from .stack import shared_keys

DASHBOARD_PATH = "/_sim/ui"


async def _no_sleep(seconds: float) -> None:
    """Fault delays and simulated timeouts without waiting: the tests assert outcomes, not time."""


@dataclass
class Dashboard:
    url: str
    simulator: Simulator

    @property
    def page_url(self) -> str:
        return self.url + DASHBOARD_PATH

    def exchange(self, **changes: str) -> httpx.Response:
        """One token exchange as a partner backend sends it (the demo client and user unless changed)."""
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
            "subject_token": DEMO_SUBJECT_TOKEN, "subject_token_type": ACCESS_TOKEN_TYPE, "scope": "openid",
            **changes,
        }
        return httpx.post(self.url + TOKEN_ENDPOINT_PATH, data=form, timeout=10)

    def last_id(self) -> int:
        entries = self.simulator.journal.entries()
        return max((entry.id for entry in entries), default=0)

    def arm(self, rule: dict[str, Any]) -> None:
        self.simulator.faults.arm(rule)


@contextmanager
def dashboard(settings: Settings | None = None) -> Iterator[Dashboard]:
    sock = bind_socket("127.0.0.1", 0)
    url = socket_url(sock, "127.0.0.1")
    simulator = build_served_simulator(settings or Settings(), base_url=url, keys=shared_keys())
    simulator.faults.sleep = _no_sleep
    app = create_app(simulator, scenario_runner=LiveScenarioRunner(simulator, url))
    try:
        with AppServer(app, sock=sock):
            yield Dashboard(url, simulator)
    finally:
        simulator.keys.reset()  # the key set is shared by every stack of the session
