"""HTTP side of the stand-in embedded app: the ``/embed/…`` page, its assets, and the three calls it makes.

* ``GET /embed/{path}?idp=token-exchange-auth&orgId=…`` serves the page (static/embed/). It sends no
  ``frame-ancestors`` and no ``X-Frame-Options``: the page must load in any parent so that a parent
  from an origin that is not allowed is seen being refused.
* ``POST /_embed/handshake`` judges a message the parent posted (shape, then the token) and journals
  the verdict. The page never decides validity itself.
* ``POST /_embed/token-status`` tells a signed-in page whether its token still holds by the simulator's
  clock; an expired one makes the page ask its parent again (renewal, modeled).
* ``POST /_embed/events`` takes the steps only the page can see (its request, refused origins, timeout).

Every answer of the three calls is JSON; failures use Spotnana's error envelope.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from spotnana_sim.core.embed import (
    EMBED_FROM,
    ERROR_TYPE,
    INVALID_TOKEN,
    PAGE_REPORTED_STEPS,
    REASON_EXPIRED,
    REASON_REFUSED,
    REQUEST_TYPE,
    RESPONSE_TYPE,
    TOKEN_EXCHANGE_AUTH_IDP,
    EmbedConfig,
    EmbedFault,
    EmbedFaults,
    check_embed_token,
    embed_journal_entry,
)
from spotnana_sim.core.embed_message import RESPONSE_MALFORMED, UNRELATED, classify_exchange_message, message_view
from spotnana_sim.core.errors import (
    SPOTNANA,
    EmbedTokenInvalid,
    InternalError,
    NotFound,
    SimulatorError,
    ValidationFailed,
)
from spotnana_sim.core.redaction import shorten
from spotnana_sim.harness.journal_entry import EMBED, JournalEntry
from spotnana_sim.harness.simulator import Simulator

log = logging.getLogger("spotnana_sim")

__all__ = ["EMBED_API_PREFIX", "embed_routes"]

STATIC_DIR = Path(__file__).resolve().parent / "static" / "embed"
EMBED_API_PREFIX = "/_embed"
HANDSHAKE_PATH = EMBED_API_PREFIX + "/handshake"
TOKEN_STATUS_PATH = EMBED_API_PREFIX + "/token-status"
EVENTS_PATH = EMBED_API_PREFIX + "/events"
ASSET_TYPES = {"embed.js": "text/javascript; charset=utf-8", "embed.css": "text/css; charset=utf-8"}
MAX_API_BODY = 64 * 1024  # a message with two tokens is a few KiB
PAGES_REMEMBERED = 1024  # page loads whose org and faults are kept (oldest forgotten first)
MAX_IGNORED_REPORTS = 20  # per page: a chatty parent must not flood the journal (the page enforces it too)

# No frame-ancestors on purpose (see the module docstring); scripts and calls only from the page's origin.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@dataclass(frozen=True)
class _Page:
    page_id: str
    org_id: str | None
    fault: EmbedFault | None


class _Pages:
    """The page loads the simulator served, so later calls are tied to the org of the URL actually loaded."""

    def __init__(self, limit: int = PAGES_REMEMBERED) -> None:
        self._pages: OrderedDict[str, _Page] = OrderedDict()
        self._ignored: dict[str, int] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, page: _Page) -> None:
        with self._lock:
            self._pages[page.page_id] = page
            while len(self._pages) > self._limit:
                old, _ = self._pages.popitem(last=False)
                self._ignored.pop(old, None)

    def get(self, page_id: object) -> _Page:
        with self._lock:
            page = self._pages.get(page_id) if isinstance(page_id, str) else None
        if page is None:
            raise ValidationFailed("page", "is not a page this simulator served recently; reload the iframe")
        return page

    def count_ignored(self, page_id: str) -> int:
        with self._lock:
            self._ignored[page_id] = self._ignored.get(page_id, 0) + 1
            return self._ignored[page_id]


def _script_json(value: Any) -> str:
    """JSON safe inside <script type="application/json">: no '<', '>' or '&' survive as such."""
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page_problem(idp: str | None, org_id: str | None) -> str | None:
    if idp != TOKEN_EXCHANGE_AUTH_IDP:
        got = "no idp parameter" if idp is None else f"idp={shorten(idp, 60)}"
        return f"the iframe URL has {got}; token exchange needs idp={TOKEN_EXCHANGE_AUTH_IDP}"
    if not org_id:
        return "the iframe URL has no orgId; add orgId=<your org id> (GET /_sim/clients shows it)"
    return None


async def _json_body(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_API_BODY:
        raise ValidationFailed("body", f"is larger than {MAX_API_BODY} bytes")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_API_BODY:
            raise ValidationFailed("body", f"is larger than {MAX_API_BODY} bytes")
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValidationFailed("body", "is not JSON", accepted="a JSON object") from None
    if not isinstance(data, dict):
        raise ValidationFailed("body", "is not a JSON object", accepted="a JSON object")
    return data


def _text(body: dict[str, Any], name: str, limit: int = 200) -> str | None:
    value = body.get(name)
    return shorten(value, limit) if isinstance(value, str) else None


Handler = Callable[[Request], Awaitable[Response]]


class _EmbedApp:
    def __init__(self, simulator: Simulator, config: EmbedConfig, faults: EmbedFaults | None) -> None:
        self.simulator = simulator
        self.config = config
        self.faults = faults
        self.pages = _Pages()
        self.template = (STATIC_DIR / "embed.html").read_text(encoding="utf-8")
        self.assets = {name: (STATIC_DIR / name).read_bytes() for name in ASSET_TYPES}

    def record(self, request: Request, step: str, **fields: Any) -> None:
        entry = embed_journal_entry(step, self.simulator.clock.now(), **fields)
        self.simulator.journal.record(journal_entry(entry, request.method, request.url.path))

    def guarded(self, handler: Handler) -> Handler:
        """Every failure answers in Spotnana's envelope; an unexpected one is logged, never a traceback."""

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except SimulatorError as error:
                return self.render(error)
            except ClientDisconnect:
                return Response(status_code=204)
            except Exception:
                log.exception("unexpected failure in the embedded app's %s", request.url.path)
                return self.render(InternalError("unexpected failure inside the simulator"))

        return run

    def render(self, error: SimulatorError) -> Response:
        rendered = self.simulator.endpoint.errors.render(error, SPOTNANA)
        return JSONResponse(rendered.body, status_code=rendered.status, headers={**API_HEADERS, **rendered.headers})

    # -- the page ---------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        idp = request.query_params.get("idp")
        org_id = request.query_params.get("orgId")
        problem = _page_problem(idp, org_id)
        fault = self.faults.for_page(org_id) if self.faults is not None and problem is None else None
        page = _Page(page_id=secrets.token_urlsafe(16), org_id=org_id or None, fault=fault)
        self.pages.add(page)
        self.record(
            request, "page_served", outcome="error" if problem else "ok", page=page.page_id, org_id=org_id, message=problem,
            fault_id=fault.rule_id if fault else None,
            detail={"path": shorten(request.url.path, 200), "idp": shorten(idp, 60) if idp is not None else None},
        )
        config = {
            "page": page.page_id,
            "problem": problem,
            "orgId": org_id,
            "allowedOrigins": list(self.config.allowed_origins),
            "requestTarget": self.config.request_target,
            "handshakeTimeoutMs": round(self.config.handshake_timeout * 1000),
            "tokenCheckIntervalMs": round(self.config.token_check_interval * 1000),
            "requestDelayMs": round(fault.request_delay * 1000) if fault else 0,
            "requestCount": fault.request_count if fault else 1,
            "maxIgnoredReports": MAX_IGNORED_REPORTS,
            "protocol": {"from": EMBED_FROM, "request": REQUEST_TYPE, "response": RESPONSE_TYPE,
                         "error": ERROR_TYPE, "errorCode": INVALID_TOKEN},
            "api": {"handshake": HANDSHAKE_PATH, "tokenStatus": TOKEN_STATUS_PATH, "events": EVENTS_PATH},
        }
        html = self.template.replace("{{CONFIG_JSON}}", _script_json(config))
        return HTMLResponse(html, headers=PAGE_HEADERS)

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.assets:
            raise NotFound(f"no embedded-app asset {shorten(name, 60)!r}")
        return Response(self.assets[name], media_type=ASSET_TYPES[name],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    # -- the calls the page makes -----------------------------------------------------------------

    async def handshake(self, request: Request) -> Response:
        body = await _json_body(request)
        page = self.pages.get(body.get("page"))
        origin = _text(body, "origin")
        renewal = body.get("renewal") is True
        if origin is None or not self.config.allows(origin):
            # The page filters origins before calling; this is the server's own check of the same rule.
            self.record(request, "message_rejected", outcome="rejected", page=page.page_id, org_id=page.org_id,
                        origin=origin, message="origin not allowed")
            raise ValidationFailed("origin", "is not an allowed origin", accepted=", ".join(self.config.allowed_origins))
        message = body.get("message")
        verdict = classify_exchange_message(message)
        common: dict[str, Any] = {"page": page.page_id, "org_id": page.org_id, "origin": origin}
        if verdict.kind == UNRELATED:
            if self.pages.count_ignored(page.page_id) <= MAX_IGNORED_REPORTS:
                self.record(request, "message_ignored", outcome="ignored", message="not a TOKEN_EXCHANGE_RESPONSE",
                            detail={"message": message_view(message)}, **common)
            return JSONResponse({"outcome": "ignored"}, headers=API_HEADERS)
        if verdict.kind == RESPONSE_MALFORMED:
            self.record(request, "response_malformed", outcome="error", message=verdict.explanation,
                        detail={"message": message_view(message), "renewal": renewal}, **common)
            raise verdict.error()
        now = self.simulator.clock.now()
        refresh = verdict.refresh_token if self.config.check_refresh_token else None
        fault_id: str | None = None
        try:
            session = check_embed_token(self.simulator.issuer, verdict.access_token, page.org_id, now, refresh_token=refresh)
            fault = self.faults.for_token(page.org_id, session.client_id) if self.faults is not None else None
            if fault is not None and fault.refuse_token:
                fault_id = fault.rule_id
                raise EmbedTokenInvalid(
                    f"the embedded app refused a valid token (fault rule {fault.rule_id})", reason=REASON_REFUSED
                )
        except EmbedTokenInvalid as error:
            self.record(request, "token_refused", outcome="error", message=error.message, reason=error.reason,
                        access_token=verdict.access_token, fault_id=fault_id, detail={"renewal": renewal}, **common)
            raise
        self.record(request, "response_accepted", outcome="ok", client_id=session.client_id, email=session.email,
                    access_token=verdict.access_token, detail={"renewal": renewal, "extra_keys": list(verdict.extra_keys)},
                    **common)
        return JSONResponse(
            {"outcome": "signed-in", "email": session.email, "orgId": session.org_id,
             "expiresAt": session.expires_at, "expiresIn": session.expires_in(now)},
            headers=API_HEADERS,
        )

    async def token_status(self, request: Request) -> Response:
        body = await _json_body(request)
        page = self.pages.get(body.get("page"))
        token = body.get("accessToken")
        now = self.simulator.clock.now()
        try:
            session = check_embed_token(self.simulator.issuer, token, page.org_id, now)
        except EmbedTokenInvalid as error:
            step = "token_expired" if error.reason == REASON_EXPIRED else "token_refused"
            self.record(request, step, outcome="error", page=page.page_id, org_id=page.org_id, message=error.message,
                        reason=error.reason, access_token=token if isinstance(token, str) else None)
            raise
        return JSONResponse({"valid": True, "expiresAt": session.expires_at, "expiresIn": session.expires_in(now)},
                            headers=API_HEADERS)

    async def events(self, request: Request) -> Response:
        body = await _json_body(request)
        page = self.pages.get(body.get("page"))
        step = body.get("step")
        if step not in PAGE_REPORTED_STEPS:
            raise ValidationFailed("step", "is not a step the page reports", accepted=", ".join(sorted(PAGE_REPORTED_STEPS)))
        if step in ("message_ignored", "message_rejected") and self.pages.count_ignored(page.page_id) > MAX_IGNORED_REPORTS:
            return Response(status_code=204, headers=API_HEADERS)
        outcome = {"request_sent": "ok", "message_rejected": "rejected", "message_ignored": "ignored",
                   "late_response": "ignored"}.get(str(step), "error")
        detail: dict[str, Any] = {}
        for key in ("renewal", "count", "seconds", "state", "type", "reason", "errorCode", "target"):
            value = body.get(key)
            if isinstance(value, str):
                detail[key] = shorten(value, 80)
            elif isinstance(value, (bool, int, float)):
                detail[key] = value
        self.record(request, str(step), outcome=outcome, page=page.page_id, org_id=page.org_id, origin=_text(body, "origin"),
                    message=_text(body, "message", 500), detail=detail or None)
        return Response(status_code=204, headers=API_HEADERS)


_TOP_LEVEL = ("timestamp", "time", "client_id", "email", "fault_id")


def journal_entry(fields: dict[str, Any], method: str, path: str) -> JournalEntry:
    """The journal's entry of kind embed: shared fields at the top, the handshake step under ``embed``."""
    return JournalEntry(
        kind=EMBED, method=method, path=path, **{name: fields[name] for name in _TOP_LEVEL},
        embed={name: value for name, value in fields.items() if name not in _TOP_LEVEL and name != "kind"},
    )


def embed_routes(simulator: Simulator, config: EmbedConfig, *, faults: EmbedFaults | None = None) -> list[BaseRoute]:
    """The stand-in embedded app's routes, to mount on the simulator's app (and on ``--embed-port``)."""
    app = _EmbedApp(simulator, config, faults)
    return [
        Route("/embed", app.guarded(app.page), methods=["GET"]),
        Route("/embed/{path:path}", app.guarded(app.page), methods=["GET"]),
        Route(EMBED_API_PREFIX + "/static/{name}", app.guarded(app.asset), methods=["GET"]),
        Route(HANDSHAKE_PATH, app.guarded(app.handshake), methods=["POST"]),
        Route(TOKEN_STATUS_PATH, app.guarded(app.token_status), methods=["POST"]),
        Route(EVENTS_PATH, app.guarded(app.events), methods=["POST"]),
    ]
