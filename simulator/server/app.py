"""The only Starlette module: routes, the one place errors become responses, and the admin API."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from dataclasses import replace
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from spotnana_sim.server.connection_faults import RAW_SEND_KEY, break_connection
from spotnana_sim.core.clock import ClockOutOfRange
from spotnana_sim.core.settings import ClientConfig
from spotnana_sim.core.errors import (
    AdminBadRequest,
    AdminForbidden,
    MethodNotAllowed,
    NotFound,
    SimulatorError,
    ValidationFailed,
)
from spotnana_sim.harness.endpoint import MAX_BODY_BYTES, IncomingRequest, Outcome
from spotnana_sim.harness.faults import FaultRuleError
from spotnana_sim.server.openapi import openapi_document
from spotnana_sim.core.protocol import OPENID_SCOPE, SUPPORTED_GRANTS, TOKEN_ENDPOINT_PATH
from spotnana_sim.core.redaction import redact
from spotnana_sim.harness.simulator import EMBEDDED_USER_DETAIL_PREFIX, Simulator

log = logging.getLogger("spotnana_sim")


def create_app(simulator: Simulator) -> Starlette:
    routes: list[BaseRoute] = [
        Route(TOKEN_ENDPOINT_PATH, TokenRoute(simulator), methods=None),
        Route("/.well-known/jwks.json", _jwks(simulator), methods=["GET"]),
        Route("/.well-known/openid-configuration", _openid_configuration(simulator), methods=["GET"]),
        Route("/_sim/health", _health, methods=["GET"]),
        Route("/openapi.json", lambda request: JSONResponse(openapi_document(simulator.endpoint.errors, simulator.endpoint.dialect)), methods=["GET"]),  # noqa: E501
        *_admin_routes(simulator),
    ]
    if simulator.settings.uses_embedded_user_detail():
        from spotnana_sim.reference.user_detail import create_user_detail_app

        routes.append(Mount(EMBEDDED_USER_DETAIL_PREFIX, app=create_user_detail_app()))

    def render(error: SimulatorError) -> Response:
        rendered = simulator.endpoint.errors.render(error, simulator.endpoint.dialect)
        return JSONResponse(rendered.body, status_code=rendered.status, headers=rendered.headers)

    async def simulator_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SimulatorError)
        return render(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return render(MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}"))
        return render(NotFound(f"nothing is served at {request.url.path}"))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await simulator.aclose()

    app = Starlette(
        routes=routes,
        exception_handlers={SimulatorError: simulator_error, HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.simulator = simulator
    return RawSendMiddleware(app, render)  # type: ignore[return-value]


# All request headers together; real clients send well under 2 KiB. The server has read them already
# (httptools sets no limit), but nothing past this cap is looked at, journaled or echoed.
MAX_HEADER_BYTES = 16 * 1024


class RawSendMiddleware:
    """The outermost layer: refuses oversized headers, and keeps the server's own ``send`` in the
    scope so a connection fault can reach the socket."""

    def __init__(self, app: Starlette, render: Callable[[SimulatorError], Response]) -> None:
        self.app = app
        self.render = render

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])  # + ": " and CRLF
            if size > MAX_HEADER_BYTES:
                error = ValidationFailed("headers", f"are {size} bytes together, more than the limit of {MAX_HEADER_BYTES}")
                await self.render(error)(scope, receive, send)
                return
            scope[RAW_SEND_KEY] = send
        await self.app(scope, receive, send)


class TokenRoute:
    """``/v2/auth/oauth2-token`` as a raw ASGI app: it must be able to break its own connection.

    It reads the scope, body and answer straight off ASGI, without Starlette's Request and Response
    objects: this is the hot path ``make bench`` measures, and their generality cost more than the
    two headers read and the one answer written here (README, "Performance").
    """

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type: str | None = None
        declared: str | None = None
        for name, value in scope["headers"]:
            # The first of repeated headers wins, as Starlette's Headers.get would have it.
            if name == b"content-type":
                if content_type is None:
                    content_type = value.decode("latin-1")
            elif name == b"content-length" and declared is None:
                declared = value.decode("latin-1")
        body, too_large = await _read_capped(receive, declared, MAX_BODY_BYTES)
        incoming = IncomingRequest(
            method=scope["method"],
            content_type=content_type,
            body=body,
            body_too_large=too_large,
            query=scope.get("query_string", b"").decode("latin-1"),
        )
        outcome = await self.simulator.endpoint.handle(incoming)
        _log_outcome(outcome)
        if outcome.connection_fault:
            await break_connection(outcome.connection_fault, scope, send)
            return
        status, headers, payload = _response(outcome)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def _read_capped(receive: Receive, declared: str | None, cap: int) -> tuple[bytes, bool]:
    """The body, or (b"", True) as soon as it is known to exceed ``cap``; the rest is never read."""
    if declared is not None and declared.isdigit() and int(declared) > cap:
        return b"", True
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()  # as Request.stream() does: nobody is left to answer
        body += message.get("body", b"")
        if len(body) > cap:
            return b"", True
        if not message.get("more_body", False):
            return body, False


def _response(outcome: Outcome) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, ASGI headers and body, exactly as Starlette's Response/JSONResponse would frame them."""
    body = outcome.body
    if isinstance(body, bytes):
        payload, media_type = body, None
    elif isinstance(body, str):
        payload, media_type = body.encode("utf-8"), None
    else:
        payload = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        media_type = b"application/json"
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in outcome.headers.items()]
    names = {name for name, _ in headers}
    status = outcome.status
    if b"content-length" not in names and not (status < 200 or status in (204, 304)):
        headers.append((b"content-length", str(len(payload)).encode("latin-1")))
    if media_type is not None and b"content-type" not in names:
        headers.append((b"content-type", media_type))
    return status, headers, payload


def _log_outcome(outcome: Outcome) -> None:
    entry = outcome.entry
    result = entry.get("connection_fault") or entry.get("status")
    code = f" {entry['error_code']}" if entry.get("error_code") else ""
    log.info(
        "%s %s client=%s grant=%s -> %s%s (%.1f ms)",
        entry.get("method"), entry.get("path"), entry.get("client_id"), entry.get("grant_type"),
        result, code, entry.get("elapsed_ms", 0.0),
    )


Endpoint = Callable[[Request], Awaitable[Response]]


def _jwks(simulator: Simulator) -> Endpoint:
    async def jwks(request: Request) -> Response:
        return JSONResponse(simulator.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})

    return jwks


def _openid_configuration(simulator: Simulator) -> Endpoint:
    """Extension (Spotnana publishes no discovery document): lets standard libraries find our keys."""

    async def openid_configuration(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issuer": simulator.issuer.issuer,
                "token_endpoint": base + TOKEN_ENDPOINT_PATH,
                "jwks_uri": base + "/.well-known/jwks.json",
                "grant_types_supported": list(SUPPORTED_GRANTS),
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "scopes_supported": [OPENID_SCOPE],
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [simulator.keys.active.algorithm],
            }
        )

    return openid_configuration


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


# ---------------------------------------------------------------- admin API (extension) ----------


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in ("localhost", "testclient"):  # "testclient": Starlette's in-process client
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _admin(simulator: Simulator, handler: Callable[[Request], Awaitable[Any]]) -> Endpoint:
    """Guards an admin handler: loopback only, or the admin token when one is configured."""

    async def guarded(request: Request) -> Response:
        token = simulator.settings.admin_token
        if token:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                raise AdminForbidden("the admin API needs 'Authorization: Bearer <admin token>'")
        elif not _is_loopback(request.client.host if request.client else None):
            raise AdminForbidden("the admin API answers loopback clients only; start with --admin-token to open it")
        result = await handler(request)
        return result if isinstance(result, Response) else JSONResponse(result)

    return guarded


async def _json_body(request: Request) -> dict[str, Any]:
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


def _client_view(client: ClientConfig) -> dict[str, Any]:
    return {
        "id": client.client_id,
        "secret": redact(client.client_secret),
        "grants": sorted(client.grants),
        "user_detail_url": client.user_detail_url,
        "email_field": client.email_field,
        "timeout": client.timeout,
    }


def _admin_routes(sim: Simulator) -> list[BaseRoute]:
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
        entries = sim.journal.entries(client_id=query.get("client_id"), status=status, since=since)
        return sim.journal.summary(entries)

    async def faults(request: Request) -> Any:
        if request.method == "GET":
            return {"faults": sim.faults.rules()}
        if request.method == "DELETE":
            sim.faults.clear()
            return {"cleared": True}
        try:
            return JSONResponse(sim.faults.arm(await _json_body(request)), status_code=201)
        except FaultRuleError as exc:
            raise AdminBadRequest(f"fault rule: {exc}") from None

    async def fault(request: Request) -> Any:
        rule_id = request.path_params["rule_id"]
        if not sim.faults.remove(rule_id):
            raise NotFound(f"no fault rule with id {rule_id!r}")
        return {"removed": rule_id}

    async def clock(request: Request) -> Any:
        if request.method == "POST":
            body = await _json_body(request)
            try:
                if "advance" in body:
                    sim.clock.advance(_number(body["advance"]))
                elif "set" in body:
                    sim.clock.set(_number(body["set"]))
                elif body.get("reset") is True:  # exactly true, as documented
                    sim.clock.reset()
                else:
                    raise AdminBadRequest('send {"advance": seconds}, {"set": unix_time} or {"reset": true}')
            except ClockOutOfRange as exc:
                raise AdminBadRequest(str(exc)) from None
            except (TypeError, ValueError):
                raise AdminBadRequest("clock values must be numbers of seconds") from None
        return {"now": sim.clock.now(), "offset": sim.clock.offset}

    async def rotate_keys(request: Request) -> Any:
        key = sim.keys.rotate()
        return {"kid": key.kid, "published": [k.kid for k in sim.keys.published()]}

    async def clients(request: Request) -> Any:
        if request.method == "POST":
            client = _client_from_json(await _json_body(request), sim)
            sim.clients.put(client)
            return JSONResponse(_client_view(client), status_code=201)
        return {"clients": [_client_view(c) for c in sim.clients.all()]}

    async def profiles(request: Request) -> Any:
        if request.method == "POST":
            email = (await _json_body(request)).get("email")
            if not isinstance(email, str) or "@" not in email:
                raise AdminBadRequest('send {"email": "user@example.com"}')
            profile = sim.profiles.add(email)
            return JSONResponse({"email": profile.email, "user_id": profile.user_id}, status_code=201)
        emails = sim.profiles.emails()
        return {"accepts_every_email": emails is None, "profiles": emails or []}

    def admin(path: str, handler: Callable[[Request], Awaitable[Any]], methods: list[str]) -> Route:
        return Route(path, _admin(sim, handler), methods=methods)

    return [
        admin("/_sim/reset", reset, ["POST"]),
        admin("/_sim/journal", journal, ["GET", "DELETE"]),
        admin("/_sim/faults", faults, ["GET", "POST", "DELETE"]),
        admin("/_sim/faults/{rule_id}", fault, ["DELETE"]),
        admin("/_sim/clock", clock, ["GET", "POST"]),
        admin("/_sim/keys/rotate", rotate_keys, ["POST"]),
        admin("/_sim/clients", clients, ["GET", "POST"]),
        admin("/_sim/profiles", profiles, ["GET", "POST"]),
    ]


def _number(value: Any) -> float:
    """A JSON number; float() alone would take true, false and numeric strings."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _client_from_json(body: dict[str, Any], sim: Simulator) -> ClientConfig:
    """A client added at runtime; unset fields keep an existing client's values or the defaults."""
    client_id = body.get("id")
    if not isinstance(client_id, str) or not client_id:
        raise AdminBadRequest('"id" must be a non-empty string')
    existing = sim.clients.get(client_id)
    fields: dict[str, Any] = {"client_id": client_id}
    if existing is None and not isinstance(body.get("secret"), str):
        raise AdminBadRequest('"secret" must be a non-empty string for a new client')
    for key, attr, kind in (
        ("secret", "client_secret", str),
        ("user_detail_url", "user_detail_url", str),
        ("email_field", "email_field", str),
        ("timeout", "timeout", (int, float)),
    ):
        if key in body:
            value = body[key]
            if not isinstance(value, kind) or value in ("", 0):
                raise AdminBadRequest(f'"{key}" has an invalid value')
            fields[attr] = float(value) if attr == "timeout" else value
    if "grants" in body:
        grants = body["grants"]
        if not isinstance(grants, list) or not grants or any(g not in SUPPORTED_GRANTS for g in grants):
            raise AdminBadRequest(f'"grants" must be a non-empty list of {", ".join(SUPPORTED_GRANTS)}')
        fields["grants"] = frozenset(grants)
    if existing is not None:
        fields.pop("client_id")
        return replace(existing, **fields)
    return ClientConfig(**fields)

