"""Real servers for end-to-end tests: any ASGI app under uvicorn, in a thread, on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import uvicorn

from spotnana_sim.server.app import create_app
from spotnana_sim.core.settings import Settings
from spotnana_sim.harness.simulator import Simulator, build_simulator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bound_socket() -> socket.socket:
    """A listening socket on a free port, handed to uvicorn so no other process can take the port meanwhile."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    return sock


class ServerThread:
    """uvicorn serving ``app`` in a daemon thread; ``url`` is ready once ``start()`` returns."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.sock = bound_socket()
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", **config)
        )
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # not the main thread
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server thread did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_simulator(settings: Settings | None = None, **build: Any) -> Iterator[tuple[ServerThread, Simulator]]:
    """A simulator on a real socket; its embedded user-detail callback goes over real HTTP to itself."""
    settings = settings or Settings()
    sock = bound_socket()
    port = int(sock.getsockname()[1])
    sock.close()  # build_simulator needs the URL first; rebinding the same port right away below
    simulator = build_simulator(settings, base_url=f"http://127.0.0.1:{port}", **build)
    server = ServerThread.__new__(ServerThread)
    server.sock = socket.socket()
    server.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.sock.bind(("127.0.0.1", port))
    server.sock.listen(256)
    server.port = port
    server.url = f"http://127.0.0.1:{port}"
    server.server = uvicorn.Server(uvicorn.Config(create_app(simulator), log_level="warning", access_log=False, lifespan="on"))
    server.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    server.thread = threading.Thread(target=server.server.run, kwargs={"sockets": [server.sock]}, daemon=True)
    with server:
        yield server, simulator
