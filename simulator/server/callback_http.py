"""The served simulator's outbound user-detail client: a small pooled HTTP/1.1 client on asyncio.

Same contract as :class:`simulator.identity.HttpxUserDetailHttp` (the ``UserDetailHttp`` protocol):

* one total timeout covers connecting, sending and reading the whole answer → ``CallbackTimedOut``;
* redirects are never followed: a 3xx comes back as it is, ``Location`` included;
* at most ``max_bytes`` of the body are read; more sets ``truncated=True`` and the body is cut there
  (the rest is never read and the connection is dropped, not reused);
* anything that produced no HTTP answer (refused, reset, malformed answer, bad URL) → ``CallbackFailed``;
* header names come back lower-cased; repeated headers are joined with ``", "`` as httpx does.

Why not a general client library: the user-detail call is one GET with two headers, and
``make bench`` (README, "Performance") measured aiohttp's session, request and response machinery at
about a sixth of the exchange's CPU, more than the rest of the simulator's own work. This client is
an ``asyncio.Protocol`` per connection, ``httptools`` (the parser uvicorn uses) for the answer, and
a per-origin stack of idle keep-alive connections for the server's life.

No ``Accept-Encoding`` is sent, so servers answer with the body as it is (identity); cookies are
never kept (a cookie set while answering one user's call must not travel with the next user's);
no proxy is taken from the environment: the URL configured is the URL called.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Mapping, cast
from urllib.parse import urlsplit

import httptools

from spotnana_sim.core.user_detail import CallbackFailed, CallbackTimedOut, UserDetailResponse

MAX_IDLE_PER_ORIGIN = 256  # far above any realistic concurrency against one user-detail API
_URL_CACHE_LIMIT = 1024  # parsed URLs kept: one per configured client in practice
_NO_BODY_STATUSES = frozenset({204, 304})


class _Origin:
    """Where a URL's connection goes and the start of its request, parsed once per URL."""

    __slots__ = ("key", "host", "port", "tls", "request_line")

    def __init__(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise CallbackFailed(f"invalid URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise CallbackFailed(f"invalid URL: the scheme must be http or https, got {scheme or 'none'!r}")
        host = parts.hostname
        if not host:
            raise CallbackFailed("invalid URL: no host")
        self.tls = scheme == "https"
        self.port = port or (443 if self.tls else 80)
        self.host = host
        self.key = (scheme, host, self.port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
        if port is not None:
            host_header += f":{port}"
        line = f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\n"
        if any(c in line for c in "\0") or " " in target:
            raise CallbackFailed("invalid URL: spaces or control characters in the path")
        self.request_line = line.encode("utf-8")


class _StaleConnection(Exception):
    """A reused keep-alive connection closed before any byte of the answer: safe to retry a GET."""


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._reset(0)

    def _reset(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._headers: dict[str, str] = {}
        self._body = bytearray()
        self._received_any = False
        self._headers_done = False
        self._until_eof = False
        self.truncated = False
        self.complete = False
        self.keep_alive = False

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike: no isinstance check.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self._close()  # bytes nobody asked for: the connection's state is unknown now
            return
        self._received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(CallbackFailed("the user-detail server switched protocols"))
        except httptools.HttpParserError as exc:
            if not self.complete:  # an error after a cut body is the rest we chose not to read
                self._finish(CallbackFailed(f"malformed HTTP answer: {exc}"))

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost then settles any request in flight

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and self._until_eof:
            self._message_done(keep_alive=False)  # a body delimited by the end of the connection
        elif self.reused and not self._received_any:
            waiter.set_exception(_StaleConnection())
        else:
            reason = f"{type(exc).__name__}: {exc}" if exc else "the connection closed before a whole answer"
            waiter.set_exception(CallbackFailed(reason))

    # -- httptools callbacks ---------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self._headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            return  # an interim answer (100 Continue): the real one follows
        self._headers_done = True
        self._until_eof = (
            status not in _NO_BODY_STATUSES
            and "content-length" not in self._headers
            and "chunked" not in self._headers.get("transfer-encoding", "").lower()
        )

    def on_body(self, chunk: bytes) -> None:
        if self.complete:
            return
        body = self._body
        body += chunk
        if len(body) > self._max_bytes:
            del body[self._max_bytes:]
            self.truncated = True
            self._message_done(keep_alive=False)  # the unread rest makes the connection unusable

    def on_message_complete(self) -> None:
        if not self._headers_done or self.complete:
            if not self._headers_done:
                self._headers = {}  # an interim answer's headers are not the answer's
            return
        self._message_done(keep_alive=self._parser.should_keep_alive())

    # -- requests --------------------------------------------------------------------------------

    def _message_done(self, *, keep_alive: bool) -> None:
        self.complete = True
        self.keep_alive = keep_alive and not self._until_eof
        self._finish(None)

    def _finish(self, error: Exception | None) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
        if error is not None or not self.keep_alive:
            self._close()

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def request(self, head: bytes, max_bytes: int) -> UserDetailResponse:
        assert self.transport is not None
        self._reset(max_bytes)
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(head)
        await self._waiter
        self._waiter = None
        status = self._parser.get_status_code()
        return UserDetailResponse(status=status, headers=self._headers, body=bytes(self._body), truncated=self.truncated)


class PooledUserDetailHttp:
    """``UserDetailHttp`` over pooled keep-alive connections for the life of the server.

    Connections belong to the event loop that opened them; a new loop (a restarted test server)
    starts a new pool and lets the old one go.
    """

    def __init__(self, *, max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN, ssl_context: ssl.SSLContext | None = None) -> None:
        self.max_idle_per_origin = max_idle_per_origin
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._origins: dict[str, _Origin] = {}

    def _origin(self, url: str) -> _Origin:
        origin = self._origins.get(url)
        if origin is None:
            origin = _Origin(url)
            if len(self._origins) >= _URL_CACHE_LIMIT:
                self._origins.clear()
            self._origins[url] = origin
        return origin

    def _idle_for_this_loop(self, loop: asyncio.AbstractEventLoop) -> dict[tuple[str, str, int], list[_Connection]]:
        if self._loop is not loop:
            _discard(self._idle)
            self._idle = {}
            self._loop = loop
        return self._idle

    async def _connect(self, origin: _Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if origin.tls:
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()  # made once: building one costs milliseconds
            context = self._ssl_context
        _, connection = await loop.create_connection(_Connection, origin.host, origin.port, ssl=context)
        return connection

    async def get(
        self, url: str, headers: Mapping[str, str], timeout: float, max_bytes: int
    ) -> UserDetailResponse:
        origin = self._origin(url)
        head = origin.request_line + _header_block(headers)
        loop = asyncio.get_running_loop()
        pool = self._idle_for_this_loop(loop).setdefault(origin.key, [])
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    while pool:
                        connection = pool.pop()
                        if not connection.closed:
                            break
                        connection = None
                    if connection is None:
                        connection = await self._connect(origin)
                    try:
                        response = await connection.request(head, max_bytes)
                    except _StaleConnection:
                        connection = None  # the server closed it while idle; a GET is safe to send again
                        continue
                    break
        except TimeoutError:
            raise CallbackTimedOut(f"no answer within {timeout:g} s") from None
        except CallbackFailed:
            raise
        except ssl.SSLError as exc:
            raise CallbackFailed(f"TLS: {exc.reason or exc}") from None
        except (OSError, ValueError, UnicodeError) as exc:  # refused, unresolvable, reset; odd host names
            raise CallbackFailed(f"{type(exc).__name__}: {exc or 'connection failed'}") from None
        finally:
            # Whatever did not end in a whole answer (timeout, cancellation, error) leaves the
            # connection in an unknown state: it is closed, never pooled.
            if connection is not None:
                if connection.complete and connection.keep_alive and not connection.closed:
                    connection.reused = True
                    if self._loop is loop and len(pool) < self.max_idle_per_origin:
                        pool.append(connection)
                    else:
                        connection._close()
                elif not connection.closed:
                    connection._close()
        return response

    async def aclose(self) -> None:
        idle, self._idle, self._loop = self._idle, {}, None
        _discard(idle)


def _header_block(headers: Mapping[str, str]) -> bytes:
    lines = []
    for name, value in headers.items():
        if any(c in name for c in "\r\n\0:") or any(c in value for c in "\r\n\0"):
            # The subject token comes from the request: it must not be able to add headers or requests.
            raise CallbackFailed(f"invalid header {name!r}: line breaks or NUL characters are not allowed")
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")


def _discard(idle: dict[Any, list[_Connection]]) -> None:
    """Close idle connections, perhaps from outside their own loop, which may be closed already.

    Abort rather than close: a graceful TLS close waits for loop turns (close_notify) that a loop
    about to end never gives, which would leave the socket open; idle connections owe nobody a goodbye.
    """
    for connections in idle.values():
        for connection in connections:
            connection.closed = True
            try:
                if connection.transport is not None:
                    connection.transport.abort()
            except RuntimeError:  # its loop is gone; the socket goes with the transport object
                pass
