"""How to test your backend's "open the Spotnana iframe" login against the simulator.

Your backend exchanges the user's own token for Spotnana tokens and hands them to the iframe.
Point it at ``spotnana_sim.token_url``; the simulator calls a user-detail API (here its embedded
reference one, where ``add_user`` registers a user) and answers like Spotnana.
"""

from __future__ import annotations

from typing import Any

import jwt

from spotnana_sim.kit.testing import SimulatorHandle
from spotnana_sim.reference.client import SpotnanaTokenClient


class PartnerBackend:
    """Stands in for your code: what it sends the iframe after a user logs in."""

    def __init__(self, token_url: str) -> None:
        self.spotnana = SpotnanaTokenClient(token_url, client_id="demo-client", client_secret="demo-secret")

    def iframe_login(self, user_id: str, user_token: str) -> dict[str, Any]:
        tokens = self.spotnana.tokens_for(user_id, subject_token=user_token)
        return {"type": "TOKEN_EXCHANGE_RESPONSE",
                "payload": {"accessToken": tokens.access_token, "refreshToken": tokens.refresh_token}}

    def close(self) -> None:
        self.spotnana.close()


def test_login_hands_the_iframe_tokens_for_the_right_user(spotnana_sim: SimulatorHandle) -> None:
    spotnana_sim.add_user("token-of-user-42", "traveller@yourcompany.com")
    backend = PartnerBackend(spotnana_sim.token_url)
    try:
        message = backend.iframe_login("user-42", "token-of-user-42")
    finally:
        backend.close()

    access = message["payload"]["accessToken"]
    key = jwt.PyJWKClient(spotnana_sim.jwks_url).get_signing_key_from_jwt(access)
    claims = jwt.decode(access, key.key, algorithms=["RS256"], options={"verify_aud": False})
    assert claims["email"] == "traveller@yourcompany.com"
    assert message["payload"]["refreshToken"]
    spotnana_sim.assert_exchanges(email="traveller@yourcompany.com", count=1)
