"""A served simulator with the dashboard and a scenario runner, as `spotnana-sim serve` wires it, for the
dashboard's browser tests; and the exchanges those tests make against it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH
from spotnana_sim.core.settings import Settings
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.scenarios.live import LiveScenarioRunner
from spotnana_sim.server.app import create_app
from spotnana_sim.server.served import AppServer, bind_socket, build_served_simulator, socket_url

from ..helpers import FakeSleep, exchange_form, shared_keys

DASHBOARD_PATH = "/_sim/ui"


@dataclass
class Dashboard:
    url: str
    simulator: Simulator

    @property
    def page_url(self) -> str:
        return self.url + DASHBOARD_PATH

    def exchange(self, **changes: str) -> httpx.Response:
        """One token exchange as a partner backend sends it (the demo client and user unless changed)."""
        return httpx.post(self.url + TOKEN_ENDPOINT_PATH, data=exchange_form(**changes), timeout=10)

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
    simulator.faults.sleep = FakeSleep()  # fault delays and simulated timeouts without waiting
    app = create_app(simulator, scenario_runner=LiveScenarioRunner(simulator, url))
    try:
        with AppServer(app, sock=sock):
            yield Dashboard(url, simulator)
    finally:
        simulator.keys.reset()  # the key set is shared by every stack of the session
