"""The user-detail call over aiohttp: the server's outbound HTTP client, chosen by measurement.

Same contract as :class:`simulator.identity.HttpxUserDetailHttp` (the ``UserDetailHttp`` protocol):

* one total timeout covers connecting, sending and reading the whole answer → ``CallbackTimedOut``;
* redirects are never followed: a 3xx comes back as it is, ``Location`` included;
* at most ``max_bytes`` of the (decoded) body are read; more sets ``truncated=True`` and the body is
  cut there (the rest is never read and the connection is dropped, not reused);
* anything that produced no HTTP answer (refused, reset, malformed answer, bad URL) → ``CallbackFailed``;
* header names come back lower-cased; repeated headers are joined with ``", "`` as httpx does.

Why aiohttp: ``make bench`` (docs/performance.md) measured the exchange's callback several times
faster than with ``httpx.AsyncClient``, whose pool bookkeeping dominated the profile under load.

One pooled keep-alive session serves the server's life. It is created lazily, inside the running
event loop (aiohttp sessions belong to one loop), and closed by :meth:`aclose`. Cookies are never
kept: a cookie set while answering one user's token must not travel with the next user's call.
"""

from __future__ import annotations

import asyncio
from typing import Iterable, Mapping

import aiohttp

from .identity import CallbackFailed, CallbackTimedOut, UserDetailResponse

MAX_CONNECTIONS = 256  # far above any realistic concurrency against one user-detail API


class AiohttpUserDetailHttp:
    """``UserDetailHttp`` over one pooled aiohttp session for the life of the server."""

    def __init__(self, *, max_connections: int = MAX_CONNECTIONS) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_for_this_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            # A session is bound to the loop that made it; a new loop (a restarted test server) gets a new one.
            if self._session is not None and self._loop is not loop:
                _discard(self._session)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),  # each call sets its own total timeout
                trust_env=False,  # no proxy from the environment: the URL configured is the URL called
            )
            self._loop = loop
        return self._session

    async def get(
        self, url: str, headers: Mapping[str, str], timeout: float, max_bytes: int
    ) -> UserDetailResponse:
        session = self._session_for_this_loop()
        try:
            async with asyncio.timeout(timeout):
                async with session.get(url, headers=dict(headers), allow_redirects=False) as response:
                    body = bytearray()
                    truncated = False
                    while chunk := await response.content.read(max_bytes + 1 - len(body)):
                        body += chunk
                        if len(body) > max_bytes:
                            truncated = True
                            del body[max_bytes:]
                            response.close()  # the unread rest makes the connection unusable for reuse
                            break
                    status = response.status
                    answer_headers = _lowered(response.headers.items())
        except TimeoutError:  # asyncio's, and aiohttp's own timeout errors, which subclass it
            raise CallbackTimedOut(f"no answer within {timeout:g} s") from None
        except (aiohttp.InvalidURL, ValueError) as exc:
            raise CallbackFailed(f"invalid URL: {exc}") from None
        except aiohttp.ClientError as exc:
            raise CallbackFailed(f"{type(exc).__name__}: {exc or 'connection failed'}") from None
        return UserDetailResponse(status=status, headers=answer_headers, body=bytes(body), truncated=truncated)

    async def aclose(self) -> None:
        session, loop = self._session, self._loop
        self._session = self._loop = None
        if session is None or session.closed:
            return
        if loop is asyncio.get_running_loop():
            await session.close()
        else:
            _discard(session)


def _discard(session: aiohttp.ClientSession) -> None:
    """Close a session from outside its own loop, which may be closed already.

    Its transports can only be closed by their loop; marking the connector closed is what is left to
    do, and it keeps aiohttp from warning about an unclosed session when the object is collected.
    """
    connector = session.connector
    if connector is None or connector.closed:
        return
    try:
        connector._close()  # the synchronous half of close(): no awaitable left behind un-awaited
    except (AttributeError, RuntimeError):  # another aiohttp version, or a loop that is already gone
        pass


def _lowered(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged
