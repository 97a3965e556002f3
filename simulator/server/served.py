"""The simulator as it runs on a socket: its HTTP client, its listening socket, uvicorn around it.

``spotnana-sim serve``, the testing handle's :class:`AppServer` and the test suite all start servers
through this module, so there is one socket binder and one uvicorn configuration.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from spotnana_sim.core.clock import Clock
from spotnana_sim.core.hosts import url_host
from spotnana_sim.core.settings import Settings
from spotnana_sim.core.tokens import KeySet
from spotnana_sim.harness.simulator import Simulator, build_simulator
from spotnana_sim.server.connection_faults import FaultableHttpToolsProtocol
from spotnana_sim.server.user_detail_client import UserDetailClient

STARTUP_TIMEOUT = 10.0  # seconds for uvicorn to start listening; far above what it needs
LISTEN_BACKLOG = 512


def build_served_simulator(
    settings: Settings,
    *,
    base_url: str,
    clock: Clock | None = None,
    keys: KeySet | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Simulator:
    """A simulator whose user-detail calls go out through one pooled aiohttp session."""
    http = UserDetailClient(
        connection_limit=settings.user_detail.connection_limit, verify_tls=settings.user_detail.verify_tls,
    )
    return build_simulator(settings, base_url=base_url, clock=clock, keys=keys, http=http, owns_http=True, sleep=sleep)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket, bound before the app is built so the app knows its own URL and nobody
    else takes the port meanwhile. Raises OSError as the system does."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def socket_url(sock: socket.socket, host: str) -> str:
    return f"http://{url_host(host)}:{sock.getsockname()[1]}"


def uvicorn_config(app: Any, *, log_level: str = "warning", forwarded_allow_ips: str | None = None) -> uvicorn.Config:
    """uvicorn as the simulator runs under it. Proxy headers (X-Forwarded-For and friends) are off
    unless proxies are named: otherwise any caller could claim to be a loopback client."""
    return uvicorn.Config(
        app,
        http=FaultableHttpToolsProtocol,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips or "",
        server_header=False,
    )


class AppServer:
    """Any ASGI app (a simulator, a user-detail API, a partner backend) under uvicorn in a daemon
    thread, on a free port of ``host``; ``url`` answers once ``start()`` returns."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", sock: socket.socket | None = None,
                 forwarded_allow_ips: str | None = None, **uvicorn_settings: Any) -> None:
        self.sock = sock or bind_socket(host, 0)
        self.port = int(self.sock.getsockname()[1])
        scheme = "https" if uvicorn_settings.get("ssl_certfile") else "http"
        self.url = socket_url(self.sock, host).replace("http://", f"{scheme}://", 1)
        config = uvicorn_config(app, forwarded_allow_ips=forwarded_allow_ips)
        for name, value in uvicorn_settings.items():  # e.g. ssl_certfile for a TLS test server
            setattr(config, name, value)
        self.server = uvicorn.Server(config)
        # uvicorn listens to signals only from the main thread, so this thread leaves them alone.
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="spotnana-sim", daemon=True
        )

    def start(self) -> AppServer:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server did not start; see the log above")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=STARTUP_TIMEOUT)
        self.sock.close()

    def __enter__(self) -> AppServer:
        return self.start() if not self.thread.is_alive() else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
