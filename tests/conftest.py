"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpcore  # noqa: F401  # see below
import httpx
import pytest

from spotnana_sim.core.settings import Settings
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.server.inprocess import InProcessSimulator, build_in_process

from . import e2e_rule
from .helpers import key_set
from .serve_process import ServeProcess
from .servers import ServerThread, running_simulator

# httpx imports httpcore lazily. If that first import happened inside a pytester in-process run, the
# run's sys.modules snapshot would drop it afterwards and a second import would make httpcore's
# exception classes unknown to httpx's error mapping (a ConnectError would escape as a non-httpx error).


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(e2e_rule.E2eRule(), "e2e-rule")


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
async def in_process(settings: Settings) -> AsyncIterator[InProcessSimulator]:
    # The session's RSA key unless the settings ask for other keys (generating one per test is slow).
    default_keys = settings.tokens.key_file is None and settings.tokens.algorithm == "RS256"
    sim = build_in_process(settings, keys=key_set() if default_keys else None)
    yield sim
    await sim.aclose()


@pytest.fixture
async def sim_client(in_process: InProcessSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process.client() as client:
        yield client


@pytest.fixture
def live_simulator(settings: Settings) -> Iterator[tuple[ServerThread, Simulator]]:
    with running_simulator(settings) as pair:
        yield pair


@pytest.fixture(scope="module")
def module_simulator() -> Iterator[tuple[ServerThread, Simulator]]:
    """One served simulator with default settings for a whole module (starting one per test is slow);
    a module resets it before each test (``simulator.reset()``) in its own fixture."""
    with running_simulator(Settings()) as pair:
        yield pair


@pytest.fixture
def start_serve(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """``start_serve(*args)``: ``spotnana-sim serve --port 0 *args`` in a subprocess, ready once it returns
    (its stderr in tmp_path); whatever is still running is killed at teardown."""
    started: list[ServeProcess] = []

    def start(*args: str) -> ServeProcess:
        server = ServeProcess(list(args), tmp_path / f"serve-{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
