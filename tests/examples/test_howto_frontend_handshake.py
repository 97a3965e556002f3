"""How to test your page's half of Spotnana's embed handshake in a real browser (Playwright).

Point your page's iframe at the simulator's stand-in embedded app (``<simulator>/embed/…``) instead
of Spotnana's embed host, sign a user in to *your* app, and wait for the stable hooks:
``<body data-state="signed-in">`` and the email in ``#email`` inside the iframe. The journal
(``GET /_sim/journal?kind=embed``) says what happened at each step of the handshake.

Here "your app" is the reference partner app; replace the ``your_app`` fixture with however you
start yours, pointed at ``simulator.token_url`` (your backend) and ``simulator.url`` (your iframe).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from spotnana_sim.core.settings import EmbedConfig, Settings
from spotnana_sim.kit.testing import SimulatorHandle, SimulatorServer
from spotnana_sim.reference.client import SpotnanaTokenClient
from spotnana_sim.reference.partner_app import PartnerAppConfig, create_partner_app
from spotnana_sim.server.served import AppServer, bind_socket, socket_url

sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install 'spotnana-simulator[browser]'")
pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"  # Debian's; leave executable_path out to use a browser Playwright installed
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
USER = "ada@example.com"  # a demo user of the simulator's embedded reference user-detail API


@pytest.fixture(scope="module")
def your_app() -> Iterator[tuple[SimulatorHandle, str]]:
    """The simulator, and your app on its own origin, which the embedded app must allow (as Spotnana must)."""
    your_socket = bind_socket("127.0.0.1", 0)
    your_origin = socket_url(your_socket, "127.0.0.1")
    simulator = SimulatorServer.start_with(Settings(embed=EmbedConfig(allowed_origins=(your_origin,))))
    spotnana = SpotnanaTokenClient(simulator.handle.token_url, "demo-client", "demo-secret")  # your backend's client
    app = create_partner_app(PartnerAppConfig(
        token_url=simulator.handle.token_url, client_id="demo-client", client_secret="demo-secret",
        embed_base_url=simulator.handle.url,  # the iframe: <simulator>/embed/?idp=token-exchange-auth&orgId=…
        org_id=simulator.handle.clients[0].org_id,  # GET /_sim/clients shows each client's org_id
    ), token_client=spotnana)
    server = AppServer(app, sock=your_socket).start()
    try:
        yield simulator.handle, your_origin
    finally:
        server.stop()
        spotnana.close()
        simulator.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM) and not os.environ.get("REQUIRE_CHROMIUM"):  # CI requires it
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def test_the_iframe_signs_your_user_in(your_app: tuple[SimulatorHandle, str], browser: Any) -> None:
    simulator, your_origin = your_app
    page = browser.new_page()
    try:
        page.goto(f"{your_origin}/login?user={USER}")  # sign in to your app, however it does that
        embed = page.frame_locator("iframe[src*='/embed/']")
        sync_api.expect(embed.locator("body")).to_have_attribute("data-state", "signed-in", timeout=10_000)
        sync_api.expect(embed.locator("#email")).to_have_text(USER)
    finally:
        page.close()

    entries = httpx.get(f"{simulator.url}/_sim/journal", params={"kind": "embed"}).json()["entries"]
    accepted = [e for e in entries if e["embed"]["step"] == "response_accepted"]
    assert [(e["email"], e["embed"]["origin"]) for e in accepted] == [(USER, your_origin)]
