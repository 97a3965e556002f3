"""The server process itself: SIGTERM drains in-flight requests and exits 0, a non-loopback bind without
an admin token is refused, and the admin token is enforced. Real ``spotnana-sim serve`` subprocesses.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH
from spotnana_sim.core.settings import Settings
from spotnana_sim.server.app import create_app
from spotnana_sim.server.served import build_served_simulator

from ..helpers import exchange_form
from ..serve_process import ServeProcess
from ..servers import HeldUserDetail, ServerThread, wait_until

pytestmark = pytest.mark.e2e

HANG_GUARD = 60.0  # only keeps a broken run from hanging the suite
CLI = [sys.executable, "-m", "spotnana_sim"]


def _port_refuses(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


async def test_sigterm_lets_in_flight_requests_finish_then_exits_0(start_serve: Callable[..., ServeProcess]) -> None:
    partner = HeldUserDetail()
    with ServerThread(partner.app) as partner_server, partner.gate:
        server = start_serve("--user-detail-url", partner_server.url + "/v1/user-detail", "--client", "life:life-secret")
        async with httpx.AsyncClient(base_url=server.url, timeout=HANG_GUARD) as http:
            forms = [exchange_form("life", "life-secret", f"user{i}") for i in range(3)]
            in_flight = [asyncio.create_task(http.post(TOKEN_ENDPOINT_PATH, data=form)) for form in forms]
            await wait_until(lambda: partner.gate.waiting == 3, "all three are inside the simulator")

            server.process.send_signal(signal.SIGTERM)
            await wait_until(lambda: _port_refuses(server.url), "shutdown has begun: no new connections")
            assert not any(task.done() for task in in_flight)
            partner.gate.open()
            answers = await asyncio.gather(*in_flight)
        code = await asyncio.to_thread(server.process.wait, HANG_GUARD)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert code == 0


def test_sigterm_on_an_idle_server_exits_0(start_serve: Callable[..., ServeProcess]) -> None:
    server = start_serve()
    assert httpx.get(server.url + "/_sim/health").status_code == 200
    assert server.stop() == 0


def test_non_loopback_bind_without_admin_token_is_refused_saying_why() -> None:
    result = subprocess.run([*CLI, "serve", "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True,
                            timeout=HANG_GUARD)
    assert result.returncode == 2
    assert "--admin-token" in result.stderr and "--insecure-admin" in result.stderr
    assert "admin API" in result.stderr
    assert result.stdout == ""  # nothing was served


def test_admin_token_is_enforced_and_health_stays_open(start_serve: Callable[..., ServeProcess]) -> None:
    token = "admin-token-for-lifecycle-test"
    server = start_serve("--admin-token", token)
    try:
        assert httpx.get(server.url + "/_sim/health").status_code == 200
        assert httpx.get(server.url + "/_sim/journal").status_code == 403
        assert httpx.get(server.url + "/_sim/journal", headers={"authorization": "Bearer wrong"}).status_code == 403
        assert httpx.post(server.url + "/_sim/reset", headers={"authorization": token}).status_code == 403
        ok = httpx.get(server.url + "/_sim/journal", headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        refused = httpx.post(server.url + "/_sim/faults", json={"target": "token-endpoint"})
        assert refused.status_code == 403 and token not in refused.text
    finally:
        server.stop()
    assert token not in server.log_path.read_text()  # the admin token is never logged whole


async def test_admin_api_refuses_non_loopback_clients_when_no_token_is_set() -> None:
    simulator = build_served_simulator(Settings(), base_url="http://127.0.0.1:1")
    app = create_app(simulator)
    outside = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("192.0.2.10", 40000)), base_url="http://sim")
    inside = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 40000)), base_url="http://127.0.0.1")
    async with outside, inside:
        assert (await outside.get("/_sim/journal")).status_code == 403
        assert (await outside.post("/_sim/reset")).status_code == 403
        assert (await outside.get("/_sim/health")).status_code == 200  # health is for everyone
        assert (await inside.get("/_sim/journal")).status_code == 200
    await simulator.aclose()
