"""``spotnana-sim serve --embed-port P --with-partner-app``, as ``make run`` starts it: a real subprocess.

The simulator answers on a second port too (a separate embed origin), the reference partner app runs
beside it and exchanges tokens through its backend, and one SIGTERM stops both.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, org_id_for_client

from ..serve_process import ServeProcess

pytestmark = pytest.mark.e2e

ORG = org_id_for_client(DEMO_CLIENT_ID)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    server = ServeProcess(["--embed-port", "0", "--with-partner-app", "--partner-app-port", "0"], log)
    try:
        yield server
    finally:
        server.close()


def test_the_embed_port_serves_the_same_simulator_as_another_origin(served: ServeProcess) -> None:
    assert served.embed_url != served.url
    for base in (served.url, served.embed_url):
        page = httpx.get(f"{base}/embed/", params={"idp": "token-exchange-auth", "orgId": ORG})
        assert page.status_code == 200 and 'id="embed-config"' in page.text
    journal = httpx.get(f"{served.url}/_sim/journal", params={"kind": "embed"}).json()["entries"]
    assert len(journal) == 2, "both ports record into the one journal"
    scan = httpx.post(f"{served.embed_url}/_sim/scan-secrets", json={"texts": [f"x{DEMO_CLIENT_SECRET}x"]})
    assert scan.json() == {"clients": [DEMO_CLIENT_ID]}


def test_the_banner_names_the_partner_app_and_allows_its_origin(served: ServeProcess) -> None:
    assert served.partner_url is not None
    [origins] = [line for line in served.lines if line.startswith("  embed origins")]
    assert "http://localhost:3000" in origins and served.partner_url in origins


def test_the_partner_app_beside_it_exchanges_through_its_backend(served: ServeProcess) -> None:
    assert served.partner_url is not None
    partner = served.partner_url.replace("localhost", "127.0.0.1")
    with httpx.Client(base_url=partner) as browser:
        assert browser.get("/login", params={"user": "ada@example.com"}).status_code == 303
        home = browser.get("/")
        assert f'src="{served.embed_url}/embed/?idp=token-exchange-auth&amp;orgId={ORG}"' in home.text
        tokens = browser.post("/api/spotnana-tokens", json={})
    assert tokens.status_code == 200 and set(tokens.json()) == {"accessToken", "refreshToken"}
    assert DEMO_CLIENT_SECRET not in home.text + tokens.text
    exchanges = httpx.get(f"{served.url}/_sim/journal", params={"kind": "token"}).json()["entries"]
    assert [(e["client_id"], e["status"]) for e in exchanges] == [(DEMO_CLIENT_ID, 200)]


def test_one_sigterm_stops_the_simulator_and_the_partner_app(served: ServeProcess) -> None:
    """Last in this module: it stops the module's server."""
    assert served.partner_url is not None
    port = int(served.partner_url.rsplit(":", 1)[1])
    assert served.stop() == 0
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
