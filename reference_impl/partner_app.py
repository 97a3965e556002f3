"""A reference partner web app: the frontend half of Spotnana's embedded (iframe) integration.

The whole flow, as Spotnana documents it (developer.spotnana.com, iframe frontend and backend setup):

1. your user signs in to *your* app (here: pick a demo user; a real app authenticates properly);
2. your page embeds ``<embed host>/…?idp=token-exchange-auth&orgId=<your org>`` in an iframe;
3. the iframe posts ``{"type":"TOKEN_EXCHANGE_REQUEST","from":"spotnana-embed"}`` to your page;
4. your page asks *your backend* for tokens (``POST /api/spotnana-tokens``); the backend exchanges the
   user's token at Spotnana's ``/v2/auth/oauth2-token`` with the reference client (client.py);
5. your page answers the iframe with ``{"type":"TOKEN_EXCHANGE_RESPONSE","payload":{"accessToken",
   "refreshToken"}}``, addressed to the embed's origin only.

The client secret never leaves the backend: the browser only ever sees the two Spotnana tokens.
Your page's origin must be allowed by Spotnana (``http://localhost:3000`` is by default), which is
why this app serves on port 3000. Run it beside the simulator::

    python -m spotnana_sim.reference.partner_app --simulator http://localhost:8080
"""

from __future__ import annotations

import argparse
import html
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from spotnana_sim.reference.client import SpotnanaTokenClient, TokenExchangeError
from spotnana_sim.reference.user_detail import DEMO_USERS

__all__ = ["PartnerAppConfig", "create_partner_app", "embed_url", "main"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "partner_session"
TOKEN_EXCHANGE_AUTH_IDP = "token-exchange-auth"  # the idp value Spotnana documents for token exchange


@dataclass(frozen=True)
class PartnerAppConfig:
    """Where Spotnana is and who we are to it. Give the secret from the environment, never in code."""

    token_url: str  # Spotnana's POST /v2/auth/oauth2-token
    client_id: str
    client_secret: str = field(repr=False)
    embed_base_url: str  # the embed host, e.g. https://sboxmeta-embed-app.partners.spotnana.com
    org_id: str  # your org id at Spotnana; goes into the iframe URL
    embed_path: str = "/"  # which page of the embedded app to open
    # Demo directory: your users' tokens (what Spotnana will present to your user-detail API) -> email.
    users: Mapping[str, str] = field(default_factory=lambda: dict(DEMO_USERS))


def embed_url(config: PartnerAppConfig) -> str:
    path = "/embed/" + config.embed_path.lstrip("/")
    query = urlencode({"idp": TOKEN_EXCHANGE_AUTH_IDP, "orgId": config.org_id})
    return config.embed_base_url.rstrip("/") + path + "?" + query


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def create_partner_app(config: PartnerAppConfig, *, token_client: SpotnanaTokenClient | None = None) -> Starlette:
    """The partner app. ``token_client`` defaults to a :class:`SpotnanaTokenClient` for ``config``."""
    client = token_client or SpotnanaTokenClient(config.token_url, config.client_id, config.client_secret)
    tokens_by_email = {email: token for token, email in config.users.items()}
    sessions: dict[str, str] = {}  # session id -> the user's token at *our* app (a real app has a session store)
    lock = threading.Lock()
    iframe_src = embed_url(config)
    # The page may frame only the embed host and talk only to itself; the tokens never go elsewhere.
    page_headers = {
        "Content-Security-Policy": f"default-src 'self'; frame-src {_origin(iframe_src)}; script-src 'self'; "
        "style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }

    def user_token(request: Request) -> str | None:
        session = request.cookies.get(SESSION_COOKIE)
        with lock:
            return sessions.get(session) if session else None

    async def home(request: Request) -> Response:
        token = user_token(request)
        if token is None:
            links = "".join(
                f'<li><a href="/login?{urlencode({"user": email})}">Sign in as {html.escape(email)}</a></li>'
                for email in sorted(tokens_by_email)
            )
            return HTMLResponse(_page("Sign in", f"<h1>Example partner app</h1><p>Demo users:</p><ul>{links}</ul>"),
                                headers=page_headers)
        email = config.users[token]
        body = (
            f'<header><h1>Example partner app</h1><p>Signed in as <b id="partner-user">{html.escape(email)}</b> · '
            '<a href="/logout">sign out</a></p></header>'
            '<p id="partner-status" role="status"></p>'
            # The iframe comes after partner.js in the document, so the listener is in place before it loads.
            f'<iframe id="spotnana-embed" title="Spotnana" src="{html.escape(iframe_src)}"></iframe>'
        )
        return HTMLResponse(_page("Travel", body, script=True), headers=page_headers)

    async def login(request: Request) -> Response:
        # Demo only: a real app authenticates here. GET so `check frontend --url …/login?user=…` lands signed in.
        token = tokens_by_email.get(request.query_params.get("user", ""))
        if token is None:
            return HTMLResponse(_page("Sign in", "<p>Unknown demo user. <a href='/'>Back</a></p>"), status_code=400,
                                headers=page_headers)
        session = secrets.token_urlsafe(24)
        with lock:
            sessions[session] = token
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="lax")
        return response

    async def logout(request: Request) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        with lock:
            token = sessions.pop(session, None) if session else None
        if token is not None:
            client.forget(config.users[token])  # the next user of this browser must not get these tokens
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def spotnana_tokens(request: Request) -> Response:
        """The backend half: exchange the signed-in user's token for Spotnana tokens."""
        token = user_token(request)
        if token is None:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        # Only our own page may ask (a cross-site form or fetch cannot send this JSON with our cookie).
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send application/json"}, status_code=415)
        try:
            fresh = (await request.json()).get("fresh") is True
        except (ValueError, AttributeError):
            fresh = False
        email = config.users[token]
        if fresh:
            # The iframe asked again in the same page: its tokens expired or were refused, so do not
            # hand it the cached pair again.
            client.forget(email)
        try:
            tokens = await run_in_threadpool(client.tokens_for, email, token)
        except TokenExchangeError as exc:  # messages never contain the secret or a token
            return JSONResponse({"error": "token exchange failed", "detail": str(exc)}, status_code=502)
        # Only the two tokens go to the browser: never the client secret, never the raw token response.
        return JSONResponse({"accessToken": tokens.access_token, "refreshToken": tokens.refresh_token},
                            headers={"Cache-Control": "no-store"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        types = {"partner.js": "text/javascript; charset=utf-8", "partner.css": "text/css; charset=utf-8"}
        if name not in types:
            return Response("not found", status_code=404)
        return Response((STATIC_DIR / name).read_bytes(), media_type=types[name])

    return Starlette(routes=[
        Route("/", home, methods=["GET"]),
        Route("/login", login, methods=["GET"]),
        Route("/logout", logout, methods=["GET"]),
        Route("/api/spotnana-tokens", spotnana_tokens, methods=["POST"]),
        Route("/static/{name}", static, methods=["GET"]),
    ])


def _page(title: str, body: str, *, script: bool = False) -> str:
    js = '<script src="/static/partner.js"></script>' if script else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<link rel="stylesheet" href="/static/partner.css">{js}</head><body>{body}</body></html>'
    )


# -- running it ------------------------------------------------------------------------------------


def _org_from_simulator(simulator: str, client_id: str) -> str:
    """Simulator only: its admin API lists each client's org id. Against Spotnana, pass --org-id."""
    try:
        listing = httpx.get(simulator.rstrip("/") + "/_sim/clients", timeout=5.0).json()
        for entry in listing.get("clients", []):
            if entry.get("id") == client_id and isinstance(entry.get("org_id"), str):
                return str(entry["org_id"])
    except (httpx.HTTPError, ValueError, AttributeError):
        pass
    raise SystemExit(f"could not learn the org id of {client_id!r} from {simulator}/_sim/clients: pass --org-id")


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="reference partner web app for Spotnana's embedded integration")
    parser.add_argument("--simulator", default="http://localhost:8080", help="Spotnana API base URL (default %(default)s)")
    parser.add_argument("--embed-url", help="embed host base URL (default: the --simulator URL)")
    parser.add_argument("--client-id", default=os.environ.get("SPOTNANA_CLIENT_ID", "demo-client"))
    parser.add_argument("--org-id", default=os.environ.get("SPOTNANA_ORG_ID"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000, help="default %(default)s: the origin Spotnana allows by default")
    args = parser.parse_args(argv)
    # The secret comes from the environment, not the command line (which other users can see).
    secret = os.environ.get("SPOTNANA_CLIENT_SECRET") or ("demo-secret" if args.client_id == "demo-client" else None)
    if not secret:
        raise SystemExit("set SPOTNANA_CLIENT_SECRET")
    config = PartnerAppConfig(
        token_url=args.simulator.rstrip("/") + "/v2/auth/oauth2-token",
        client_id=args.client_id,
        client_secret=secret,
        embed_base_url=args.embed_url or args.simulator,
        org_id=args.org_id or _org_from_simulator(args.simulator, args.client_id),
    )
    print(f"partner app: open http://localhost:{args.port} to watch the whole flow (login, exchange, iframe signed in)")
    uvicorn.run(create_partner_app(config), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
