"""A simulator with no socket: the app and every callback to its embedded user-detail API stay in-process.

Used by ``spotnana-sim demo``, by ``replay`` and by the ``spotnana_sim_app`` pytest fixture. Callbacks
to any other URL still go over the network (httpx here: it can also call an ASGI app in-process), so
an in-process simulator can check a real user-detail API.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from starlette.types import ASGIApp

from spotnana_sim.core.clock import Clock
from spotnana_sim.core.settings import Settings
from spotnana_sim.core.tokens import KeySet
from spotnana_sim.core.user_detail import CallbackFailed, CallbackTimedOut, UserDetailResponse
from spotnana_sim.harness.simulator import Simulator, build_simulator
from spotnana_sim.server.app import create_app
from spotnana_sim.server.connection_faults import ConnectionFaultInProcess

IN_PROCESS_BASE_URL = "http://spotnana-sim.local"
IN_PROCESS_HOST = "spotnana-sim.local"


class ConnectionBroken(httpx.RemoteProtocolError):
    """A connection fault in-process, where there is no socket to break (what a client sees over TCP)."""


class ConnectionResetInProcess(httpx.ReadError):
    """A ``reset`` connection fault in-process: over TCP the client's read fails with ECONNRESET."""


class InProcessTransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` that turns a connection fault into the error a TCP client would see."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except ConnectionFaultInProcess as fault:
            if fault.kind == "reset":
                raise ConnectionResetInProcess("[Errno 104] Connection reset by peer (simulated connection fault)") from None
            raise ConnectionBroken(f"connection fault {fault.kind!r}: server disconnected (simulated in-process)") from None


class HttpxUserDetailHttp:
    """The user-detail call over httpx: one pooled keep-alive client for the server's life."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        # A Set-Cookie in one user's answer must never ride along on the next user's call.
        client.cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self.client = client

    async def get(
        self, url: str, headers: Mapping[str, str], timeout: float, max_bytes: int, *, ca_file: str | None = None,
    ) -> UserDetailResponse:
        # In-process calls to a real network URL trust the system's CAs only; ca_file is for `serve`.
        try:
            async with asyncio.timeout(timeout):
                request = self.client.build_request("GET", url, headers=dict(headers), timeout=timeout)
                response = await self.client.send(request, stream=True, follow_redirects=False)
                try:
                    body = bytearray()
                    truncated = False
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > max_bytes:
                            truncated = True
                            del body[max_bytes:]
                            break
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise CallbackTimedOut(f"no answer within {timeout:g} s") from None
        except httpx.InvalidURL as exc:
            raise CallbackFailed(f"invalid URL: {exc}") from None
        except httpx.HTTPError as exc:
            raise CallbackFailed(f"{type(exc).__name__}: {exc or 'connection failed'}") from None
        except (OSError, ValueError) as exc:  # the URL is user input: an odd one must not become a 500
            raise CallbackFailed(f"{type(exc).__name__}: {exc}") from None
        return UserDetailResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=bytes(body),
            truncated=truncated,
        )

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
        return httpx.AsyncClient(transport=InProcessTransport(app=self.app), base_url=IN_PROCESS_BASE_URL)

    async def aclose(self) -> None:
        await self.callback_client.aclose()


def build_in_process(settings: Settings, *, clock: Clock | None = None, keys: KeySet | None = None) -> InProcessSimulator:
    holder: dict[str, ASGIApp] = {}

    # The callback client needs the app and the app needs the simulator: the transport looks the app up late.
    class LateASGITransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await InProcessTransport(app=holder["app"]).handle_async_request(request)

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
    app = create_app(simulator, extra_admin_hosts=(IN_PROCESS_HOST,))
    holder["app"] = app
    return InProcessSimulator(simulator=simulator, app=app, callback_client=callback_client)
