"""The partner API clients the simulator knows, how a request proves it is one of them, and the
API-user lifecycle (rotate, revoke) that retires a client's secret and tokens at once (FACTS §6)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from spotnana_sim.core.errors import GrantNotAllowed, InvalidClient
from spotnana_sim.core.settings import ClientConfig

# Compared against when the client id is unknown, so an unknown id costs the same as a wrong secret.
_DUMMY_SECRET = b"spotnana-sim-no-such-client-secret-padding"


class ClientRegistry:
    """Clients from configuration plus runtime changes (admin API, API-user endpoints); ``reset``
    drops the changes.

    Tokens are stateless: each carries its client's credential *generation* (claim ``gen``), which
    rotating or revoking the client moves on, so a token of an older generation is refused from then
    on. Generations live in this process: simulators sharing a key file rotate separately.
    """

    def __init__(self, clients: Iterable[ClientConfig]) -> None:
        self._initial = {c.client_id: c for c in clients}
        self.reset()

    def reset(self) -> None:
        self._clients = dict(self._initial)
        self._generations: dict[str, int] = {}
        self._revoked: set[str] = set()

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
        if client is None or not secret_matches or client_id in self._revoked:
            # One message for all, as an authorization server should not reveal which ids exist.
            raise InvalidClient("client authentication failed: unknown client_id or wrong client_secret")
        if grant_type not in client.grants:
            raise GrantNotAllowed(f"client {client_id!r} is not allowed the grant {grant_type!r}")
        return client

    # ------------------------------------------------------------------ API users (FACTS §6)

    def generation(self, client_id: str) -> int:
        return self._generations.get(client_id, 0)

    def is_revoked(self, client_id: str) -> bool:
        return client_id in self._revoked

    def rotate(self, client_id: str) -> str:
        """A new secret for the client: the old one, and every token issued with it, stop working now."""
        secret = secrets.token_urlsafe(32)
        self.update(client_id, client_secret=secret)
        self._generations[client_id] = self.generation(client_id) + 1
        self._revoked.discard(client_id)
        return secret

    def revoke(self, client_id: str) -> None:
        """Every token of the client stops working, and its secret too, until it is rotated."""
        self._generations[client_id] = self.generation(client_id) + 1
        self._revoked.add(client_id)

    def token_is_current(self, claims: Mapping[str, Any]) -> bool:
        """Whether a verified token's client still exists and its generation is the client's current one."""
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or client_id not in self._clients or client_id in self._revoked:
            return False
        return bool(claims.get("gen", 0) == self.generation(client_id))
