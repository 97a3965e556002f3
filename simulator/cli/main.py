"""The ``spotnana-sim`` command line. ``main(argv)`` returns an exit status so tests call it directly.

Contract (other tools rely on it; extend, never break)::

    spotnana-sim serve [--host 127.0.0.1] [--port 8080] [--config FILE] [--user-detail-url URL]
                       [--client ID:SECRET]... [--profile EMAIL]... [--email-field PATH]
                       [--errors spotnana|rfc6749] [--issuer URL] [--admin-token T] [--admin-host NAME]...
                       [--user-detail-ca FILE] [--user-detail-insecure] [--forwarded-allow-ips IPS]
                       [--insecure-admin] [--log-level LEVEL]
    spotnana-sim demo [--config FILE]
    spotnana-sim reference [--host 127.0.0.1] [--port 8081]
    spotnana-sim check user-detail|client …
    spotnana-sim replay [PATH…] [--target URL];  spotnana-sim record --from URL --out FILE
    spotnana-sim --version
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from spotnana_sim.cli import check, demo, scenario_commands, serve
from spotnana_sim.cli.common import EXIT_USAGE, CommandError
from spotnana_sim.core.settings import ConfigError

DISTRIBUTION = "spotnana-simulator"


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


class VersionAction(argparse.Action):
    """--version, reading the installed version only when asked (importlib.metadata is slow to load)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog} {package_version()}")
        parser.exit()


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
    parser = argparse.ArgumentParser(
        prog="spotnana-sim",
        description="A simulator of Spotnana's OAuth 2.0 token exchange and the embedded-app integration around it.",
    )
    parser.add_argument("--version", action=VersionAction, help="print the version and exit")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in (serve, demo, check, scenario_commands):
        module.register(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
