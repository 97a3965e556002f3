"""The Starlette application: routes, start-up and shutdown, and the one place an error becomes a response.

Every failure, from the token endpoint or anywhere else, is a
:class:`~spotnana_sim.core.errors.SimulatorError`, rendered by the error table in the configured
dialect (``ErrorTable.render``); this module only frames what the table rendered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from spotnana_sim.core.errors import MethodNotAllowed, NotFound, SimulatorError, ValidationFailed
from spotnana_sim.core.protocol import OPENID_SCOPE, SUPPORTED_GRANTS, TOKEN_ENDPOINT_PATH
from spotnana_sim.harness.simulator import EMBEDDED_USER_DETAIL_PREFIX, Simulator
from spotnana_sim.server.admin_api import admin_routes
from spotnana_sim.server.admin_guard import AdminGuard
from spotnana_sim.server.dashboard import ScenarioRunner, dashboard_routes
from spotnana_sim.server.embed import embed_routes
from spotnana_sim.server.openapi import openapi_document
from spotnana_sim.server.partner_api import partner_api_routes
from spotnana_sim.server.token_route import TokenRoute

Endpoint = Callable[[Request], Awaitable[Response]]
JWKS_PATH = "/.well-known/jwks.json"

# All request headers together; real clients send well under 2 KiB. The server has read them already
# (httptools sets no limit), but nothing past this cap is looked at, journaled or echoed.
MAX_HEADER_BYTES = 16 * 1024


def create_app(
    simulator: Simulator, *, extra_admin_hosts: Iterable[str] = (), scenario_runner: ScenarioRunner | None = None,
) -> ASGIApp:
    """The simulator's ASGI app. ``extra_admin_hosts`` are Host names the admin API answers besides
    loopback and the configured ones (the in-process app's own made-up host name). ``scenario_runner``
    runs shipped scenarios from the dashboard (``serve`` gives one; without it the page cannot)."""
    settings = simulator.settings
    guard = AdminGuard(admin_token=settings.admin_token, admin_hosts=(*settings.admin_hosts, *extra_admin_hosts))
    token_route = TokenRoute(simulator)
    routes: list[BaseRoute] = [
        # The stand-in embedded app (/embed/…, /_embed/…); its fault rules come from the FaultBook.
        *embed_routes(simulator, settings.embed, faults=simulator.faults),
        Route(TOKEN_ENDPOINT_PATH, token_route, methods=None),
        Route(JWKS_PATH, _jwks(simulator), methods=["GET"]),
        Route("/.well-known/openid-configuration", _openid_configuration(simulator), methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", _authorization_server(simulator), methods=["GET"]),
        Route("/_sim/health", _health, methods=["GET"]),
        Route("/openapi.json", _openapi(simulator), methods=["GET"]),
        *admin_routes(simulator, guard),
        *dashboard_routes(simulator, guard, scenario_runner),
        *partner_api_routes(simulator),
    ]
    if settings.uses_embedded_user_detail():
        from spotnana_sim.reference.user_detail import create_user_detail_app

        routes.append(Mount(EMBEDDED_USER_DETAIL_PREFIX, app=create_user_detail_app()))

    def render(error: SimulatorError, base_url: str) -> Response:
        # Only token requests are journaled; other errors point at the journal as a whole.
        rendered = simulator.endpoint.errors.render(
            error, simulator.endpoint.dialect, debug_identifier=f"{base_url.rstrip('/')}/_sim/journal",
        )
        return JSONResponse(rendered.body, status_code=rendered.status, headers=rendered.headers)

    async def simulator_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SimulatorError)
        return render(exc, str(request.base_url))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return render(MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}"), str(request.base_url))
        return render(NotFound(f"nothing is served at {request.url.path}"), str(request.base_url))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await simulator.start()
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
    return HeaderCap(app, render, token_route)


class HeaderCap:
    """The outermost layer: refuses oversized request headers before anything reads them, and hands
    the token endpoint its requests directly: it answers every error itself, and Starlette's router
    and middleware cost it a few percent per request for nothing (make bench)."""

    def __init__(self, app: Starlette, render: Callable[[SimulatorError, str], Response], token_route: ASGIApp) -> None:
        self.app = app
        self.render = render
        self.token_route = token_route

    @property
    def state(self) -> object:
        return self.app.state

    @property
    def routes(self) -> list[BaseRoute]:
        return self.app.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])  # + ": " and CRLF
            if size > MAX_HEADER_BYTES:
                error = ValidationFailed("headers", f"are {size} bytes together, more than the limit of {MAX_HEADER_BYTES}")
                await self.render(error, simulator_base_url(self.app))(scope, receive, send)
                return
            if scope["path"] == TOKEN_ENDPOINT_PATH:
                await self.token_route(scope, receive, send)
                return
        await self.app(scope, receive, send)


def simulator_base_url(app: Starlette) -> str:
    simulator: Simulator = app.state.simulator
    return simulator.base_url


def _jwks(simulator: Simulator) -> Endpoint:
    async def jwks(request: Request) -> Response:
        return JSONResponse(simulator.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})

    return jwks


def _openapi(simulator: Simulator) -> Endpoint:
    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(simulator.endpoint.errors, simulator.endpoint.dialect))

    return openapi


def request_issuer(simulator: Simulator, request: Request) -> str:
    """The configured issuer, else the scheme, host and port this request arrived on."""
    if simulator.issuer.issuer_is_fixed:
        return simulator.issuer.issuer
    return str(request.base_url).rstrip("/")


def authorization_server_metadata(simulator: Simulator, issuer: str) -> dict[str, object]:
    """RFC 8414 metadata: only what exists (a token endpoint, its keys; no authorization endpoint).
    Every URL starts with the issuer, as openid-client and Nimbus check."""
    return {
        "issuer": issuer,
        "token_endpoint": issuer + TOKEN_ENDPOINT_PATH,
        "jwks_uri": issuer + JWKS_PATH,
        "grant_types_supported": list(SUPPORTED_GRANTS),
        "token_endpoint_auth_methods_supported": ["client_secret_post"],  # S6: credentials in the body
        "scopes_supported": [OPENID_SCOPE],
        "response_types_supported": [],  # RFC 8414 §2 requires the member; there is no authorization endpoint
    }


def _authorization_server(simulator: Simulator) -> Endpoint:
    """Extension (Spotnana publishes no discovery document): RFC 8414, for clients such as Nimbus."""

    async def authorization_server(request: Request) -> Response:
        return JSONResponse(authorization_server_metadata(simulator, request_issuer(simulator, request)))

    return authorization_server


def _openid_configuration(simulator: Simulator) -> Endpoint:
    """Extension (Spotnana publishes no discovery document): lets standard libraries find our keys."""

    async def openid_configuration(request: Request) -> Response:
        metadata = authorization_server_metadata(simulator, request_issuer(simulator, request))
        metadata.update({
            "response_types_supported": ["token"],  # OIDC Discovery requires a non-empty list
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [simulator.keys.active.algorithm],
        })
        return JSONResponse(metadata)

    return openid_configuration


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})
