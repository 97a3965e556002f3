"""Breaking an HTTP connection on purpose, for connection faults (reset, empty, truncated, ...).

ASGI has no message for "drop the connection", so this reaches the server's transport through the
``send`` callable the server gave us (uvicorn's is a method of its request cycle, which holds the
transport). Without a transport (in-process ASGI), it raises, which an in-process client sees as a
failed request, the closest equivalent of a broken connection.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any

from starlette.types import Scope, Send

RAW_SEND_KEY = "spotnana_sim.raw_send"

_HALF_TOKEN_BODY = json.dumps({"access_token": "eyJraWQiOiJ0cnVuY2F0ZWQ", "token_type": "Bearer"}).encode()


class ConnectionBroken(ConnectionError):
    """Raised in-process, where there is no socket to break."""


def _transport(scope: Scope) -> Any:
    raw_send = scope.get(RAW_SEND_KEY)
    owner = getattr(raw_send, "__self__", None)
    return getattr(owner, "transport", None)


async def break_connection(kind: str, scope: Scope, send: Send) -> None:
    if kind == "malformed_json":
        # A complete, well-framed HTTP answer whose JSON body is cut mid-value.
        body = b'{"access_token": "eyJraWQiOiJtYWxmb3JtZWQ", "token_type": "Bear'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return
    transport = _transport(scope)
    if transport is None:
        raise ConnectionBroken(f"connection fault {kind!r} (no socket in-process)")
    if kind == "truncated":
        # Promise the whole body, deliver half of it, then hang up.
        full = _HALF_TOKEN_BODY
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(full)).encode())]})
        await send({"type": "http.response.body", "body": full[: len(full) // 2], "more_body": True})
        transport.close()
    elif kind == "random_bytes":
        transport.write(os.urandom(64))
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
