"""The partner side of a Spotnana integration: a user-detail API and a token-exchange client."""

from reference_impl.client import (
    ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    SpotnanaTokenClient,
    SpotnanaTokens,
    TokenExchangeError,
)
from reference_impl.user_detail import (
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
