"""Token exchange with Authlib. The same lines reach Spotnana and the simulator: only the base URL differs.

    SPOTNANA_BASE_URL=http://127.0.0.1:8080 SPOTNANA_CLIENT_ID=demo-client SPOTNANA_CLIENT_SECRET=demo-secret \\
        python authlib_exchange.py demo-token-ada
"""

from __future__ import annotations

# --8<-- [start:exchange]
import os
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

SPOTNANA_SANDBOX = "https://api-ext-sboxmeta.partners.spotnana.com"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def spotnana_client() -> OAuth2Client:
    client = OAuth2Client(
        client_id=os.environ["SPOTNANA_CLIENT_ID"],
        client_secret=os.environ["SPOTNANA_CLIENT_SECRET"],
        # Spotnana takes the credentials in the form body; Authlib's default is HTTP Basic.
        token_endpoint_auth_method="client_secret_post",
    )
    client.register_compliance_hook("access_token_response", raise_spotnana_error)
    return client


def raise_spotnana_error(response: httpx.Response) -> httpx.Response:
    """Spotnana's errors are {"errorMessages": [{"errorCode", "message"}]}, not RFC 6749's {"error"}:
    Authlib would hand such a body back as if it were a token. Raise them as OAuthError too."""
    if response.is_error:
        try:
            first = response.json()["errorMessages"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            return response  # an RFC 6749 body (simulator's rfc6749 dialect): Authlib raises it itself
        raise OAuthError(error=first.get("errorCode"), description=first.get("message"))
    return response


def exchange_user_token(user_token: str, base_url: str = SPOTNANA_SANDBOX) -> dict[str, Any]:
    with spotnana_client() as client:
        return dict(client.fetch_token(
            base_url + "/v2/auth/oauth2-token",
            grant_type=TOKEN_EXCHANGE,
            subject_token=user_token,  # the partner's own access token for the signed-in user
            subject_token_type=ACCESS_TOKEN_TYPE,
            scope="openid",
        ))


def client_credentials_token(base_url: str = SPOTNANA_SANDBOX) -> dict[str, Any]:
    with spotnana_client() as client:
        return dict(client.fetch_token(base_url + "/v2/auth/oauth2-token", grant_type="client_credentials"))
# --8<-- [end:exchange]


def main(argv: list[str]) -> int:
    import json
    import sys

    base_url = os.environ.get("SPOTNANA_BASE_URL", SPOTNANA_SANDBOX)
    user_token = argv[0] if argv else os.environ["PARTNER_USER_TOKEN"]
    try:
        token = exchange_user_token(user_token, base_url)
    except OAuthError as exc:
        print(f"token exchange failed: {exc.error}: {exc.description}", file=sys.stderr)
        return 1
    # Never print the tokens themselves.
    summary: dict[str, Any] = {key: token[key] for key in ("token_type", "expires_in", "scope") if key in token}
    summary["access_token_length"] = len(token["access_token"])
    summary["refresh_token_present"] = "refresh_token" in token
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
