"""The library floor: the least a well-kept library stack makes of a token exchange.

Starlette route, ``parse_qsl`` of the form, one pooled aiohttp GET to the same user-detail API the
simulator's exchange calls (``Authorization: Bearer <subject_token>``, ``Accept: application/json``,
no redirects, 5 s total timeout, at most 64 KiB read), ``json.loads`` of the answer, one RS256
signature, and a token-exchange answer. No client check, no validation beyond what the call needs,
no journal. The aiohttp session lives as long as the app (opened on startup, closed on shutdown) on
a ``TCPConnector(limit=100)``, as the simulator's own session does. Run alone::

    python -m bench.library_floor_app --port 0 --user-detail-url http://127.0.0.1:PORT/v1/user-detail

``--client`` picks one of :data:`CLIENTS`, the aiohttp configurations ``python -m bench.library_clients``
compares; the default is the fastest of them (see :data:`FASTEST`).
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import parse_qsl

import aiohttp
import jwt
import yarl
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN_PATH = "/v2/auth/oauth2-token"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
MAX_BODY_BYTES = 64 * 1024  # the simulator's read cap for a user-detail answer
TIMEOUT = aiohttp.ClientTimeout(total=5)  # one object for the app's life, not one per request
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class ClientConfig:
    """One way to set up aiohttp for the user-detail GET. Every one keeps one session for the app's life,
    a TCPConnector(limit=100), ClientTimeout(total=5) on the session, no redirects."""

    describe: str
    auto_decompress: bool = True  # False only with identity_encoding: a compressed answer would not parse
    identity_encoding: bool = False  # "Accept-Encoding: identity" on the session, in place of aiohttp's own
    dummy_cookie_jar: bool = False  # DummyCookieJar: no cookie filtering/storing per request
    skip_auto_headers: bool = False  # no Accept-Encoding / User-Agent added per request
    session_accept: bool = False  # Accept on the session's default headers, not in each request's dict
    url_object: bool = False  # the user-detail URL parsed once into a yarl.URL, not a str per request
    capped_read: bool = True  # response.content.read() up to the cap; False: response.read(), then the size check


CLIENTS: dict[str, ClientConfig] = {
    "default": ClientConfig("session defaults, capped read"),
    "no_decompress": ClientConfig("auto_decompress=False, Accept-Encoding: identity", auto_decompress=False,
                                  identity_encoding=True),
    "dummy_jar": ClientConfig("DummyCookieJar", dummy_cookie_jar=True),
    "skip_headers": ClientConfig("skip_auto_headers Accept-Encoding, User-Agent", skip_auto_headers=True),
    "session_accept": ClientConfig("Accept as a session header", session_accept=True),
    "url_object": ClientConfig("URL parsed once (yarl.URL)", url_object=True),
    "read_all": ClientConfig("response.read(), then the size check (no real cap)", capped_read=False),
    "lean": ClientConfig("no_decompress + dummy_jar + session_accept + url_object", auto_decompress=False,
                         identity_encoding=True, dummy_cookie_jar=True, session_accept=True, url_object=True),
    "url_jar": ClientConfig("url_object + dummy_jar", dummy_cookie_jar=True, url_object=True),
}
# `python -m bench.library_clients --only client --rounds 11` (aiohttp 3.14.5 with its C parser, uvloop, 2 cores,
# 16 GETs in flight, median client CPU per GET): default 77.8 us, url_object 77.6, no_decompress 79.1,
# dummy_jar 79.0, session_accept 79.1, read_all 79.3, lean 78.3, url_jar 79.2, skip_headers 84.3. An earlier
# 7-round run ranked them alike (url_object 72.7, default 74.5, skip_headers 80.4). So: aiohttp's own request and
# response machinery (~75-80 us a GET, against ~660 us for the whole library-floor request, RS256 the bulk) is the
# cost and no setting removes it; auto_decompress=False, the dummy cookie jar and session-level headers are
# within noise (+-2 %); skip_auto_headers is the one measurable loss (+8 %: it builds multidicts per request);
# content.read() up to the cap costs nothing over response.read(). Kept: the URL parsed once, fastest in both runs.
FASTEST = "url_object"


class UserDetailClient:
    """The pooled GET, set up once per :class:`ClientConfig`; ``session`` exists between start() and close()."""

    def __init__(self, url: str, config: ClientConfig) -> None:
        self.url: str | yarl.URL = yarl.URL(url) if config.url_object else url
        self.config = config
        self.session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        """Open the session; call it inside the running loop (the app's startup)."""
        config = self.config
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100),
            timeout=TIMEOUT,
            auto_decompress=config.auto_decompress,
            cookie_jar=aiohttp.DummyCookieJar() if config.dummy_cookie_jar else None,
            headers={**({"Accept": "application/json"} if config.session_accept else {}),
                     **({"Accept-Encoding": "identity"} if config.identity_encoding else {})},
            skip_auto_headers=("Accept-Encoding", "User-Agent") if config.skip_auto_headers else None,
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def fetch(self, subject_token: str) -> tuple[int, bytes]:
        """(status, body) of one GET; a body over the cap comes back cut to cap + 1 bytes."""
        assert self.session is not None
        headers = {"Authorization": f"Bearer {subject_token}"}
        if not self.config.session_accept:
            headers["Accept"] = "application/json"
        async with self.session.get(self.url, headers=headers, allow_redirects=False) as response:
            if not self.config.capped_read:
                return response.status, await response.read()
            body = b""
            while len(body) <= MAX_BODY_BYTES:
                chunk = await response.content.read(MAX_BODY_BYTES + 1 - len(body))
                if not chunk:
                    break
                body += chunk
            return response.status, body


def create_library_floor_app(user_detail_url: str, client: str = FASTEST) -> Starlette:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # parsed once, as the simulator does
    user_detail = UserDetailClient(user_detail_url, CLIENTS[client])

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        user_detail.start()
        try:
            yield
        finally:
            await user_detail.close()

    def failed(description: str) -> JSONResponse:
        return JSONResponse({"error": "invalid_grant", "error_description": description}, status_code=502,
                            headers=NO_STORE)

    async def token(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode("ascii"), keep_blank_values=True))
        try:
            status, body = await user_detail.fetch(form.get("subject_token", ""))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return failed(f"user-detail call failed: {type(exc).__name__}")
        if status != 200 or len(body) > MAX_BODY_BYTES:
            return failed(f"user-detail answered {status} with {len(body)} bytes")
        try:
            email = json.loads(body)["user"]["email"]
        except (ValueError, KeyError, TypeError):
            return failed("user-detail answer has no user.email")
        now = int(time.time())
        claims = {"iss": "library-floor", "sub": email, "email": email, "client_id": form.get("client_id", ""),
                  "scope": form.get("scope"), "iat": now, "exp": now + 3600, "jti": secrets.token_urlsafe(16)}
        access = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "library-floor"})
        return JSONResponse({"access_token": access, "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "Bearer",
                             "expires_in": 3600, "scope": form.get("scope")}, headers=NO_STORE)

    return Starlette(routes=[Route(TOKEN_PATH, token, methods=["POST"])], lifespan=lifespan)


def library_floor_command(user_detail_url: str, client: str = FASTEST) -> list[str]:
    """The command line that serves the library floor on a free port (it prints its URL first)."""
    return [sys.executable, "-m", "bench.library_floor_app", "--port", "0", "--user-detail-url", user_detail_url,
            "--client", client]


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.library_floor_app")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user-detail-url", required=True)
    parser.add_argument("--client", choices=sorted(CLIENTS), default=FASTEST, help=f"aiohttp set-up (default {FASTEST})")
    args = parser.parse_args(argv)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(512)
    print(f"library floor ({args.client}) listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    # The same uvicorn settings as `spotnana-sim serve` (auto loop and parser: uvloop/httptools when installed).
    app = create_library_floor_app(args.user_detail_url, args.client)
    uvicorn.Server(uvicorn.Config(app, log_level="info", access_log=False)).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
