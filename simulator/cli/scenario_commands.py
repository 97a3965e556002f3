"""``spotnana-sim replay`` and ``spotnana-sim record``: the scenario commands.

    spotnana-sim replay [PATH ...] [--target URL] [--junit FILE] [--config FILE]
                        [--client-id ID] [--client-secret S] [--subject-token T]
                        [--admin-token T] [--include-modeled]
    spotnana-sim record --from URL --out FILE [--name NAME] [--admin-token T] [--client-id ID] [--force]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from spotnana_sim.cli.common import CommandError
from spotnana_sim.core.config_file import load_settings
from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH
from spotnana_sim.core.settings import Settings

# The scenario engine (jsonschema, yaml: ~140 ms) is imported when a scenario command runs, not when
# the parser is built, so `spotnana-sim serve` does not pay for it at start-up.


def register(commands: Any) -> None:
    replay = commands.add_parser(
        "replay", help="run scenario files (all shipped ones by default) and report each",
        description="Run scenarios in-process (a fresh simulator each) or against a running server (--target).",
    )
    replay.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="scenario files or folders (default: the shipped library)")
    replay.add_argument("--target", metavar="URL", help="a running simulator or Spotnana itself, e.g. http://127.0.0.1:8080")
    replay.add_argument("--junit", type=Path, metavar="FILE", help="also write a JUnit XML report here")
    replay.add_argument("--config", type=Path, help="TOML settings the in-process simulator starts from")
    replay.add_argument("--client-id", help="fills ${client_id} (default: the simulator's first client, demo-client)")
    replay.add_argument("--client-secret", help="fills ${client_secret}")
    replay.add_argument("--subject-token", action="append", default=[], metavar="TOKEN",
                        help="fills ${subject_token}; given again, ${subject_token_2}, ${subject_token_3}… in order "
                             "(default: the embedded demo users' tokens)")
    replay.add_argument("--admin-token", help="bearer token for the target's admin API (/_sim/*)")
    replay.add_argument("--include-modeled", action="store_true",
                        help="against a target without the admin API, also run scenarios whose outcome is modeled")
    replay.set_defaults(func=run_replay)

    record = commands.add_parser(
        "record", help="turn a simulator's journal into a scenario file",
        description="Read GET /_sim/journal of a running simulator and write a scenario that replays the same requests.",
    )
    record.add_argument("--from", dest="source", required=True, metavar="URL", help="the simulator, e.g. http://127.0.0.1:8080")
    record.add_argument("--out", required=True, type=Path, metavar="FILE", help="the scenario file to write (.yaml)")
    record.add_argument("--name", help="the scenario's name (default: from the file name)")
    record.add_argument("--client-id", help="the client id that ${client_id} stands for (default: the most frequent one)")
    record.add_argument("--admin-token", help="bearer token for the simulator's admin API")
    record.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    record.set_defaults(func=run_record)


def run_replay(args: argparse.Namespace) -> int:
    from spotnana_sim.scenarios.replay import (
        Credentials,
        InProcessRunner,
        TargetRunner,
        TargetUnreachable,
        broken_results,
        exit_status,
        format_table,
        replay,
        write_junit,
    )

    paths = list(args.paths) or [_shipped()]
    for path in paths:
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder")
    from spotnana_sim.scenarios.loader import load_scenarios

    scenarios, broken = load_scenarios(paths)
    if not scenarios and not broken:
        raise CommandError(f"no scenario files (*.yaml) in {', '.join(map(str, paths))}")
    first, *more = args.subject_token or [None]
    credentials = Credentials(args.client_id, args.client_secret, first, tuple(more))
    runner: Any
    if args.target:
        if args.config:
            raise CommandError("--config applies to in-process runs; the target has its own configuration")
        runner = TargetRunner(_base_url(args.target), credentials, admin_token=args.admin_token,
                              include_modeled=args.include_modeled)
        try:
            asyncio.run(runner.connect())  # once, so an unreachable target is one error, not one per scenario
        except TargetUnreachable as exc:
            raise CommandError(f"--target: {exc}") from None
    else:
        base = load_settings(args.config) if args.config else Settings()
        runner = InProcessRunner(base, credentials)
    results = broken_results(broken) + replay(scenarios, runner)
    print(format_table(results))
    if args.junit:
        write_junit(results, args.junit)
    return exit_status(results)


def run_record(args: argparse.Namespace) -> int:
    from spotnana_sim.scenarios.record import RecordError, record

    if args.out.exists() and not args.force:
        raise CommandError(f"{args.out} exists; pass --force to overwrite it")
    name = args.name or args.out.stem.replace(" ", "_").lower()
    try:
        text, steps = asyncio.run(record(args.source, name=name, client_id=args.client_id, admin_token=args.admin_token))
    except RecordError as exc:
        raise CommandError(str(exc)) from None
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {steps} step{'s' if steps != 1 else ''}; replay it with: spotnana-sim replay {args.out}", file=sys.stderr)
    return 0


def _base_url(target: str) -> str:
    """The server's base URL: replay adds the token path (and /_sim/... for control) itself."""
    from spotnana_sim.core.redaction import redact_url

    parts = urlsplit(target)
    shown = redact_url(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(f"--target: expected the server's base URL, e.g. http://127.0.0.1:8080, got {shown!r}")
    path = parts.path.rstrip("/")
    for suffix in (TOKEN_ENDPOINT_PATH, "/_sim"):
        if suffix in path:
            base = urlunsplit((parts.scheme, parts.netloc, path[:path.index(suffix)], "", ""))
            raise CommandError(
                f"--target: give the server's base URL, not {'the token endpoint' if suffix == TOKEN_ENDPOINT_PATH else 'an admin path'}: "
                f"--target {redact_url(base)} (replay sends each request to {TOKEN_ENDPOINT_PATH} itself)"
            )
    return target


def _shipped() -> Path:
    try:
        from spotnana_sim.scenarios.loader import shipped_scenarios_dir

        return shipped_scenarios_dir()
    except FileNotFoundError as exc:
        raise CommandError(f"{exc}; pass scenario files or folders") from None
