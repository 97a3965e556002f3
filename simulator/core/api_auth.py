"""Who is calling a Spotnana API protected by a Bearer access token (the partner-keys API, the
API-user endpoints), and may they: the token must be one this simulator issued, verify, not be
expired by the simulator's clock, belong to an API user (a client_credentials token) and be of
its client's current credential generation (not rotated out or revoked)."""

from __future__ import annotations

import jwt

from spotnana_sim.core.clients import ClientRegistry
from spotnana_sim.core.errors import ApiForbidden, ApiNotAuthenticated
from spotnana_sim.core.settings import TMC_ADMIN, ClientConfig
from spotnana_sim.core.tokens import TokenIssuer


def api_caller(authorization: str | None, issuer: TokenIssuer, clients: ClientRegistry) -> ClientConfig:
    """The client whose access token authorizes the call, or the 401 that answers it."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiNotAuthenticated("this API needs 'Authorization: Bearer <access token>', a token of an API "
                                  "user (client_credentials grant)")
    try:
        claims = issuer.verify_access_token(token.strip())
    except jwt.ExpiredSignatureError:
        raise ApiNotAuthenticated("Access Token Invalid: the access token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise ApiNotAuthenticated(f"Access Token Invalid: not an access token of this simulator ({exc})") from None
    client = clients.get(str(claims.get("client_id")))
    if client is None or not clients.token_is_current(claims):
        raise ApiNotAuthenticated("Access Token Invalid: its API user was rotated or revoked since it was issued")
    if claims.get("sub") != client.client_id:
        raise ApiForbidden("this API takes an API user's token (client_credentials grant), not a user's token")
    return client


def may_manage_company(caller: ClientConfig, company_id: str) -> None:
    if caller.role != TMC_ADMIN and caller.org_id.lower() != company_id.lower():
        raise ApiForbidden(f"client {caller.client_id!r} belongs to company {caller.org_id}, not {company_id[:64]}; "
                           "only a TMC_ADMIN client may manage another company's keys")


def must_be_tmc_admin(caller: ClientConfig) -> None:
    if caller.role != TMC_ADMIN:
        raise ApiForbidden(f"client {caller.client_id!r} has role {caller.role}; API users are managed by a "
                           f"{TMC_ADMIN} client")
