"""Breaking an HTTP connection on purpose, for connection faults (reset, empty, truncated, ...).

ASGI has no message for "drop the connection", so this reaches the server's transport through the
``send`` callable the server gave us (uvicorn's is a method of its request cycle, which holds the
transport). Checked against uvicorn's h11 and httptools protocols; what an httpx client sees:

========================  =========================================================================
``reset``                 RST instead of FIN (SO_LINGER 0): ``ReadError`` "Connection reset by peer"
``empty``                 closed before a byte: ``RemoteProtocolError`` "Server disconnected ..."
``truncated``             200 promising N bytes, half sent, closed: ``RemoteProtocolError``
``malformed_json``        a complete 200 whose JSON body is cut mid-value: a JSON decode error
``random_bytes``          garbage where the status line belongs, then closed: ``RemoteProtocolError``
========================  =========================================================================

In-process (``httpx.ASGITransport``) there is no socket: the same httpx exceptions are raised
from the app, which the in-process client passes on, so callers see what they would over TCP.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any

from starlette.types import Scope, Send

RAW_SEND_KEY = "spotnana_sim.raw_send"

_TOKEN_BODY = json.dumps({"access_token": "eyJraWQiOiJ0cnVuY2F0ZWQ", "token_type": "Bearer", "expires_in": 3600}).encode()


def _cycle(scope: Scope) -> Any:
    raw_send = scope.get(RAW_SEND_KEY)
    return getattr(raw_send, "__self__", None)


async def break_connection(kind: str, scope: Scope, send: Send) -> None:
    if kind == "malformed_json":
        # A complete, well-framed HTTP answer whose JSON body is cut mid-value.
        body = _TOKEN_BODY[: len(_TOKEN_BODY) * 2 // 3]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return
    cycle = _cycle(scope)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        # In-process only, and httpx only matters there: imported here so `serve` starts without it.
        from spotnana_sim.server.inprocess import ConnectionBroken, ConnectionResetInProcess

        if kind == "reset":
            raise ConnectionResetInProcess("[Errno 104] Connection reset by peer (simulated connection fault)")
        raise ConnectionBroken(f"connection fault {kind!r}: server disconnected (simulated in-process)")
    if kind == "truncated":
        # Promise the whole body, deliver half of it, then hang up.
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_TOKEN_BODY)).encode())]})
        await send({"type": "http.response.body", "body": _TOKEN_BODY[: len(_TOKEN_BODY) // 2], "more_body": True})
        transport.close()
    elif kind == "random_bytes":
        # The blank line makes the client parse the garbage as a (broken) status line at once,
        # instead of waiting for more and reporting a plain disconnect.
        transport.write(os.urandom(64).replace(b"\r\n", b"..") + b"\r\n\r\n")
        transport.close()
    elif kind == "empty":
        transport.close()
    else:  # "reset": SO_LINGER 0 makes close() send RST instead of FIN
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        transport.abort()
    # The connection is gone on purpose: without this, uvicorn would log "ASGI callable returned
    # without starting response" as an error and try to write a 500 into the closed socket.
    if hasattr(cycle, "disconnected"):
        cycle.disconnected = True
