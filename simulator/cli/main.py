"""The ``spotnana-sim`` command line. ``main(argv)`` returns an exit status so tests call it directly.

Contract (other tools rely on it; extend, never break)::

    spotnana-sim serve [--host 127.0.0.1] [--port 8080] [--config FILE] [--user-detail-url URL]
                       [--client ID:SECRET]... [--profile EMAIL]... [--email-field PATH]
                       [--errors spotnana|rfc6749] [--admin-token T] [--insecure-admin]
    spotnana-sim demo [--config FILE]
    spotnana-sim reference [--host 127.0.0.1] [--port 8081]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import ipaddress
import json
import logging
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ConfigError, Settings, apply_overrides, load_settings
from spotnana_sim.core.errors import DIALECTS
from spotnana_sim.core.protocol import ACCESS_TOKEN_TYPE, OPENID_SCOPE, TOKEN_ENDPOINT_PATH, TOKEN_EXCHANGE_GRANT

# Subcommands that live in their own modules; each exposes register(subparsers).
COMMAND_MODULES: tuple[str, ...] = ("spotnana_sim.cli.check", "spotnana_sim.cli.scenario_commands")

EXIT_USAGE = 2


class CommandError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except (ConfigError, CommandError) as exc:
        print(f"spotnana-sim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spotnana-sim", description="A simulator of Spotnana's OAuth 2.0 token exchange.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the simulator over HTTP")
    add_settings_arguments(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind; 0 picks a free one (default 8080)")
    serve.add_argument("--admin-token", help="require this bearer token on the admin API (/_sim/*)")
    serve.add_argument("--insecure-admin", action="store_true",
                       help="allow a non-loopback bind with an open admin API (not recommended)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=run_serve)

    demo = commands.add_parser("demo", help="one complete exchange in-process; prints the answer and the claims")
    add_settings_arguments(demo)
    demo.set_defaults(func=run_demo)

    reference = commands.add_parser("reference", help="run the reference user-detail API alone")
    reference.add_argument("--host", default="127.0.0.1")
    reference.add_argument("--port", type=int, default=8081)
    reference.set_defaults(func=run_reference)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--user-detail-url", help="the partner's user-detail API, for every client (default: the embedded reference API)")
    parser.add_argument("--client", action="append", default=[], metavar="ID:SECRET", help="a client (repeatable)")
    parser.add_argument("--profile", action="append", default=[], metavar="EMAIL", help="a Spotnana profile email (repeatable)")
    parser.add_argument("--email-field", metavar="PATH", help="dotted path of the email in the user-detail answer (default user.email)")
    parser.add_argument("--errors", choices=DIALECTS, help="error dialect (default spotnana)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config) if args.config else Settings()
    return apply_overrides(
        settings,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        user_detail_url=args.user_detail_url,
        clients=args.client,
        profiles=args.profile,
        email_field=args.email_field,
        errors=args.errors,
        admin_token=getattr(args, "admin_token", None),
    )


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from spotnana_sim.server.app import create_app
    from spotnana_sim.harness.simulator import build_simulator

    settings = settings_from_args(args)
    if not _is_loopback_host(settings.host) and not settings.admin_token and not args.insecure_admin:
        raise CommandError(
            f"refusing to bind {settings.host} with an open admin API: anyone who can reach it could arm faults "
            "and read the journal. Pass --admin-token TOKEN (or --insecure-admin if you really mean it)."
        )
    sock = _bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    base_url = f"http://{_url_host(settings.host)}:{port}"
    simulator = build_simulator(settings, base_url=base_url)
    app = create_app(simulator)
    _configure_logging(args.log_level)
    print(banner(simulator, base_url), flush=True)
    config = uvicorn.Config(app, log_level=args.log_level, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal to the handler that was
    # there before it; a no-op one makes a graceful stop exit 0, as process supervisors expect.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run(sockets=[sock])
    return 0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CommandError(f"cannot bind {host}:{port}: {exc.strerror or exc} (try --port 0 for a free port)") from None
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def banner(simulator: Any, base_url: str) -> str:
    """What `make run` prints: where to send requests, and a curl that succeeds as it stands."""
    from spotnana_sim.reference.user_detail import DEMO_SUBJECT_TOKEN

    settings: Settings = simulator.settings
    token_url = base_url + TOKEN_ENDPOINT_PATH
    lines = [
        f"spotnana-sim listening on {base_url}",
        f"  token endpoint  POST {token_url}",
        f"  JWKS            GET  {base_url}/.well-known/jwks.json",
        f"  health          GET  {base_url}/_sim/health",
    ]
    emails = simulator.profiles.emails()
    if emails is None:
        lines.append("  profiles        none configured: EVERY email from the user-detail API is accepted")
    else:
        lines.append(f"  profiles        {len(emails)} ({', '.join(emails[:3])}{', …' if len(emails) > 3 else ''})")
    demo = next((c for c in simulator.clients.all() if c.client_id == DEMO_CLIENT_ID), None)
    if demo is not None and demo.user_detail_url is None:
        lines += [
            f"  user-detail     embedded reference API at {simulator.embedded_user_detail_url}",
            f"  demo client     id {DEMO_CLIENT_ID}  secret {DEMO_CLIENT_SECRET}",
            f"  demo user       subject token {DEMO_SUBJECT_TOKEN}",
            "",
            "Try a token exchange:",
            curl_command(token_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SUBJECT_TOKEN),
        ]
    else:
        for client in settings.effective_clients():
            lines.append(f"  client          {client.client_id} -> {client.user_detail_url or 'embedded reference API'}")
    return "\n".join(lines)


def curl_command(token_url: str, client_id: str, client_secret: str, subject_token: str) -> str:
    fields = [
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("subject_token", subject_token),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("scope", OPENID_SCOPE),
    ]
    parts = [f"curl -sS -X POST {shlex.quote(token_url)}"]
    parts += [f"  --data-urlencode {shlex.quote(f'{k}={v}')}" for k, v in fields]
    return " \\\n".join(parts)


def run_demo(args: argparse.Namespace) -> int:
    return asyncio.run(_demo(settings_from_args(args), print))


async def _demo(settings: Settings, out: Callable[[str], None]) -> int:
    from spotnana_sim.reference.user_detail import DEMO_SUBJECT_TOKEN

    from spotnana_sim.server.inprocess import build_in_process

    sim = build_in_process(settings)
    client = next(iter(sim.simulator.clients.all()))
    try:
        async with sim.client() as http:
            response = await http.post(
                TOKEN_ENDPOINT_PATH,
                data={
                    "grant_type": TOKEN_EXCHANGE_GRANT,
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                    "subject_token": DEMO_SUBJECT_TOKEN,
                    "subject_token_type": ACCESS_TOKEN_TYPE,
                    "scope": OPENID_SCOPE,
                },
            )
    finally:
        await sim.aclose()
    body = response.json()
    out(f"POST {TOKEN_EXCHANGE_GRANT} as {client.client_id} for subject token {DEMO_SUBJECT_TOKEN}")
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
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))

    header, payload, _ = token.split(".")
    return part(header), part(payload)


def run_reference(args: argparse.Namespace) -> int:
    import uvicorn

    from spotnana_sim.reference.user_detail import DEMO_USERS, USER_DETAIL_PATH, create_user_detail_app

    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    print(f"reference user-detail API on http://{_url_host(args.host)}:{port}{USER_DETAIL_PATH}", flush=True)
    print(f"  demo tokens: {', '.join(DEMO_USERS)}", flush=True)
    uvicorn.Server(uvicorn.Config(create_user_detail_app(), log_level="warning", access_log=False)).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
