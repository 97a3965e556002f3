"""The partner side of a Spotnana integration: a user-detail API, a token-exchange client, demo users.

Nothing is imported until asked for, so importing one part (the demo users, say) does not load
Starlette or httpx with it.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "DEMO_SUBJECT_TOKEN": "demo_users",
    "DEMO_USERS": "demo_users",
    "USER_DETAIL_PATH": "user_detail",
    "UserDirectory": "user_detail",
    "create_user_detail_app": "user_detail",
    "ACCESS_TOKEN_TYPE": "client",
    "TOKEN_EXCHANGE_GRANT": "client",
    "SpotnanaTokenClient": "client",
    "SpotnanaTokens": "client",
    "TokenExchangeError": "client",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"spotnana_sim.reference.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'spotnana_sim.reference' has no attribute {name!r}")
