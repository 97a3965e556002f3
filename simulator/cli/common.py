"""What every subcommand shares: the error a user can fix, exit statuses, settings from arguments."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from spotnana_sim.core.config_file import load_settings
from spotnana_sim.core.errors import DIALECTS
from spotnana_sim.core.overrides import CONFIG_VARIABLE, apply_overrides, environment_name, overrides_from_environment
from spotnana_sim.core.settings import IDENTITY_MODELS, Settings

EXIT_USAGE = 2


class CommandError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help=f"TOML configuration file (or {CONFIG_VARIABLE}); flags and SPOTNANA_SIM_* variables override it")
    parser.add_argument("--user-detail-url", metavar="URL",
                        help="the partner's user-detail API, for every client (default: the embedded reference API)")
    parser.add_argument("--user-detail-ca", metavar="FILE",
                        help="PEM bundle of the CA that signed the user-detail API's certificate, for every client")
    parser.add_argument("--user-detail-insecure", action="store_true",
                        help="do not verify the user-detail API's TLS certificate (the banner and every journal entry say so)")
    parser.add_argument("--identity", choices=IDENTITY_MODELS,
                        help="how every client's users are identified: user-detail (model A, the default) or jwt "
                             "(model B: a partner-signed RS256 JWT as subject_token)")
    parser.add_argument("--jwks-url", metavar="URL",
                        help="the partner's JWKS, for every client (implies --identity jwt); without it a jwt client "
                             "verifies against keys registered through the partner-public-keys API")
    parser.add_argument("--client", action="append", default=[], metavar="ID:SECRET", help="a client (repeatable)")
    parser.add_argument("--profile", action="append", default=[], metavar="EMAIL", help="a Spotnana profile email (repeatable)")
    parser.add_argument("--email-field", metavar="PATH", help="dotted path of the email in the user-detail answer (default user.email)")
    parser.add_argument("--errors", choices=DIALECTS, help="error dialect (default spotnana)")
    parser.add_argument("--issuer", metavar="URL",
                        help="the iss claim and discovery's issuer (default: the scheme, host and port each request arrived on)")


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """The config file, then SPOTNANA_SIM_* variables over it, then the flags over both."""
    environ = os.environ if environ is None else environ
    config = args.config or (Path(environ[CONFIG_VARIABLE]) if environ.get(CONFIG_VARIABLE) else None)
    settings = load_settings(config) if config else Settings()
    settings = apply_overrides(settings, name=environment_name, **overrides_from_environment(environ))
    return apply_overrides(
        settings,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        user_detail_url=args.user_detail_url,
        user_detail_ca=args.user_detail_ca,
        user_detail_insecure=args.user_detail_insecure,
        identity=args.identity,
        jwks_url=args.jwks_url,
        clients=args.client,
        profiles=args.profile,
        email_field=args.email_field,
        errors=args.errors,
        issuer=args.issuer,
        admin_token=getattr(args, "admin_token", None),
        admin_hosts=getattr(args, "admin_host", None) or (),
        forwarded_allow_ips=getattr(args, "forwarded_allow_ips", None),
        embed_origins=getattr(args, "embed_origin", None) or (),
        embed_port=getattr(args, "embed_port", None),
    )
