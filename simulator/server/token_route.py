"""The token endpoint's web side: ASGI in, :class:`~spotnana_sim.harness.endpoint.IncomingRequest`
to the framework-free endpoint, its :class:`~spotnana_sim.harness.endpoint.Outcome` back out."""

from __future__ import annotations

import json
import logging

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from spotnana_sim.harness.endpoint import MAX_BODY_BYTES, IncomingRequest, Outcome
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.server.connection_faults import break_connection

log = logging.getLogger("spotnana_sim")


class TokenRoute:
    """``/v2/auth/oauth2-token`` as a raw ASGI app: it must be able to break its own connection.

    It reads the scope, body and answer straight off ASGI, without Starlette's Request and Response
    objects: this is the hot path ``make bench`` measures, and their generality costs more than the
    two headers read and the one answer written here.
    """

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type: str | None = None
        declared: str | None = None
        host: str | None = None
        basic_auth = False
        for name, value in scope["headers"]:
            # The first of repeated headers wins, as Starlette's Headers.get would have it.
            if name == b"content-type":
                if content_type is None:
                    content_type = value.decode("latin-1")
            elif name == b"content-length" and declared is None:
                declared = value.decode("latin-1")
            elif name == b"host" and host is None:
                host = value.decode("latin-1")
            elif name == b"authorization":
                basic_auth = basic_auth or value[:6].lower() == b"basic "
        try:
            body, too_large = await _read_capped(receive, declared, MAX_BODY_BYTES)
        except ClientDisconnect:
            return  # nobody is left to answer, and nothing was asked yet: no journal entry either
        incoming = IncomingRequest(
            method=scope["method"],
            content_type=content_type,
            body=body,
            body_too_large=too_large,
            query=scope.get("query_string", b"").decode("latin-1"),
            basic_auth=basic_auth,
            base_url=f"{scope.get('scheme', 'http')}://{host}" if host else None,
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
    if entry is None:
        return
    result = entry.connection_fault or entry.status
    code = f" {entry.error_code}" if entry.error_code else ""
    log.info(
        "%s %s client=%s grant=%s -> %s%s (%.1f ms)",
        entry.method, entry.path, entry.client_id, entry.grant_type, result, code, entry.elapsed_ms,
    )
