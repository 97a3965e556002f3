"""Scripted partner pages for the browser tests: each answers the iframe the way a test tells it to,
right or wrong, and keeps every message it receives in ``window.received``."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .stack import PartnerContext

SCRIPT = """
"use strict";
const c = JSON.parse(document.getElementById("case").textContent);
window.received = [];
window.addEventListener("message", (event) => {
  window.received.push(event.data);
  const data = event.data;
  if (!c.answer || !data || data.type !== "TOKEN_EXCHANGE_REQUEST") return;
  for (let i = 0; i < c.times; i++) {
    setTimeout(() => event.source.postMessage(c.reply, "*"), c.delayMs);
  }
});
"""


@dataclass
class Case:
    reply: Any = None  # the JSON value posted to the iframe on each TOKEN_EXCHANGE_REQUEST
    answer: bool = True  # False: never answer
    delay_ms: int = 0
    times: int = 1
    iframe_query: str | None = None  # None: idp=token-exchange-auth&orgId=<the demo client's org>
    iframe: bool = True
    leak: str | None = None  # text put into the page (to leak a secret)


def _script_json(value: Any) -> str:
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class ScriptedPartner:
    """``GET /case/<name>`` serves the page of ``cases[name]``; tests fill ``cases`` before loading."""

    def __init__(self) -> None:
        self.cases: dict[str, Case] = {}

    def __call__(self, context: PartnerContext) -> Starlette:
        def page(request: Request) -> Response:
            case = self.cases[request.path_params["name"]]
            query = case.iframe_query if case.iframe_query is not None else f"idp=token-exchange-auth&orgId={context.org_id}"
            config = {"reply": case.reply, "answer": case.answer, "delayMs": case.delay_ms, "times": case.times}
            iframe = f'<iframe id="spotnana-embed" src="{html.escape(context.sim_url)}/embed/?{html.escape(query)}"></iframe>'
            leak = f'<script type="application/json" id="settings">{_script_json(case.leak)}</script>' if case.leak else ""
            return HTMLResponse(
                '<!DOCTYPE html><html><head><meta charset="utf-8"><title>scripted partner</title>'
                f'<script type="application/json" id="case">{_script_json(config)}</script>{leak}'
                '<script src="/scripted.js"></script></head>'
                f'<body><h1>scripted partner</h1>{iframe if case.iframe else ""}</body></html>'
            )

        def script(request: Request) -> Response:
            return Response(SCRIPT, media_type="text/javascript")

        return Starlette(routes=[Route("/case/{name}", page), Route("/scripted.js", script)])
