"""``spotnana-sim check user-detail`` and ``spotnana-sim check client``: the conformance kit's commands.

Both print a table (or ``--json``), can write ``--junit FILE``, and exit 1 when any check fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from spotnana_sim.cli.common import CommandError
from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH
from spotnana_sim.core.redaction import redact_url
from spotnana_sim.core.settings import DEFAULT_EMAIL_FIELD, DEFAULT_TIMEOUT
from spotnana_sim.kit.client_grader import (
    GraderPolicy,
    JournalFormatError,
    grade_journal,
    journal_entries,
    load_journal,
)
from spotnana_sim.kit.report import Report

# httpx and the user-detail checks are imported when a check runs, so `spotnana-sim serve` (which
# builds this parser too) does not pay for them at start-up.

JOURNAL_PATH = "/_sim/journal"


def register(subparsers: Any) -> None:
    check = subparsers.add_parser("check", help="conformance checks for integrators (user-detail API, token client)")
    kinds = check.add_subparsers(title="what to check", metavar="KIND")

    user_detail = kinds.add_parser("user-detail", help="probe a user-detail API the way Spotnana calls it")
    user_detail.add_argument("--url", required=True, help="the user-detail URL, as you would give it to Spotnana")
    user_detail.add_argument("--token", required=True, help="a valid subject token of a test user")
    user_detail.add_argument("--expect-email", required=True, metavar="EMAIL", help="that user's email")
    user_detail.add_argument("--email-field", default=DEFAULT_EMAIL_FIELD, metavar="PATH",
                             help=f"dotted path of the email in the answer (default {DEFAULT_EMAIL_FIELD})")
    user_detail.add_argument("--expired-token", help="an expired token of the same user, to check it is refused")
    user_detail.add_argument("--header", action="append", default=[], metavar="K:V",
                             help="an extra header on every probe, e.g. an API gateway key (repeatable)")
    user_detail.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                             help=f"the callback timeout to judge against (default {DEFAULT_TIMEOUT:g}, the simulator's)")
    _add_output_arguments(user_detail)
    user_detail.set_defaults(func=run_check_user_detail)

    client = kinds.add_parser("client", help="grade a token-exchange client from a simulator's journal")
    source = client.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="from_url", metavar="URL", help="a running simulator's base URL")
    source.add_argument("journal", nargs="?", type=Path, help="a saved journal (JSON of GET /_sim/journal, or JSON lines)")
    client.add_argument("--admin-token", help="the simulator's admin token, if it was started with one")
    client.add_argument("--client-id", help="grade only this client's requests")
    client.add_argument("--refresh-margin", type=float, default=GraderPolicy.refresh_margin, metavar="SECONDS",
                        help="a re-fetch this close to expiry is not a reuse failure (default %(default)g, modeled)")
    client.add_argument("--min-retry-delay", type=float, default=GraderPolicy.min_retry_delay, metavar="SECONDS",
                        help="shortest acceptable wait before a retry without Retry-After (default %(default)g, modeled)")
    _add_output_arguments(client)
    client.set_defaults(func=run_check_client)

    check.set_defaults(func=lambda args: _usage(check))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="also write the report as JUnit XML")


def _headers(values: list[str]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise CommandError(f"--header: expected NAME:VALUE, got {value.split(':')[0]!r}…")
        headers[name.strip()] = content.strip()
    return headers


def run_check_user_detail(args: argparse.Namespace) -> int:
    import httpx

    from spotnana_sim.kit.user_detail_checks import UserDetailTarget, run_checks

    try:
        target = UserDetailTarget(
            url=args.url, token=args.token, expect_email=args.expect_email, email_field=args.email_field,
            expired_token=args.expired_token, headers=_headers(args.header), timeout=args.timeout,
        )
    except ValueError as exc:
        raise CommandError(f"--{exc}") from None
    with httpx.Client() as http:
        report = run_checks(target, http)
    return _emit(report, args)


def run_check_client(args: argparse.Namespace) -> int:
    if args.from_url:
        entries, dropped = _fetch_journal(args.from_url, args.admin_token)
        source = redact_url(args.from_url)
    else:
        try:
            entries, dropped = load_journal(args.journal.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"cannot read the journal {args.journal}: {exc.strerror or exc}") from None
        except (JournalFormatError, UnicodeDecodeError) as exc:
            raise CommandError(f"{args.journal}: {exc}") from None
        source = str(args.journal)
    if args.client_id:
        entries = [e for e in entries if e.get("client_id") == args.client_id]
        source += f" (client {args.client_id})"
    policy = GraderPolicy(refresh_margin=args.refresh_margin, min_retry_delay=args.min_retry_delay)
    token_url = args.from_url.rstrip("/").removesuffix(JOURNAL_PATH) + TOKEN_ENDPOINT_PATH if args.from_url else None
    return _emit(grade_journal(entries, dropped=dropped, policy=policy, source=source, token_url=token_url), args)


def _fetch_journal(base_url: str, admin_token: str | None) -> tuple[list[dict[str, Any]], int]:
    url = base_url if base_url.rstrip("/").endswith(JOURNAL_PATH) else base_url.rstrip("/") + JOURNAL_PATH
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    import httpx

    try:
        response = httpx.get(url, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise CommandError(f"--from: cannot read {redact_url(url)}: {type(exc).__name__}") from None
    if response.status_code != 200:
        hint = " (pass --admin-token)" if response.status_code == 403 else ""
        raise CommandError(f"--from: {redact_url(url)} answered {response.status_code}{hint}")
    try:
        return journal_entries(response.json())
    except (ValueError, JournalFormatError) as exc:
        raise CommandError(f"--from: {redact_url(url)} did not answer a journal: {exc}") from None


def _emit(report: Report, args: argparse.Namespace) -> int:
    print(report.to_json() if args.json else report.to_table())
    if args.junit:
        try:
            args.junit.write_text(report.to_junit(), encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"--junit: cannot write {args.junit}: {exc.strerror or exc}") from None
    return report.exit_status
