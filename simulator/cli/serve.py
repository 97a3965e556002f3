"""``spotnana-sim serve``: the simulator on a socket, and the banner that says where everything is."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from spotnana_sim.cli.common import CommandError, add_settings_arguments, settings_from_args
from spotnana_sim.core.hosts import is_loopback
from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    OPENID_SCOPE,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.redaction import redact_url
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, USER_DETAIL_IDENTITY, ClientConfig, Settings
from spotnana_sim.harness.simulator import Simulator

if TYPE_CHECKING:
    from spotnana_sim.server.served import AppServer

LOG_LEVELS = ("debug", "info", "warning", "error")
PARTNER_APP_PORT = 3000  # the reference partner app's origin, http://localhost:3000, is allowed by default [doc]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the simulator over HTTP",
                                description="Run the simulator over HTTP until stopped (Ctrl-C or SIGTERM).")
    add_settings_arguments(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind; 0 picks a free one (default 8080)")
    serve.add_argument("--admin-token", help="require this bearer token on the admin API (/_sim/*), from anywhere")
    serve.add_argument("--admin-host", action="append", default=[], metavar="NAME",
                       help="a Host name the admin API answers besides loopback ones (repeatable)")
    serve.add_argument("--forwarded-allow-ips", metavar="IPS",
                       help="believe X-Forwarded-For and friends from these proxy addresses (comma-separated); off by default")
    serve.add_argument("--insecure-admin", action="store_true",
                       help="allow a non-loopback bind with an open admin API (not recommended)")
    serve.add_argument("--log-level", default="info", choices=LOG_LEVELS,
                       help="how much the server writes to stderr: %(choices)s (default %(default)s)")
    serve.add_argument("--embed-origin", action="append", default=[], metavar="ORIGIN",
                       help="also accept the embedded app's TOKEN_EXCHANGE_RESPONSE from this origin "
                            "(repeatable; http://localhost:3000 is allowed by default)")
    serve.add_argument("--embed-port", type=int, metavar="PORT",
                       help="serve the simulator on this port as well: a separate origin for the embedded app "
                            "(/embed/…), as production has; 0 picks a free one")
    serve.add_argument("--with-partner-app", action="store_true",
                       help="also run the reference partner web app (login, token exchange, iframe signed in)")
    serve.add_argument("--partner-app-port", type=int, default=PARTNER_APP_PORT, metavar="PORT",
                       help="port of --with-partner-app (default %(default)s, whose origin is allowed by default)")
    serve.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from spotnana_sim.scenarios.live import LiveScenarioRunner
    from spotnana_sim.server.app import create_app
    from spotnana_sim.server.served import build_served_simulator, socket_url, uvicorn_config

    settings = settings_from_args(args)
    if not is_loopback(settings.host) and not settings.admin_token and not args.insecure_admin:
        raise CommandError(
            f"refusing to bind {settings.host} with an open admin API: anyone who can reach it could arm faults "
            "and read the journal. Pass --admin-token TOKEN or set SPOTNANA_SIM_ADMIN_TOKEN "
            "(or --insecure-admin if you really mean it)."
        )
    if settings.embed.port and settings.embed.port == settings.port:
        raise CommandError(f"--embed-port {settings.embed.port} is the simulator's --port: give another port (or 0)")
    partner_client = _partner_app_client(settings) if args.with_partner_app else None
    sockets: list[socket.socket] = []
    try:
        sock = _bind(settings.host, settings.port, "--port", sockets)
        base_url = embed_url = socket_url(sock, settings.host)
        if settings.embed.port is not None:  # the same app on a second socket: another origin for /embed/
            embed_url = socket_url(_bind(settings.host, settings.embed.port, "--embed-port", sockets), settings.host)
        partner_sock = _bind(settings.host, args.partner_app_port, "--partner-app-port", sockets) if partner_client else None
    except CommandError:
        for bound in sockets:
            bound.close()
        raise
    partner_url = None
    if partner_sock is not None:
        partner_url = f"http://localhost:{partner_sock.getsockname()[1]}"  # what the banner tells the user to open
        settings = replace(settings, embed=replace(settings.embed,
                                                   allowed_origins=(*settings.embed.allowed_origins, partner_url)))
    simulator = build_served_simulator(settings, base_url=base_url)
    app = create_app(simulator, scenario_runner=LiveScenarioRunner(simulator, base_url))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    partner = None
    if partner_sock is not None and partner_client is not None:
        partner = _start_partner_app(partner_client, base_url, embed_url, partner_sock)
    print(banner(simulator, base_url, embed_url=embed_url, partner_url=partner_url), flush=True)
    server = uvicorn.Server(uvicorn_config(app, log_level=args.log_level, forwarded_allow_ips=settings.forwarded_allow_ips))
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal to the handler that was
    # there before it; a no-op one makes a graceful stop exit 0, as process supervisors expect.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run(sockets=[bound for bound in sockets if bound is not partner_sock])
    finally:
        if partner is not None:  # one Ctrl-C (or SIGTERM) stops both
            partner[0].stop()
            partner[1]()
    return 0


def _bind(host: str, port: int, flag: str, bound: list[socket.socket]) -> socket.socket:
    from spotnana_sim.server.served import bind_socket

    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise CommandError(f"cannot bind {host}:{port} ({flag}): {exc.strerror or exc} (try {flag} 0 for a free port)") from None
    bound.append(sock)
    return sock


def _partner_app_client(settings: Settings) -> ClientConfig:
    """The client the reference partner app exchanges with: one whose users the embedded reference API knows."""
    for client in settings.effective_clients():
        if client.user_detail_url is None and client.identity == USER_DETAIL_IDENTITY:
            return client
    raise CommandError("--with-partner-app signs in the demo users, whom only the embedded reference user-detail API "
                       "knows: configure a client without user_detail_url (the demo client is one)")


def _start_partner_app(client: ClientConfig, base_url: str, embed_url: str,
                       sock: socket.socket) -> tuple[AppServer, Callable[[], None]]:
    """The reference partner web app on ``sock``, in a thread; the secret stays in this process."""
    from spotnana_sim.reference.client import SpotnanaTokenClient
    from spotnana_sim.reference.partner_app import PartnerAppConfig, create_partner_app
    from spotnana_sim.server.served import AppServer

    config = PartnerAppConfig(token_url=base_url + TOKEN_ENDPOINT_PATH, client_id=client.client_id,
                              client_secret=client.client_secret, embed_base_url=embed_url, org_id=client.org_id)
    token_client = SpotnanaTokenClient(config.token_url, config.client_id, config.client_secret)
    server = AppServer(create_partner_app(config, token_client=token_client), sock=sock)
    try:
        server.start()
    except RuntimeError:
        token_client.close()
        raise CommandError("the reference partner app did not start; see the log above") from None
    return server, token_client.close


def banner(simulator: Simulator, base_url: str, *, embed_url: str | None = None, partner_url: str | None = None) -> str:
    """What `make run` prints: where to send requests, a curl that works as it stands, and where to
    watch the embedded flow in a browser (``partner_url``, the reference partner app)."""
    from spotnana_sim.core.embed import TOKEN_EXCHANGE_AUTH_IDP

    settings = simulator.settings
    token_url = base_url + TOKEN_ENDPOINT_PATH
    lines = [
        f"spotnana-sim listening on {base_url}",
        f"  token endpoint  POST {token_url}",
        f"  JWKS            GET  {base_url}/.well-known/jwks.json",
        f"  health          GET  {base_url}/_sim/health",
    ]
    if not settings.user_detail.verify_tls:
        lines.append("  WARNING         TLS certificates of user-detail APIs are NOT verified (--user-detail-insecure)")
    emails = simulator.profiles.emails()
    if emails is None:
        lines.append("  profiles        none configured: EVERY email from the user-detail API is accepted")
    else:
        lines.append(f"  profiles        {len(emails)} ({', '.join(emails[:3])}{', …' if len(emails) > 3 else ''})")
    clients = simulator.clients.all()
    for client in clients:
        where = redact_url(client.user_detail_url) if client.user_detail_url else "embedded reference API"
        lines.append(f"  client          {client.client_id} -> {where}")
    if settings.uses_embedded_user_detail():
        lines.append(f"  user-detail     embedded reference API at {simulator.embedded_user_detail_url}")
    first = clients[0]
    demo = first.client_id == DEMO_CLIENT_ID and first.client_secret == DEMO_CLIENT_SECRET
    if demo:
        lines.append(f"  demo client     id {DEMO_CLIENT_ID}  secret {DEMO_CLIENT_SECRET}")
    embed_query = urlencode({"idp": TOKEN_EXCHANGE_AUTH_IDP, "orgId": first.org_id})
    lines.append(f"  embedded app    GET  {embed_url or base_url}/embed/?{embed_query}")
    lines.append(f"  embed origins   {', '.join(settings.embed.allowed_origins)} (answers from others are ignored)")
    lines.append(f"  dashboard            {base_url}/_sim/ui")
    lines.append("")
    lines += try_request_lines(simulator, token_url)
    if partner_url:
        lines += ["", f"partner app: open {partner_url} to watch the whole flow (login, exchange, iframe signed in)"]
    return "\n".join(lines)


def try_request_lines(simulator: Simulator, token_url: str) -> list[str]:
    """A heading and a curl that works as printed once the shell variables it names are set.

    The client is the first that may exchange tokens (else the first, with client_credentials). A
    configured secret is never printed: the curl reads it from $CLIENT_SECRET. The subject token is a
    demo user's of the embedded reference API who has a profile, when that API serves the client;
    otherwise the user's token comes from $SUBJECT_TOKEN.
    """
    from spotnana_sim.reference.demo_users import DEMO_USERS

    clients = simulator.clients.all()
    client = next((c for c in clients if TOKEN_EXCHANGE_GRANT in c.grants), clients[0])
    demo = client.client_id == DEMO_CLIENT_ID and client.client_secret == DEMO_CLIENT_SECRET
    secret = DEMO_CLIENT_SECRET if demo else "$CLIENT_SECRET"
    token: str | None = None
    what = "a client_credentials request"
    if TOKEN_EXCHANGE_GRANT in client.grants:
        what = "a token exchange"
        token = "$SUBJECT_TOKEN"
        if client.identity == USER_DETAIL_IDENTITY and client.user_detail_url is None:
            token = next((t for t, email in DEMO_USERS.items() if simulator.profiles.find(email) is not None), token)
    needed = [name for name in ("CLIENT_SECRET", "SUBJECT_TOKEN") if "$" + name in (secret, token)]
    heading = f"Try {what}" + (f" (set {' and '.join(needed)} first):" if needed else ":")
    return [heading, curl_command(token_url, client.client_id, secret, token)]


def curl_command(token_url: str, client_id: str, client_secret: str, subject_token: str | None = None) -> str:
    """A curl for one exchange (client_credentials without a subject token); values written ``$NAME``
    stay shell variables, expanded by the shell."""
    fields = [
        ("grant_type", TOKEN_EXCHANGE_GRANT if subject_token is not None else CLIENT_CREDENTIALS_GRANT),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ]
    if subject_token is not None:
        fields += [("subject_token", subject_token), ("subject_token_type", ACCESS_TOKEN_TYPE), ("scope", OPENID_SCOPE)]
    parts = [f"curl -sS -X POST {shlex.quote(token_url)}"]
    for name, value in fields:
        pair = f"{name}={value}"
        quoted = f'"{pair}"' if value.startswith("$") else shlex.quote(pair)
        parts.append(f"  --data-urlencode {quoted}")
    return " \\\n".join(parts)
