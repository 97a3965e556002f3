"""Real servers for the browser tests: the simulator (its app as ``serve`` builds it), and partner apps."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp

from spotnana_sim.core.embed import EmbedConfig
from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Settings, org_id_for_client
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.reference.client import SpotnanaTokenClient, SpotnanaTokens
from spotnana_sim.reference.partner_app import PartnerAppConfig, create_partner_app
from spotnana_sim.server.app import create_app
from spotnana_sim.server.served import AppServer, bind_socket, build_served_simulator, socket_url

from ..helpers import shared_keys


@dataclass
class PartnerContext:
    sim_url: str
    org_id: str
    closers: list[Callable[[], None]] = field(default_factory=list)


PartnerFactory = Callable[[PartnerContext], ASGIApp]


def reference_partner(context: PartnerContext) -> ASGIApp:
    config = PartnerAppConfig(
        token_url=context.sim_url + TOKEN_ENDPOINT_PATH,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        embed_base_url=context.sim_url,
        org_id=context.org_id,
    )
    client = SpotnanaTokenClient(config.token_url, config.client_id, config.client_secret)
    context.closers.append(client.close)
    return create_partner_app(config, token_client=client)


@dataclass
class Stack:
    simulator: Simulator
    sim: AppServer
    partner: AppServer
    embed: EmbedConfig
    org_id: str

    def entries(self, step: str | None = None) -> list[dict[str, Any]]:
        """The embed entries of the journal, each flattened: its shared fields and its ``embed`` step fields."""
        flat = [{**entry.to_json(), **(entry.embed or {})} for entry in self.simulator.journal.entries(kind="embed")]
        return [e for e in flat if step in (None, e["step"])]

    def wait_for(self, step: str, where: Callable[[dict[str, Any]], bool] = lambda e: True,
                 timeout: float = 10.0) -> dict[str, Any]:
        """The first journal entry of ``step`` matching ``where``, waiting for the browser to get there."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.entries(step) if where(e)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                steps = [(e.get("step"), e.get("outcome"), e.get("message")) for e in self.entries()]
                raise AssertionError(f"no journal entry {step!r}; the embed journal has: {steps}")
            time.sleep(0.05)  # the browser works on its own time: poll what it has done so far

    def exchange(self, user_token: str = "demo-token-ada") -> SpotnanaTokens:
        with SpotnanaTokenClient(self.sim.url + TOKEN_ENDPOINT_PATH, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) as client:
            return client.tokens_for(user_token, user_token)

    def iframe_url(self, query: str | None = None) -> str:
        return f"{self.sim.url}/embed/?" + (query if query is not None else f"idp=token-exchange-auth&orgId={self.org_id}")


@contextmanager
def embed_stack(partner: PartnerFactory, *, allow_partner: bool = True, faults: tuple[dict[str, Any], ...] = (),
                **embed: Any) -> Iterator[Stack]:
    """The simulator as ``serve`` builds it (``[embed]`` settings from ``embed``, ``faults`` as ``[[faults]]``)
    and a partner app, each on a free loopback port."""
    sim_sock, partner_sock = bind_socket("127.0.0.1", 0), bind_socket("127.0.0.1", 0)
    context = PartnerContext(sim_url=socket_url(sim_sock, "127.0.0.1"), org_id=org_id_for_client(DEMO_CLIENT_ID))
    try:
        partner_url = socket_url(partner_sock, "127.0.0.1")
        embed.setdefault("allowed_origins", (partner_url,) if allow_partner else ("http://localhost:3000",))
        config = EmbedConfig(**embed)
        settings = Settings(embed=config, faults=faults)
        simulator = build_served_simulator(settings, base_url=context.sim_url, keys=shared_keys())
        sim = AppServer(create_app(simulator), sock=sim_sock)
        partner_server = AppServer(partner(context), sock=partner_sock)
        servers = [sim.start(), partner_server.start()]
        try:
            yield Stack(simulator, sim, partner_server, config, context.org_id)
        finally:
            for server in servers:  # both wind down at once: each takes a fifth of a second
                server.server.should_exit = True
            for server in servers:
                server.stop()
    finally:
        sim_sock.close()
        partner_sock.close()
        for close in context.closers:
            close()
