"""A simulator with no socket: the app and every callback to its embedded user-detail API stay in-process.

Used by ``spotnana-sim demo``, by ``replay`` and by the ``spotnana_sim_app`` pytest fixture. Callbacks
to any other URL still go over the network, so an in-process simulator can check a real user-detail API.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx
from starlette.types import ASGIApp

from spotnana_sim.server.app import create_app
from spotnana_sim.core.clock import Clock
from spotnana_sim.core.settings import Settings
from spotnana_sim.core.user_detail import HttpxUserDetailHttp
from spotnana_sim.harness.simulator import Simulator, build_simulator
from spotnana_sim.core.tokens import KeySet

IN_PROCESS_BASE_URL = "http://spotnana-sim.local"


class ConnectionBroken(httpx.RemoteProtocolError):
    """A connection fault in-process, where there is no socket to break (what a client sees over TCP)."""


class ConnectionResetInProcess(httpx.ReadError):
    """A ``reset`` connection fault in-process: over TCP the client's read fails with ECONNRESET."""

_tls_context: ssl.SSLContext | None = None


def _shared_tls_context() -> ssl.SSLContext:
    """Loading CA certificates costs ~0.1 s; in-process simulators are built per test, so share one."""
    global _tls_context
    if _tls_context is None:
        _tls_context = ssl.create_default_context()
    return _tls_context


@dataclass
class InProcessSimulator:
    simulator: Simulator
    app: ASGIApp
    callback_client: httpx.AsyncClient

    def client(self) -> httpx.AsyncClient:
        """An httpx client that talks to the simulator in-process."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=IN_PROCESS_BASE_URL)

    async def aclose(self) -> None:
        await self.callback_client.aclose()


def build_in_process(settings: Settings, *, clock: Clock | None = None, keys: KeySet | None = None) -> InProcessSimulator:
    holder: dict[str, ASGIApp] = {}

    # The callback client needs the app and the app needs the simulator: the transport looks the app up late.
    class LateASGITransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await httpx.ASGITransport(app=holder["app"]).handle_async_request(request)

    # No keep-alive: an in-process simulator serves many short event loops (one per test), and a pooled
    # connection made in a loop that has ended could not be closed afterwards.
    callback_client = httpx.AsyncClient(
        mounts={"all://spotnana-sim.local": LateASGITransport()},
        limits=httpx.Limits(max_keepalive_connections=0),
        follow_redirects=False,
        verify=_shared_tls_context(),
    )
    simulator = build_simulator(
        settings, base_url=IN_PROCESS_BASE_URL, clock=clock, keys=keys, http=HttpxUserDetailHttp(callback_client)
    )
    app = create_app(simulator)
    holder["app"] = app
    return InProcessSimulator(simulator=simulator, app=app, callback_client=callback_client)
