"""``spotnana-sim demo`` (one exchange in-process) and ``spotnana-sim reference`` (the partner's API alone)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

from spotnana_sim.cli.common import CommandError, add_settings_arguments, settings_from_args
from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    OPENID_SCOPE,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.settings import JWT_IDENTITY, Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="one complete exchange in-process; prints the answer and the claims",
        description="Run one token exchange against an in-process simulator (no socket) and print the "
                    "answer and the access token's decoded header and claims.",
    )
    add_settings_arguments(demo)
    demo.set_defaults(func=run_demo)

    reference = commands.add_parser(
        "reference", help="run the reference user-detail API alone",
        description="Serve the reference partner user-detail API (the one the simulator embeds) on its own port.",
    )
    reference.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    reference.add_argument("--port", type=int, default=8081, help="port to bind; 0 picks a free one (default %(default)s)")
    reference.set_defaults(func=run_reference)


def run_demo(args: argparse.Namespace) -> int:
    return asyncio.run(_demo(settings_from_args(args), print))


async def _demo(settings: Settings, out: Callable[[str], None]) -> int:
    from spotnana_sim.reference.demo_users import DEMO_SUBJECT_TOKEN
    from spotnana_sim.server.inprocess import build_in_process

    sim = build_in_process(settings)
    client = next(iter(sim.simulator.clients.all()))
    subject_token, token_type = DEMO_SUBJECT_TOKEN, ACCESS_TOKEN_TYPE
    if client.identity == JWT_IDENTITY:
        # Model B: the reference partner identity provider signs the subject token; without a JWKS URL
        # its key is registered for the client's company, as the partner-public-keys API would.
        from spotnana_sim.reference.partner_idp import PartnerIdentityProvider

        idp = PartnerIdentityProvider(clock=sim.simulator.clock.now)
        if not client.jwks_url:
            sim.simulator.partner_keys.register(client.org_id, {"keyType": "JWKS", "jwks": idp.jwks()})
        subject_token, token_type = idp.sign_for("ada"), JWT_TOKEN_TYPE
    try:
        async with sim.client() as http:
            response = await http.post(
                TOKEN_ENDPOINT_PATH,
                data={
                    "grant_type": TOKEN_EXCHANGE_GRANT,
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                    "subject_token": subject_token,
                    "subject_token_type": token_type,
                    "scope": OPENID_SCOPE,
                },
            )
    finally:
        await sim.aclose()
    body = response.json()
    shown = _shorten_token("subject_token", subject_token)
    out(f"POST {TOKEN_EXCHANGE_GRANT} as {client.client_id} (identity {client.identity}) for subject token {shown}")
    out(f"-> {response.status_code}")
    out(json.dumps({k: _shorten_token(k, v) for k, v in body.items()}, indent=2, ensure_ascii=False))
    if response.status_code != 200:
        return 1
    header, claims = _decode_unverified(body["access_token"])
    out("access token header:")
    out(json.dumps(header, indent=2))
    out("access token claims:")
    out(json.dumps(claims, indent=2))
    return 0


def _shorten_token(name: str, value: Any) -> Any:
    if name.endswith("_token") and isinstance(value, str) and len(value) > 40:
        return f"{value[:24]}…({len(value)} chars)"
    return value


def _decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(segment: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        return decoded

    header, payload, _ = token.split(".")
    return part(header), part(payload)


def run_reference(args: argparse.Namespace) -> int:
    import uvicorn

    from spotnana_sim.reference.user_detail import DEMO_USERS, USER_DETAIL_PATH, create_user_detail_app
    from spotnana_sim.server.served import bind_socket, socket_url, uvicorn_config

    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        raise CommandError(f"cannot bind {args.host}:{args.port}: {exc.strerror or exc} (try --port 0)") from None
    print(f"reference user-detail API on {socket_url(sock, args.host)}{USER_DETAIL_PATH}", flush=True)
    print(f"  demo tokens: {', '.join(DEMO_USERS)}", flush=True)
    uvicorn.Server(uvicorn_config(create_user_detail_app())).run(sockets=[sock])
    return 0
