"""Breaking an HTTP connection on purpose, for connection faults (reset, empty, truncated, ...).

ASGI has no message for "drop the connection", so the server runs under
:class:`FaultableHttpToolsProtocol`, uvicorn's own httptools protocol (chosen through uvicorn's
``http=`` setting) that also hands each request a :class:`ConnectionControl` in
``scope["extensions"]``. What an httpx client sees:

========================  =========================================================================
``reset``                 RST instead of FIN (SO_LINGER 0): ``ReadError`` "Connection reset by peer"
``empty``                 closed before a byte: ``RemoteProtocolError`` "Server disconnected ..."
``truncated``             200 promising N bytes, half sent, closed: ``RemoteProtocolError``
``malformed_json``        a complete 200 whose JSON body is cut mid-value: a JSON decode error
``random_bytes``          garbage where the status line belongs, then closed: ``RemoteProtocolError``
========================  =========================================================================

In-process there is no socket: :class:`ConnectionFaultInProcess` is raised instead, and the
in-process transport turns it into the httpx exception a client would get over TCP.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from typing import Any

from starlette.types import Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

CONTROL_KEY = "spotnana_sim.connection"

_TOKEN_BODY = json.dumps({"access_token": "eyJraWQiOiJ0cnVuY2F0ZWQ", "token_type": "Bearer", "expires_in": 3600}).encode()


class ConnectionFaultInProcess(Exception):
    """A connection fault where there is no connection: ``kind`` says which."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"connection fault {kind!r} (simulated in-process)")
        self.kind = kind


class ConnectionControl:
    """The transport under one request, and a way to tell uvicorn the request ended on purpose."""

    def __init__(self, cycle: Any) -> None:
        self._cycle = cycle

    @property
    def transport(self) -> Any:
        return self._cycle.transport

    def gone(self) -> None:
        # Without this, uvicorn would log "ASGI callable returned without starting response" as an
        # error and try to write a 500 into the closed socket.
        self._cycle.disconnected = True


class FaultableHttpToolsProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[CONTROL_KEY] = ConnectionControl(cycle)


async def break_connection(kind: str, scope: Scope, send: Send) -> None:
    if kind == "malformed_json":
        # A complete, well-framed HTTP answer whose JSON body is cut mid-value.
        body = _TOKEN_BODY[: len(_TOKEN_BODY) * 2 // 3]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return
    control: ConnectionControl | None = (scope.get("extensions") or {}).get(CONTROL_KEY)
    if control is None:
        raise ConnectionFaultInProcess(kind)
    transport = control.transport
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
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    control.gone()
