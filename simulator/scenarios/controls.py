"""How a runner reaches the simulator a scenario runs against: one request sent and what came back
observed (:func:`send`), and the set-up a scenario needs (:class:`RunControls`), over a simulator
object in this process (:class:`SimulatorControls`: in-process runs and the dashboard) or over the
admin API (:class:`AdminApiControls`: ``replay --target``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx

from spotnana_sim.core.config_file import client_from_table
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.scenarios.judge import Observed
from spotnana_sim.scenarios.model import BuiltRequest
from spotnana_sim.scenarios.placeholders import COMPANY_ID


class SetupFailed(Exception):
    """Something a scenario needs before its first step could not be made; the message says what."""


class RunControls(Protocol):
    """How a runner reaches the simulator it runs a scenario against."""

    async def send(self, request: BuiltRequest) -> Observed: ...

    async def company_id(self, client_id: str) -> str: ...

    async def add_api_user(self, table: Mapping[str, Any]) -> None:
        """Add a client (a ``[[clients]]`` table, as ``POST /_sim/clients`` takes it)."""


def last_journal_id(entries: Sequence[Mapping[str, Any]]) -> int:
    """The id of the newest journal entry (0 for none): a step's entries are those after it."""
    return max((int(e.get("id", 0)) for e in entries), default=0)


async def send(http: httpx.AsyncClient, request: BuiltRequest) -> Observed:
    """Send one step's request; a broken connection is observed, not raised."""
    try:
        response = await http.request(request.method, request.path, headers=request.headers, content=request.body)
    except Exception as exc:  # in-process a broken connection is an exception from the app; over TCP an httpx error
        return Observed(transport_error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    return Observed(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body=response.content,
        now=time.time(),
    )


class SimulatorControls:
    """:class:`RunControls` over a simulator object in this process."""

    def __init__(self, simulator: Simulator, http: httpx.AsyncClient) -> None:
        self.simulator = simulator
        self.http = http

    async def send(self, request: BuiltRequest) -> Observed:
        return await send(self.http, request)

    async def company_id(self, client_id: str) -> str:
        client = self.simulator.clients.get(client_id)
        if client is None:
            raise SetupFailed(f"${{{COMPANY_ID}}}: the simulator has no client {client_id!r}")
        return client.org_id

    async def add_api_user(self, table: Mapping[str, Any]) -> None:
        self.simulator.clients.put(client_from_table(table))


class AdminApiControls:
    """:class:`RunControls` over HTTP: the steps' requests and the admin API."""

    def __init__(self, http: httpx.AsyncClient, admin_headers: Mapping[str, str]) -> None:
        self.http = http
        self.admin_headers = dict(admin_headers)

    async def send(self, request: BuiltRequest) -> Observed:
        return await send(self.http, request)

    async def company_id(self, client_id: str) -> str:
        response = await self.http.get("/_sim/clients", headers=self.admin_headers)
        clients = response.json().get("clients", []) if response.status_code == 200 else []
        found = next((c.get("org_id") for c in clients if isinstance(c, dict) and c.get("id") == client_id), None)
        if not isinstance(found, str):
            raise SetupFailed(f"${{{COMPANY_ID}}}: GET /_sim/clients shows no client {client_id!r} "
                              f"({response.status_code})")
        return found

    async def add_api_user(self, table: Mapping[str, Any]) -> None:
        response = await self.http.post("/_sim/clients", json=dict(table), headers=self.admin_headers)
        if response.status_code >= 400:
            raise SetupFailed(f"the API user {table.get('id')!r}: the target refused it: {message(response)}")


def message(response: httpx.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"
    messages = document.get("errorMessages") if isinstance(document, dict) else None
    if messages:
        return f"{response.status_code} {messages[0].get('message')}"
    return f"{response.status_code} {str(document)[:200]}"
