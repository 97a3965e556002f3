"""Real servers for end-to-end tests, on free loopback ports: the same machinery `serve` and the
testing handle use (spotnana_sim.server.served), so the suite tests what users run."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from spotnana_sim.core.settings import Settings
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.server.app import create_app
from spotnana_sim.server.served import AppServer, bind_socket, build_served_simulator, socket_url

ServerThread = AppServer  # any ASGI app under uvicorn in a thread; `with ServerThread(app) as server:`


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bound_socket() -> socket.socket:
    """A listening socket on a free port, handed to uvicorn so no other process can take the port meanwhile."""
    return bind_socket("127.0.0.1", 0)


@contextmanager
def running_simulator(settings: Settings | None = None, **build: Any) -> Iterator[tuple[AppServer, Simulator]]:
    """A served simulator on a real socket; its embedded user-detail callback goes over real HTTP to itself."""
    settings = settings or Settings()
    sock = bind_socket("127.0.0.1", 0)
    simulator = build_served_simulator(settings, base_url=socket_url(sock, "127.0.0.1"), **build)
    with AppServer(create_app(simulator), sock=sock, forwarded_allow_ips=settings.forwarded_allow_ips) as server:
        yield server, simulator
