"""The server process itself: SIGTERM drains in-flight requests and exits 0, a non-loopback bind without
an admin token is refused, and the admin token is enforced. Real ``spotnana-sim serve`` subprocesses.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from spotnana_sim.core.protocol import ACCESS_TOKEN_TYPE, OPENID_SCOPE, TOKEN_ENDPOINT_PATH, TOKEN_EXCHANGE_GRANT
from spotnana_sim.core.settings import Settings
from spotnana_sim.server.app import create_app
from spotnana_sim.server.served import build_served_simulator

from ..servers import ServerThread

pytestmark = pytest.mark.e2e

HANG_GUARD = 60.0  # only keeps a broken run from hanging the suite
CLI = [sys.executable, "-m", "spotnana_sim"]
BANNER = "spotnana-sim listening on "


class Serve:
    """``spotnana-sim serve`` in a subprocess; ``url`` comes from the first line it prints."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log_path = log
        self.log = log.open("wb")
        self.process = subprocess.Popen([*CLI, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                                        stderr=self.log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None
        first = self.process.stdout.readline().decode()
        assert first.startswith(BANNER), f"unexpected first line {first!r}; log: {log.read_text()[-2000:]}"
        self.url = first[len(BANNER):].strip()
        # Drain the rest of the banner so a full pipe can never block the server.
        self.drain = threading.Thread(target=self.process.stdout.read, daemon=True)
        self.drain.start()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=HANG_GUARD)
        finally:
            self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.drain.join(timeout=HANG_GUARD)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.log.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[type]:
    started: list[Serve] = []

    def start(*args: str) -> Serve:
        server = Serve(list(args), tmp_path / f"serve-{len(started)}.log")
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        server.close()


class GatedPartner:
    """A user-detail API that holds every answer until ``gate`` opens, counting calls that arrived."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.arrived = 0
        self.app = Starlette(routes=[Route("/v1/user-detail", self.user_detail)])

    async def user_detail(self, request: Request) -> Response:
        self.arrived += 1
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return JSONResponse({"user": {"email": f"{token}@example.com"}})


def _port_refuses(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


async def _wait_for(condition: object) -> None:
    for _ in range(int(HANG_GUARD / 0.02)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never came true")


async def test_sigterm_lets_in_flight_requests_finish_then_exits_0(serve: type) -> None:
    partner = GatedPartner()
    with ServerThread(partner.app) as partner_server:
        server = serve("--user-detail-url", partner_server.url + "/v1/user-detail", "--client", "life:life-secret")
        async with httpx.AsyncClient(base_url=server.url, timeout=HANG_GUARD) as http:
            forms = [{"grant_type": TOKEN_EXCHANGE_GRANT, "client_id": "life", "client_secret": "life-secret",
                      "subject_token": f"user{i}", "subject_token_type": ACCESS_TOKEN_TYPE, "scope": OPENID_SCOPE}
                     for i in range(3)]
            in_flight = [asyncio.create_task(http.post(TOKEN_ENDPOINT_PATH, data=form)) for form in forms]
            await _wait_for(lambda: partner.arrived == 3)  # all three are inside the simulator now

            server.process.send_signal(signal.SIGTERM)
            await _wait_for(lambda: _port_refuses(server.url))  # shutdown has begun: no new connections
            assert not any(task.done() for task in in_flight)
            partner.gate.set()
            answers = await asyncio.gather(*in_flight)
        code = await asyncio.to_thread(server.process.wait, HANG_GUARD)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert code == 0


def test_sigterm_on_an_idle_server_exits_0(serve: type) -> None:
    server = serve()
    assert httpx.get(server.url + "/_sim/health").status_code == 200
    assert server.stop() == 0


def test_non_loopback_bind_without_admin_token_is_refused_saying_why() -> None:
    result = subprocess.run([*CLI, "serve", "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True,
                            timeout=HANG_GUARD)
    assert result.returncode == 2
    assert "--admin-token" in result.stderr and "--insecure-admin" in result.stderr
    assert "admin API" in result.stderr
    assert result.stdout == ""  # nothing was served


def test_admin_token_is_enforced_and_health_stays_open(serve: type) -> None:
    token = "admin-token-for-lifecycle-test"
    server = serve("--admin-token", token)
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
