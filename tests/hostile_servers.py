"""A user-detail API that a test scripts byte by byte: raw asyncio on 127.0.0.1, in its own thread.

Real partner servers may be broken or hostile. This server lets a test answer each request with any
bytes at all (floods, two answers in one write, wrong Content-Length, trailing garbage, a reset
mid-body), and records which connection every request arrived on, so a test can tell whether the
simulator reused a connection.

It runs its own event loop in a daemon thread, so tests may call the simulator with a blocking
client or from their own loop alike. ``Responder`` coroutines run on the server's loop. Its request
reader (``RawConnection``) and ``http_answer`` also serve the in-loop server of
tests/test_user_detail_client.py.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Self

HANG_GUARD = 60.0  # seconds: only stops a broken run from hanging the suite; never a pass/fail criterion
MAX_REQUEST_HEAD = 64 * 1024


@dataclass(frozen=True)
class SeenRequest:
    """One request as it arrived: on which connection (numbered from 1), its path and its headers."""

    connection: int
    path: str
    headers: dict[str, str]

    @property
    def bearer(self) -> str:
        return self.headers.get("authorization", "").removeprefix("Bearer ")


class RawConnection:
    """One accepted connection, handed to the responder with each request."""

    def __init__(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.number = number
        self.reader = reader
        self.writer = writer
        self.gone = False

    async def read_request(self) -> tuple[str, dict[str, str]] | None:
        """The next request's path and headers (names lower-cased), or None once the peer is done."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        path = parts[1] if len(parts) > 1 else ""
        headers: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return path, headers

    async def send(self, data: bytes) -> bool:
        """Write ``data`` in one call (one TCP write as far as the kernel allows); False if the peer left."""
        try:
            self.writer.write(data)
            await self.writer.drain()
            return True
        except (ConnectionError, RuntimeError):
            self.gone = True
            return False

    def reset(self) -> None:
        """Abort with SO_LINGER 0: the peer gets a TCP RST, not an orderly end of stream."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
        self.gone = True


# Answers one request; returns True to keep the connection open for the next request on it.
Responder = Callable[[SeenRequest, RawConnection], Awaitable[bool]]


def http_answer(status: int, body: bytes = b"", *, reason: str = "X", headers: list[tuple[str, str]] | None = None,
                content_length: int | None = None) -> bytes:
    """An HTTP/1.1 answer; ``content_length`` overrides the true length (to lie about it)."""
    length = len(body) if content_length is None else content_length
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {length}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def email_body(email: str) -> bytes:
    return json.dumps({"user": {"email": email}}, ensure_ascii=False).encode("utf-8")


@dataclass
class ScriptedServer:
    """A raw HTTP/1.1 server on a free loopback port; every request goes to ``responder``."""

    responder: Responder
    url: str = ""
    port: int = 0
    connections: int = 0
    requests: list[SeenRequest] = field(default_factory=list)
    _open: set[RawConnection] = field(default_factory=set)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = RawConnection(self.connections, reader, writer)
        self._open.add(connection)
        try:
            while not connection.gone:
                request = await connection.read_request()
                if request is None:
                    break
                seen = SeenRequest(connection.number, *request)
                self.requests.append(seen)
                if not await self.responder(seen, connection):
                    break
        finally:
            self._open.discard(connection)
            if not connection.gone:
                writer.close()

    def start(self) -> Self:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def open_server() -> None:
                self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=MAX_REQUEST_HEAD)
                self.port = int(self._server.sockets[0].getsockname()[1])
                self.url = f"http://127.0.0.1:{self.port}"

            loop.run_until_complete(open_server())
            ready.set()
            loop.run_forever()
            assert self._server is not None
            self._server.close()
            for connection in list(self._open):  # their handlers see the end of the stream and return
                connection.writer.transport.abort()
            pending = asyncio.all_tasks(loop)
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=HANG_GUARD))
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(HANG_GUARD):
            raise RuntimeError("the scripted server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
