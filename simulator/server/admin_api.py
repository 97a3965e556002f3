"""The admin API (an extension Spotnana does not have): reset, journal, faults, clock, keys, clients,
profiles, secret scans. Every route is behind :class:`~spotnana_sim.server.admin_guard.AdminGuard`, and every value
it accepts goes through the same checks as the config file, with the same messages."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from spotnana_sim.core import validators
from spotnana_sim.core.clock import ClockOutOfRange
from spotnana_sim.core.config_file import client_from_table
from spotnana_sim.core.errors import AdminBadRequest, NotFound
from spotnana_sim.core.fault_rules import FaultRuleError
from spotnana_sim.core.redaction import redact, redact_url
from spotnana_sim.core.secret_scan import MAX_SCAN_CHARS, clients_whose_secret_occurs
from spotnana_sim.core.settings import ClientConfig, ConfigError
from spotnana_sim.harness.journal_entry import KINDS
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.server.admin_guard import AdminGuard

Handler = Callable[[Request], Awaitable[Any]]
# JSON may spell a character in up to 6 bytes (\uXXXX); a body past this cannot hold MAX_SCAN_CHARS of text.
MAX_SCAN_BODY_BYTES = 6 * MAX_SCAN_CHARS + 64 * 1024
Endpoint = Callable[[Request], Awaitable[Response]]


def client_view(client: ClientConfig) -> dict[str, Any]:
    """A client as the admin API and the dashboard show it: no secret whole, no credential in a URL."""
    return {
        "id": client.client_id,
        "secret": redact(client.client_secret),
        "grants": sorted(client.grants),
        "user_detail_url": redact_url(client.user_detail_url) if client.user_detail_url else None,
        "email_field": client.email_field,
        "timeout": client.timeout,
        "ca_file": str(client.ca_file) if client.ca_file else None,
        "org_id": client.org_id,
        "role": client.role,
        "identity": client.identity,
        "jwks_url": redact_url(client.jwks_url) if client.jwks_url else None,
    }


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise AdminBadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AdminBadRequest("the body must be a JSON object")
    return data


def _number(body: dict[str, Any], name: str) -> float:
    try:
        return validators.finite_number(body[name])
    except validators.Invalid as exc:
        raise AdminBadRequest(f"{name}: {exc} of seconds") from None


def admin_routes(sim: Simulator, guard: AdminGuard) -> list[BaseRoute]:
    async def reset(request: Request) -> Any:
        sim.reset()
        return {"reset": True}

    async def journal(request: Request) -> Any:
        if request.method == "DELETE":
            sim.journal.clear()
            return {"cleared": True}
        query = request.query_params
        try:
            status = int(query["status"]) if "status" in query else None
            since = float(query["since"]) if "since" in query else None
        except ValueError:
            raise AdminBadRequest("status must be an integer and since a Unix timestamp in seconds") from None
        kind = query.get("kind")
        if kind is not None and kind not in KINDS:
            raise AdminBadRequest(f"kind must be one of {', '.join(KINDS)}")
        entries = sim.journal.entries(client_id=query.get("client_id"), status=status, since=since, kind=kind)
        return sim.journal.summary(entries)

    async def faults(request: Request) -> Any:
        if request.method == "GET":
            return {"faults": sim.faults.rules()}
        if request.method == "DELETE":
            sim.faults.clear()
            return {"cleared": True}
        try:
            return JSONResponse(sim.faults.arm(await json_body(request)), status_code=201)
        except FaultRuleError as exc:
            raise AdminBadRequest(f"fault rule: {exc}") from None

    async def journal_entry(request: Request) -> Any:
        raw = request.path_params["entry_id"]
        entry = sim.journal.find(int(raw)) if raw.isdigit() else None
        if entry is None:
            raise NotFound(f"no journal entry {raw[:20]!r} (it may have been dropped: the journal keeps the newest)")
        return entry.to_json()

    async def fault(request: Request) -> Any:
        rule_id = request.path_params["rule_id"]
        if not sim.faults.remove(rule_id):
            raise NotFound(f"no fault rule with id {rule_id!r}")
        return {"removed": rule_id}

    async def clock(request: Request) -> Any:
        if request.method == "POST":
            body = await json_body(request)
            try:
                if "advance" in body:
                    sim.clock.advance(_number(body, "advance"))
                elif "set" in body:
                    sim.clock.set(_number(body, "set"))
                elif body.get("reset") is True:  # exactly true, as documented
                    sim.clock.reset()
                else:
                    raise AdminBadRequest('send {"advance": seconds}, {"set": unix_time} or {"reset": true}')
            except ClockOutOfRange as exc:
                raise AdminBadRequest(str(exc)) from None
        return {"now": sim.clock.now(), "offset": sim.clock.offset}

    async def rotate_keys(request: Request) -> Any:
        key = sim.keys.rotate()
        return {"kid": key.kid, "published": [k.kid for k in sim.keys.published()]}

    async def clients(request: Request) -> Any:
        if request.method == "POST":
            body = await json_body(request)
            existing = sim.clients.get(body["id"]) if isinstance(body.get("id"), str) else None
            try:
                # The same checks and messages as a [[clients]] table: one validation path.
                client = client_from_table(body, base=existing)
            except ConfigError as exc:
                raise AdminBadRequest(f"{exc.key}: {exc.problem}" if exc.key else exc.problem) from None
            sim.clients.put(client)
            sim.register_configured_keys()  # model B: keys given with the client, as a [[clients]] table's
            return JSONResponse(client_view(client), status_code=201)
        return {"clients": [client_view(c) for c in sim.clients.all()]}

    async def profiles(request: Request) -> Any:
        if request.method == "POST":
            body = await json_body(request)
            try:
                email = validators.email(body.get("email"))
            except validators.Invalid as exc:
                raise AdminBadRequest(f'email: {exc}; send {{"email": "user@example.com"}}') from None
            profile = sim.profiles.add(email)
            return JSONResponse({"email": profile.email, "user_id": profile.user_id}, status_code=201)
        emails = sim.profiles.emails()
        return {"accepts_every_email": emails is None, "profiles": emails or []}

    async def scan_secrets(request: Request) -> Any:
        """Which clients' secrets occur in these texts (what a browser saw): ids only, never a secret."""
        texts = _scan_texts(await _bounded_json(request, MAX_SCAN_BODY_BYTES))
        return {"clients": await run_in_threadpool(clients_whose_secret_occurs, texts, sim.clients.all())}

    def admin(path: str, handler: Handler, methods: list[str]) -> Route:
        return Route(path, guarded(guard, handler), methods=methods)

    return [
        admin("/_sim/reset", reset, ["POST"]),
        admin("/_sim/journal", journal, ["GET", "DELETE"]),
        admin("/_sim/journal/{entry_id}", journal_entry, ["GET"]),
        admin("/_sim/faults", faults, ["GET", "POST", "DELETE"]),
        admin("/_sim/faults/{rule_id}", fault, ["DELETE"]),
        admin("/_sim/clock", clock, ["GET", "POST"]),
        admin("/_sim/keys/rotate", rotate_keys, ["POST"]),
        admin("/_sim/clients", clients, ["GET", "POST"]),
        admin("/_sim/profiles", profiles, ["GET", "POST"]),
        admin("/_sim/scan-secrets", scan_secrets, ["POST"]),
    ]


async def _bounded_json(request: Request, limit: int) -> dict[str, Any]:
    """The JSON object of a body read no further than ``limit`` bytes."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise AdminBadRequest(f"the body is larger than {limit} bytes")
    if not raw.strip():
        raise AdminBadRequest('send {"texts": ["…", …]}')
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise AdminBadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AdminBadRequest("the body must be a JSON object")
    return data


def _scan_texts(body: dict[str, Any]) -> list[str]:
    texts = body.get("texts")
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise AdminBadRequest('texts: must be a list of strings; send {"texts": ["…", …]}')
    unknown = sorted(set(body) - {"texts"})
    if unknown:
        raise AdminBadRequest(f"unknown key {unknown[0]!r}; accepted: texts")
    total = sum(len(text) for text in texts)
    if total > MAX_SCAN_CHARS:
        raise AdminBadRequest(f"texts: {total} characters in all, more than {MAX_SCAN_CHARS}; send them in batches")
    return texts


def guarded(guard: AdminGuard, handler: Handler) -> Endpoint:
    """An admin handler behind the guard; a plain return value is answered as JSON."""

    async def endpoint(request: Request) -> Response:
        guard.check(request)
        result = await handler(request)
        return result if isinstance(result, Response) else JSONResponse(result)

    return endpoint
