"""The partner side of a Spotnana integration: a user-detail API and a token-exchange client."""

from typing import Any

from spotnana_sim.reference.user_detail import (
    DEMO_SUBJECT_TOKEN,
    DEMO_USERS,
    USER_DETAIL_PATH,
    UserDirectory,
    create_user_detail_app,
)

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "DEMO_SUBJECT_TOKEN",
    "DEMO_USERS",
    "TOKEN_EXCHANGE_GRANT",
    "USER_DETAIL_PATH",
    "SpotnanaTokenClient",
    "SpotnanaTokens",
    "TokenExchangeError",
    "UserDirectory",
    "create_user_detail_app",
]

_CLIENT_NAMES = {"ACCESS_TOKEN_TYPE", "TOKEN_EXCHANGE_GRANT", "SpotnanaTokenClient", "SpotnanaTokens", "TokenExchangeError"}


def __getattr__(name: str) -> Any:
    # The simulator mounts the user-detail API at start-up; the client (and httpx with it) loads only
    # when someone asks for it, so `spotnana-sim serve` starts without it.
    if name in _CLIENT_NAMES:
        from spotnana_sim.reference import client

        return getattr(client, name)
    raise AttributeError(f"module 'reference_impl' has no attribute {name!r}")
