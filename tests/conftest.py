"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpcore  # noqa: F401  # see below
import httpx
import pytest

from spotnana_sim.core.settings import Settings
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.server.inprocess import InProcessSimulator, build_in_process

from .servers import ServerThread, running_simulator

# httpx imports httpcore lazily. If that first import happened inside a pytester in-process run, the
# run's sys.modules snapshot would drop it afterwards and a second import would make httpcore's
# exception classes unknown to httpx's error mapping (a ConnectError would escape as a non-httpx error).


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
async def in_process(settings: Settings) -> AsyncIterator[InProcessSimulator]:
    sim = build_in_process(settings)
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
