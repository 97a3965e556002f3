"""The floor: the least any token endpoint must do. Bare Starlette, parse the form, sign one RS256 JWT.

It answers every POST the way a ``client_credentials`` grant would, with no validation, no callback
and no journal, under the same uvicorn settings as ``spotnana-sim serve``. Whatever the simulator
costs beyond this is its own overhead. Run alone::

    python -m bench.floor_app --port 0     # prints "floor listening on http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import time
from collections.abc import Sequence
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN_PATH = "/v2/auth/oauth2-token"


def create_floor_app() -> Starlette:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # parsed once, as the simulator does

    async def token(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode("ascii"), keep_blank_values=True))
        now = int(time.time())
        claims = {"iss": "floor", "sub": form.get("client_id", ""), "iat": now, "exp": now + 3600,
                  "jti": secrets.token_urlsafe(16)}
        access = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "floor"})
        return JSONResponse({"access_token": access, "expires_in": 3600, "token_type": "Bearer"},
                            headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    return Starlette(routes=[Route(TOKEN_PATH, token, methods=["POST"])])


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.floor_app")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(512)
    print(f"floor listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    # The same uvicorn settings as `spotnana-sim serve` (auto loop and parser: uvloop/httptools when installed).
    uvicorn.Server(uvicorn.Config(create_floor_app(), log_level="info", access_log=False)).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
