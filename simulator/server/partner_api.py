"""Spotnana's documented management APIs around identity model B (FACTS §3, §6):

* ``POST/GET /v2/companies/{companyId}/partner-public-keys``, ``DELETE …/{kid}``: the keys a partner
  signs subject JWTs with;
* ``POST /v2/api-users/rotate`` and ``POST /v2/api-users/revoke``: retiring an API user's secret and
  every token issued with it, at once.

Each takes ``Authorization: Bearer <access token>`` of an API user (see core.api_auth).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from spotnana_sim.core.api_auth import api_caller, may_manage_company, must_be_tmc_admin
from spotnana_sim.core.errors import ValidationFailed
from spotnana_sim.core.partner_keys import ACTIVE
from spotnana_sim.core.redaction import shorten
from spotnana_sim.harness.simulator import Simulator

KEYS_PATH = "/v2/companies/{company_id}/partner-public-keys"
ROTATE_PATH = "/v2/api-users/rotate"
REVOKE_PATH = "/v2/api-users/revoke"


async def _json_object(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError as exc:
        raise ValidationFailed("body", f"is not valid JSON ({exc})", accepted="a JSON object") from None


def partner_api_routes(sim: Simulator) -> list[BaseRoute]:
    def caller(request: Request) -> Any:
        return api_caller(request.headers.get("authorization"), sim.issuer, sim.clients)

    async def keys(request: Request) -> Response:
        company_id = request.path_params["company_id"]
        may_manage_company(caller(request), company_id)
        if request.method == "POST":
            record = sim.partner_keys.register(company_id, await _json_object(request))
            return JSONResponse({"keys": [record.as_dict()]}, status_code=201)
        status = request.query_params.get("status", ACTIVE)
        return JSONResponse({"keys": [r.as_dict() for r in sim.partner_keys.list(company_id, status)]})

    async def key(request: Request) -> Response:
        company_id = request.path_params["company_id"]
        may_manage_company(caller(request), company_id)
        sim.partner_keys.revoke(company_id, request.path_params["kid"])
        return Response(status_code=204)

    def target_client(body: Any) -> str:
        client_id = body.get("clientId") if isinstance(body, dict) else None
        if not isinstance(client_id, str) or not client_id:
            raise ValidationFailed("clientId", "is required: the API user to act on", accepted='{"clientId": "…"}')
        if sim.clients.get(client_id) is None:
            raise ValidationFailed("clientId", f"no API user {shorten(client_id)!r}", received=shorten(client_id))
        return client_id

    async def rotate(request: Request) -> Response:
        must_be_tmc_admin(caller(request))
        client_id = target_client(await _json_object(request))
        secret = sim.clients.rotate(client_id)
        # The new secret is the answer's whole point: it is shown here, once, and nowhere else.
        return JSONResponse({"clientId": client_id, "clientSecret": secret}, headers={"Cache-Control": "no-store"})

    async def revoke(request: Request) -> Response:
        must_be_tmc_admin(caller(request))
        sim.clients.revoke(target_client(await _json_object(request)))
        return Response(status_code=204)

    return [
        Route(KEYS_PATH, keys, methods=["GET", "POST"]),
        Route(KEYS_PATH + "/{kid}", key, methods=["DELETE"]),
        Route(ROTATE_PATH, rotate, methods=["POST"]),
        Route(REVOKE_PATH, revoke, methods=["POST"]),
    ]
