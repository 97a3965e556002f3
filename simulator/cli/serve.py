"""``spotnana-sim serve``: the simulator on a socket, and the banner that says where everything is."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal

from spotnana_sim.cli.common import CommandError, add_settings_arguments, settings_from_args
from spotnana_sim.core.hosts import is_loopback
from spotnana_sim.core.protocol import ACCESS_TOKEN_TYPE, OPENID_SCOPE, TOKEN_ENDPOINT_PATH, TOKEN_EXCHANGE_GRANT
from spotnana_sim.core.redaction import redact_url
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from spotnana_sim.harness.simulator import Simulator

LOG_LEVELS = ("debug", "info", "warning", "error")


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
    serve.add_argument("--log-level", default="info", choices=LOG_LEVELS, help="log level (default %(default)s)")
    serve.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from spotnana_sim.server.app import create_app
    from spotnana_sim.server.served import bind_socket, build_served_simulator, socket_url, uvicorn_config

    settings = settings_from_args(args)
    if not is_loopback(settings.host) and not settings.admin_token and not args.insecure_admin:
        raise CommandError(
            f"refusing to bind {settings.host} with an open admin API: anyone who can reach it could arm faults "
            "and read the journal. Pass --admin-token TOKEN or set SPOTNANA_SIM_ADMIN_TOKEN "
            "(or --insecure-admin if you really mean it)."
        )
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        raise CommandError(
            f"cannot bind {settings.host}:{settings.port}: {exc.strerror or exc} (try --port 0 for a free port)"
        ) from None
    base_url = socket_url(sock, settings.host)
    simulator = build_served_simulator(settings, base_url=base_url)
    app = create_app(simulator)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(banner(simulator, base_url), flush=True)
    server = uvicorn.Server(uvicorn_config(app, log_level=args.log_level, forwarded_allow_ips=settings.forwarded_allow_ips))
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal to the handler that was
    # there before it; a no-op one makes a graceful stop exit 0, as process supervisors expect.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run(sockets=[sock])
    return 0


def banner(simulator: Simulator, base_url: str) -> str:
    """What `make run` prints: where to send requests, and a curl that works as it stands."""
    from spotnana_sim.reference.demo_users import DEMO_SUBJECT_TOKEN

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
    lines.append("")
    if demo and first.user_detail_url is None:
        lines += ["Try a token exchange:", curl_command(token_url, first.client_id, DEMO_CLIENT_SECRET, DEMO_SUBJECT_TOKEN)]
    else:
        # A configured secret is never printed: the curl reads it, and the user's token, from variables.
        secret = DEMO_CLIENT_SECRET if demo else "$CLIENT_SECRET"
        token = DEMO_SUBJECT_TOKEN if first.user_detail_url is None else "$SUBJECT_TOKEN"
        needed = [name for name in ("CLIENT_SECRET", "SUBJECT_TOKEN") if "$" + name in (secret, token)]
        lines.append(f"Try a token exchange (set {' and '.join(needed)} first):")
        lines.append(curl_command(token_url, first.client_id, secret, token))
    return "\n".join(lines)


def curl_command(token_url: str, client_id: str, client_secret: str, subject_token: str) -> str:
    """A curl for one exchange; values written ``$NAME`` stay shell variables, expanded by the shell."""
    fields = [
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("subject_token", subject_token),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("scope", OPENID_SCOPE),
    ]
    parts = [f"curl -sS -X POST {shlex.quote(token_url)}"]
    for name, value in fields:
        pair = f"{name}={value}"
        quoted = f'"{pair}"' if value.startswith("$") else shlex.quote(pair)
        parts.append(f"  --data-urlencode {quoted}")
    return " \\\n".join(parts)
