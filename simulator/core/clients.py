"""The partner API clients the simulator knows, and how a request proves it is one of them."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from spotnana_sim.core.errors import GrantNotAllowed, InvalidClient
from spotnana_sim.core.settings import ClientConfig

# Compared against when the client id is unknown, so an unknown id costs the same as a wrong secret.
_DUMMY_SECRET = b"spotnana-sim-no-such-client-secret-padding"


class ClientRegistry:
    """Clients from configuration plus runtime additions (admin API); ``reset`` drops the additions."""

    def __init__(self, clients: Iterable[ClientConfig]) -> None:
        self._initial = {c.client_id: c for c in clients}
        self.reset()

    def reset(self) -> None:
        self._clients = dict(self._initial)

    def all(self) -> list[ClientConfig]:
        return list(self._clients.values())

    def get(self, client_id: str) -> ClientConfig | None:
        return self._clients.get(client_id)

    def put(self, client: ClientConfig) -> None:
        self._clients[client.client_id] = client

    def update(self, client_id: str, **changes: Any) -> ClientConfig:
        client = replace(self._clients[client_id], **changes)
        self._clients[client_id] = client
        return client

    def authenticate(self, client_id: str, client_secret: str, grant_type: str) -> ClientConfig:
        client = self._clients.get(client_id)
        expected = client.client_secret.encode() if client else _DUMMY_SECRET
        secret_matches = hmac.compare_digest(expected, client_secret.encode())
        if client is None or not secret_matches:
            # One message for both, as an authorization server should not reveal which ids exist.
            raise InvalidClient("client authentication failed: unknown client_id or wrong client_secret")
        if grant_type not in client.grants:
            raise GrantNotAllowed(f"client {client_id!r} is not allowed the grant {grant_type!r}")
        return client
