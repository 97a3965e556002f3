"""Real servers for end-to-end tests, on free loopback ports: the shipped machinery (the testing
handle's ``SimulatorServer``, ``spotnana_sim.server.served``) that ``serve`` and integrators use,
so the suite tests what users run rather than a copy of it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from spotnana_sim.core.settings import Settings
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.kit.testing import SimulatorServer
from spotnana_sim.server.served import AppServer

ServerThread = AppServer  # any ASGI app under uvicorn in a thread; `with ServerThread(app) as server:`
HANG_GUARD = 60.0  # seconds: only stops a broken run from hanging the suite; never a pass/fail criterion


def free_port() -> int:
    """A port nothing listens on (it was free a moment ago): for "nothing answers there" tests."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_simulator(
    settings: Settings | None = None, *, sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Iterator[tuple[AppServer, Simulator]]:
    """A served simulator on a real socket; its embedded user-detail callback goes over real HTTP to itself.

    ``sleep`` replaces the simulator's sleep (fault delays, simulated timeouts): tests assert what was
    slept rather than wait it out.
    """
    server = SimulatorServer(settings or Settings())
    with server:
        simulator = server.handle.simulator
        if sleep is not None:
            simulator.endpoint.sleep = simulator.faults.sleep = sleep
        yield server, simulator


class Gate:
    """Holds the answers of a served handler until the test opens it: for a partner API that must really
    be slow (a timeout, requests in flight during shutdown), without a fixed sleep.

    ``await gate.wait()`` in the handler (it runs on the server's thread, so this polls every 10 ms
    rather than hold a worker thread); ``open()`` from the test. As a context manager it opens on
    exit: ``with ServerThread(app) as server, gate:`` lets every held handler finish before the server
    stops, so shutdown never waits out a sleep.
    """

    def __init__(self) -> None:
        self._open = threading.Event()
        self.waiting = 0  # handlers that have reached the gate

    def open(self) -> None:
        self._open.set()

    async def wait(self) -> None:
        self.waiting += 1
        for _ in range(int(HANG_GUARD / 0.01)):
            if self._open.is_set():
                return
            await asyncio.sleep(0.01)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.open()


class AppSlot:
    """An ASGI app that hands every request to whichever app a test put in ``app``: one server serves a
    whole module of tests that each bring their own app (starting and stopping a server per test
    costs a quarter of a second). The apps put in it get no lifespan events of their own.
    """

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert self.app is not None, "no app in the slot: put one in before sending requests"
        await self.app(scope, receive, send)


class HeldUserDetail:
    """A user-detail API whose ``/v1/user-detail`` holds every answer at ``gate`` until the test opens it
    (requests in flight on purpose), and whose ``/fast/v1/user-detail`` answers at once; the email is
    ``<bearer token>@example.com``."""

    def __init__(self) -> None:
        self.gate = Gate()
        self.app = Starlette(routes=[Route("/v1/user-detail", self.held), Route("/fast/v1/user-detail", self.answer)])

    async def held(self, request: Request) -> Response:
        await self.gate.wait()
        return await self.answer(request)

    async def answer(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return JSONResponse({"user": {"email": f"{token}@example.com"}})


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` every 10 ms on the current loop, for what a real server or process does on its
    own time; fail (never hang) after HANG_GUARD seconds."""
    for _ in range(int(HANG_GUARD / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")
