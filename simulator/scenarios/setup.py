"""What a scenario needs before its first step, made the same way by every runner (in-process,
``replay --target``, the dashboard): the values of its placeholders.

* The run's **partner identity provider** (identity model B): one RSA key pair per runner, from
  :mod:`spotnana_sim.reference.partner_idp`. ``client: {identity: jwt}`` registers its public key for
  the client's company (as ``keys`` would); ``jwks_url: ${partner_jwks_url}`` makes the client fetch
  its JWKS instead. ``${partner_jwt…}`` are tokens it signs, made to the placeholder's recipe.
* **API users' access tokens** (``${client_token}``, ``${tmc_admin_token}``) through
  ``client_credentials``, and the client's **company** (``${company_id}``), for the Bearer-protected
  partner-public-keys and api-users endpoints.

The runners differ only in how they reach the simulator, which ``controls.RunControls`` hides.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import jwt
from starlette.types import ASGIApp

from spotnana_sim.core.protocol import CLIENT_CREDENTIALS_GRANT
from spotnana_sim.core.settings import TMC_ADMIN, ClientConfig
from spotnana_sim.reference.demo_users import DEMO_USERS
from spotnana_sim.reference.partner_idp import JWKS_PATH, PartnerIdentityProvider, create_partner_idp_app
from spotnana_sim.scenarios.controls import RunControls, SetupFailed
from spotnana_sim.scenarios.model import RequestSpec, Scenario
from spotnana_sim.scenarios.placeholders import (
    CLIENT_TOKEN,
    COMPANY_ID,
    PARTNER_JWKS,
    PARTNER_JWKS_URL,
    PARTNER_KID,
    TMC_ADMIN_TOKEN,
    PartnerJwtRecipe,
    parse_partner_jwt,
    subject_token_placeholder,
    substitute_all,
)
from spotnana_sim.server.served import AppServer

TMC_ADMIN_CLIENT_ID = "scenario-tmc-admin"  # the TMC_ADMIN API user a run sets up for ${tmc_admin_token}
PARTNER_EMAIL = next(iter(DEMO_USERS.values()))  # ${partner_jwt} is for the first demo user, ada@example.com
PARTNER_ISSUER = "https://auth.partner.example"  # the iss of the run's partner tokens
IN_PROCESS_PARTNER_HOST = "partner-idp.local"  # in-process, the partner's JWKS is answered without a socket
IN_PROCESS_JWKS_URL = f"http://{IN_PROCESS_PARTNER_HOST}{JWKS_PATH}"
# HS256 tokens are refused before any key is looked at; this only has to be a valid HMAC key.
_HMAC_KEY = b"scenario-hs256-key: no partner signs with a shared secret"


class ScenarioPartner:
    """The run's partner identity provider. The key pair is made on first use and kept for the
    runner's life: generating an RSA key is the slow part, and every scenario gets the same JWKS."""

    def __init__(self) -> None:
        self._idp: PartnerIdentityProvider | None = None

    @property
    def idp(self) -> PartnerIdentityProvider:
        if self._idp is None:
            self._idp = PartnerIdentityProvider(issuer=PARTNER_ISSUER)
        return self._idp

    def app(self) -> ASGIApp:
        """The provider's HTTP face: its JWKS at ``/.well-known/jwks.json``."""
        return create_partner_idp_app(self.idp)

    def serve(self) -> AppServer:
        """Its JWKS on a free loopback port, for a simulator in another thread or process (stop it after)."""
        return AppServer(self.app()).start()

    def sign(self, recipe: PartnerJwtRecipe, now: float) -> str:
        """A subject JWT to ``recipe``: valid for ``now`` unless the recipe says how not to be."""
        idp = self.idp
        changes = dict(recipe.claims)
        claims: dict[str, Any] = jwt.decode(idp.sign(changes.get("email", PARTNER_EMAIL)),
                                            options={"verify_signature": False})
        moment = int(now)
        claims.update(iat=moment, exp=moment + idp.lifetime)
        claims.update({name: moment + offset for name, offset in recipe.times})
        claims.update(changes)
        for name in recipe.omit:
            claims.pop(name, None)
        header = {"kid": recipe.kid or idp.kid}
        token = self._encode(claims, recipe.alg, header)
        if recipe.bad_signature:  # the right header and claims, the signature of other claims
            forged = self._encode({**claims, "jti": "not-what-was-signed"}, recipe.alg, header)
            token = token.rsplit(".", 1)[0] + "." + forged.rsplit(".", 1)[1]
        return token

    def _encode(self, claims: dict[str, Any], alg: str, header: dict[str, str]) -> str:
        key: Any = {"none": None, "HS256": _HMAC_KEY}.get(alg, self.idp.private_key)
        return jwt.encode(claims, key, algorithm=alg, headers=header)

    def values(self, scenario: Scenario, now: float, jwks_url: str | None) -> dict[str, str]:
        """The partner placeholders ``scenario`` uses, filled (tokens signed for ``now``)."""
        values: dict[str, str] = {}
        if not scenario.needs_partner:
            return values
        values[PARTNER_KID] = self.idp.kid
        values[PARTNER_JWKS] = json.dumps(self.idp.jwks())
        if jwks_url is not None:
            values[PARTNER_JWKS_URL] = jwks_url
        for name in scenario.partner_jwts:
            values[name] = self.sign(parse_partner_jwt(name), now)
        return values


def client_patch(scenario: Scenario, partner: ScenarioPartner | None, jwks_url: str | None) -> dict[str, Any]:
    """The scenario's client patch as a runner applies it: ``${partner_jwks_url}`` filled and, for
    ``identity: jwt`` without keys or a JWKS URL, the partner's key registered through ``keys``."""
    patch = dict(scenario.client_patch)
    if jwks_url is not None:
        patch = substitute_all(patch, {PARTNER_JWKS_URL: jwks_url})
    if scenario.registers_partner_key and partner is not None:
        patch["keys"] = partner.idp.jwks()["keys"]
    return patch


def config_for_run(scenario: Scenario, partner: ScenarioPartner | None, jwks_url: str | None) -> dict[str, Any]:
    """The scenario's config with ``${partner_jwks_url}`` filled (a ``[[clients]]`` table may name it
    too) and its client patch as :func:`client_patch` makes it."""
    config: dict[str, Any] = substitute_all(scenario.config, {PARTNER_JWKS_URL: jwks_url}) if jwks_url else dict(scenario.config)
    if scenario.client_patch:
        config["client"] = client_patch(scenario, partner, jwks_url)
    return config


async def api_values(scenario: Scenario, values: Mapping[str, str], controls: RunControls) -> dict[str, str]:
    """``${company_id}``, ``${client_token}`` and ``${tmc_admin_token}`` when the scenario uses them.
    Tokens are got now, before any fault rule is armed; raises :class:`SetupFailed`."""
    made: dict[str, str] = {}
    if scenario.uses(COMPANY_ID):
        made[COMPANY_ID] = await controls.company_id(values["client_id"])
    if scenario.uses(CLIENT_TOKEN):
        made[CLIENT_TOKEN] = await _access_token(controls, values["client_id"], values["client_secret"], CLIENT_TOKEN)
    if scenario.uses(TMC_ADMIN_TOKEN):
        secret = secrets.token_urlsafe(24)
        await controls.add_api_user({"id": TMC_ADMIN_CLIENT_ID, "secret": secret, "role": TMC_ADMIN,
                                     "grants": [CLIENT_CREDENTIALS_GRANT]})
        made[TMC_ADMIN_TOKEN] = await _access_token(controls, TMC_ADMIN_CLIENT_ID, secret, TMC_ADMIN_TOKEN)
    return made


async def _access_token(controls: RunControls, client_id: str, secret: str, placeholder: str) -> str:
    request = RequestSpec(grant="client_credentials").build({"client_id": client_id, "client_secret": secret})
    observed = await controls.send(request)
    document = observed.json_body()
    token = document.get("access_token") if isinstance(document, dict) else None
    if observed.status != 200 or not isinstance(token, str):
        got = observed.transport_error or f"status {observed.status}{_code(document)}"
        raise SetupFailed(f"${{{placeholder}}}: the client_credentials request of {client_id!r} got {got}, not a token")
    return token


def _code(document: Any) -> str:
    messages = document.get("errorMessages") if isinstance(document, dict) else None
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        return f" ({messages[0].get('errorCode')}: {messages[0].get('message')})"
    return ""


def placeholder_values(
    client: ClientConfig | None, default_subject_token: str, *, more_subject_tokens: Sequence[str] = (),
    **overrides: str | None,
) -> dict[str, str]:
    """What the credential placeholders stand for: explicit overrides first, then the simulator's
    first client. ``more_subject_tokens`` fill ``${subject_token_2}``, ``${subject_token_3}``… in order."""
    values = {
        "client_id": client.client_id if client else "",
        "client_secret": client.client_secret if client else "",
        "subject_token": default_subject_token,
    }
    values.update({subject_token_placeholder(n): token for n, token in enumerate(more_subject_tokens, start=2)})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return values


# ---------------------------------------------------------------------------- in-process JWKS


class _PartnerHostTransport(httpx.AsyncBaseTransport):
    """Requests for the partner's host go to its app in-process; every other one to the client this
    one stands in front of (the in-process simulator's callback client, which closes with it)."""

    def __init__(self, app: ASGIApp, behind: httpx.AsyncClient) -> None:
        self.partner = httpx.ASGITransport(app=app)
        self.behind = behind

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == IN_PROCESS_PARTNER_HOST:
            return await self.partner.handle_async_request(request)
        return await self.behind.send(request, stream=True)


def answer_partner_in_process(callback_http: Any, partner: ScenarioPartner) -> httpx.AsyncClient:
    """Let an in-process simulator fetch the partner's JWKS at :data:`IN_PROCESS_JWKS_URL` with no socket.

    ``callback_http`` is the simulator's outbound HTTP client (``HttpxUserDetailHttp``: user-detail
    calls and JWKS fetches go through it, fault rules first). A router is put in front of its httpx
    client, so the fetch still goes through the same client, limits and fault rules. Returns the
    router, for the caller to close with the simulator.
    """
    behind = getattr(callback_http, "client", None)
    if not isinstance(behind, httpx.AsyncClient):
        raise SetupFailed("${partner_jwks_url}: this simulator's HTTP client cannot be routed in-process")
    router = httpx.AsyncClient(transport=_PartnerHostTransport(partner.app(), behind), follow_redirects=False,
                               trust_env=False)
    router.cookies = behind.cookies.jar  # the same jar and policy: no cookie rides from one call to the next
    callback_http.client = router
    return router
