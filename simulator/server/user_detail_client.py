"""The served simulator's outbound HTTP client for the partner's user-detail API, on aiohttp.

It keeps the contract of :class:`spotnana_sim.core.user_detail.UserDetailHttp`:

* one deadline (``ClientTimeout(total=…)``) covers connecting, sending, the headers and the whole body;
* redirects are never followed: a 3xx comes back as it is, ``Location`` included;
* at most ``max_bytes`` of the body are read; more sets ``truncated=True`` and the connection is
  closed rather than pooled (the unread rest would poison it);
* no answer at all (refused, unresolvable, TLS refused, closed before a byte) → ``CallbackFailed``;
  an answer that is not valid HTTP (bad status line, too many or too long headers, a body cut short,
  framing that does not add up) → ``CallbackMalformed``; both fail only the exchange they belong to;
* header names come back lower-cased, repeated ones joined with ``", "``.

One ``ClientSession`` per running simulator, opened on start-up, closed on shutdown. No cookies are
kept (one user's ``Set-Cookie`` must never ride along on the next user's call), no proxy is taken
from the environment, and nothing is decompressed: the URL configured is the URL called, and the
bytes counted against the cap are the bytes that arrived.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import yarl

from spotnana_sim.core.user_detail import CallbackFailed, CallbackMalformed, CallbackTimedOut, UserDetailResponse

DEFAULT_CONNECTION_LIMIT = 100
# aiohttp's own defaults, named here because they are part of what the security page promises.
MAX_HEADERS = 128
MAX_HEADER_LINE_BYTES = 8190

_READ_CHUNK = 16 * 1024
_CACHE_LIMIT = 1024  # distinct URLs or timeouts kept; one per configured client in practice


class UserDetailClient:
    """``UserDetailHttp`` over one pooled aiohttp session for the life of the server.

    A session belongs to the event loop that opened it; a call from another loop (a test server
    restarted in a new thread) opens a new session and lets the old one go.
    """

    def __init__(
        self, *, connection_limit: int = DEFAULT_CONNECTION_LIMIT, verify_tls: bool = True,
    ) -> None:
        self.connection_limit = connection_limit
        self.verify_tls = verify_tls
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tls_contexts: dict[str | None, ssl.SSLContext] = {}
        # Parsed once per configured URL and per timeout value: building them per call showed in profiles.
        self._urls: dict[str, yarl.URL] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def start(self) -> None:
        await self._current_session()

    async def aclose(self) -> None:
        session, loop, self._session, self._loop = self._session, self._loop, None, None
        if session is not None:
            await _let_go(session, loop)

    async def _current_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and (self._loop is not loop or self._session.closed):
            await self.aclose()
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.connection_limit, enable_cleanup_closed=False)
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
                raise_for_status=False,
                max_headers=MAX_HEADERS,
                max_line_size=MAX_HEADER_LINE_BYTES,
                max_field_size=MAX_HEADER_LINE_BYTES,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
            self._loop = loop
        return self._session

    def _url(self, url: str) -> yarl.URL:
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) > _CACHE_LIMIT:
                self._urls.clear()
            parsed = self._urls[url] = yarl.URL(url)
        return parsed

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            if len(self._timeouts) > _CACHE_LIMIT:
                self._timeouts.clear()
            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return timeout

    def _tls(self, ca_file: str | None) -> ssl.SSLContext | bool:
        if not self.verify_tls:
            return False
        context = self._tls_contexts.get(ca_file)
        if context is None:
            # Built once per CA file: loading certificates costs milliseconds per call otherwise.
            context = ssl.create_default_context(cafile=str(Path(ca_file)) if ca_file else None)
            self._tls_contexts[ca_file] = context
        return context

    async def get(
        self, url: str, headers: Mapping[str, str], timeout: float, max_bytes: int, *, ca_file: str | None = None,
    ) -> UserDetailResponse:
        for name, value in headers.items():
            if any(c in name for c in "\r\n\0:") or any(c in value for c in "\r\n\0"):
                # The subject token comes from the request: it must not be able to add headers.
                raise CallbackFailed(f"invalid header {name!r}: line breaks or NUL characters are not allowed")
        session = await self._current_session()
        try:
            tls = self._tls(ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise CallbackFailed(f"TLS: cannot load the CA file {ca_file}: {exc}") from None
        try:
            async with session.get(
                self._url(url), headers=headers, allow_redirects=False, ssl=tls, timeout=self._timeout(timeout),
            ) as response:
                body, truncated = await _read_capped(response, max_bytes)
                if truncated:
                    response.close()  # the rest is unread: the connection cannot be reused
                answer = UserDetailResponse(
                    status=response.status, headers=_joined(response.headers), body=body, truncated=truncated,
                )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise CallbackTimedOut(f"no answer within {timeout:g} s") from None
        except aiohttp.ClientConnectorCertificateError as exc:
            raise CallbackFailed(f"TLS: the certificate was not accepted ({exc.certificate_error})") from None
        except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
            raise CallbackFailed(f"TLS: {exc}") from None
        except aiohttp.ServerDisconnectedError:
            raise CallbackFailed("the connection closed before an answer") from None
        except (aiohttp.ClientResponseError, aiohttp.ClientPayloadError) as exc:
            raise CallbackMalformed(f"not a valid HTTP answer: {_reason(exc)}") from None
        except aiohttp.InvalidURL as exc:
            raise CallbackFailed(f"invalid URL: {exc}") from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:  # refused, unresolvable, reset
            raise CallbackFailed(f"{type(exc).__name__}: {exc or 'connection failed'}") from None
        return answer


async def _let_go(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop | None) -> None:
    """Close a session, perhaps from another loop than its own, which may have ended already."""
    if session.closed:
        return
    if loop is None or loop is asyncio.get_running_loop() or loop.is_closed():
        # An ended loop took its sockets with it: closing then only marks the session closed.
        await session.close()
    else:  # still running in another thread: close it there, without waiting here
        asyncio.run_coroutine_threadsafe(session.close(), loop)


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> tuple[bytes, bool]:
    body = bytearray()
    while True:
        chunk = await response.content.read(_READ_CHUNK)
        if not chunk:
            return bytes(body), False
        body += chunk
        if len(body) > max_bytes:
            return bytes(body[:max_bytes]), True


def _joined(headers: Mapping[str, str]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return joined


def _reason(exc: aiohttp.ClientError) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message).splitlines()[0][:200] if message else type(exc).__name__
