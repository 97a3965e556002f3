"""``spotnana-sim check user-detail``, ``check client`` and ``check frontend``: the conformance kit's commands.

Each prints a table (or ``--json``), can write ``--junit FILE``, and exit 1 when any check fails.
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
from spotnana_sim.harness.journal_entry import JournalEntry
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
# check frontend's defaults, repeated from kit.frontend_check so building the parser imports no browser code.
FRONTEND_ANSWER_DEADLINE = 5.0  # modeled
FRONTEND_CHROMIUM = "/usr/bin/chromium"  # Debian's


def register(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "check", help="conformance checks for integrators (user-detail API, JWKS and JWT, token client)",
        description="Conformance checks of the partner's side; each prints a table (or --json), can write "
                    "--junit, and exits 1 when a check fails.",
    )
    kinds = check.add_subparsers(title="what to check", metavar="KIND")

    user_detail = kinds.add_parser(
        "user-detail", help="probe a user-detail API the way Spotnana calls it",
        description="Call a user-detail API the way Spotnana does (GET with Authorization: Bearer <token>) with "
                    "a valid token, no token, a garbage token and more (at most 9 requests), and judge each answer. "
                    "When the API cannot be reached at all, one check (reachable) says why and the rest are skipped.",
    )
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
    user_detail.add_argument("--user-detail-ca", metavar="FILE",
                             help="PEM bundle of the CA that signed the API's certificate (a private CA), as for serve")
    _add_output_arguments(user_detail)
    user_detail.set_defaults(func=run_check_user_detail)

    jwt_check = kinds.add_parser(
        "jwt", help="grade the partner's side of identity model B: its JWKS and a sample subject JWT",
        description="Fetch the partner's JWKS as Spotnana would and grade it; with --token, also grade a "
                    "sample subject JWT the partner's identity provider signed.",
    )
    jwt_check.add_argument("--jwks-url", required=True, metavar="URL", help="the partner's JWKS URL")
    jwt_check.add_argument("--token", metavar="FILE|-", help="a file holding a sample subject JWT, or - to read it from stdin")
    jwt_check.add_argument("--email-claim", default="email", metavar="PATH",
                           help="dotted path of the email among the JWT's claims (default %(default)s)")
    jwt_check.add_argument("--audience", default="spotnana", help="the aud the JWT must contain (default %(default)s)")
    jwt_check.add_argument("--issuer", help="the iss the JWT must carry (not checked when omitted)")
    jwt_check.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                           help=f"how long to wait for the JWKS (default {DEFAULT_TIMEOUT:g})")
    _add_output_arguments(jwt_check)
    jwt_check.set_defaults(func=run_check_jwt)

    client = kinds.add_parser(
        "client", help="grade a token-exchange client from a simulator's journal",
        description="Grade what a token-exchange client sent to a simulator, from its journal (GET /_sim/journal "
                    "or a saved copy): form encoding, required fields, no secret in the URL, token reuse and back-off "
                    "after 429 and 5xx. A journal without token requests fails: there is nothing to grade.",
    )
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

    frontend = kinds.add_parser(
        "frontend", help="drive headless Chromium to the partner's page and grade its half of the embed handshake",
        description="Open the partner's page in headless Chromium, watch the iframe of the simulator's stand-in "
                    "embedded app ask for tokens, and grade the answer: its timing, shape, origin and tokens, and "
                    "that no client secret reached the browser. Needs the [browser] extra and Chromium.",
    )
    frontend.add_argument("--url", required=True, help="the partner page that embeds <simulator>/embed/… (signed in)")
    frontend.add_argument("--sim", metavar="URL", help="the simulator's base URL (default: the origin of the iframe's src)")
    frontend.add_argument("--expect-email", metavar="EMAIL", help="the user the handed-over tokens must sign in")
    frontend.add_argument("--admin-token", help="the simulator's admin token, for POST /_sim/scan-secrets")
    frontend.add_argument("--storage-state", type=Path, metavar="FILE",
                          help="Playwright storage-state JSON (cookies of a signed-in user) to open the page with")
    frontend.add_argument("--answer-deadline", type=float, default=FRONTEND_ANSWER_DEADLINE, metavar="SECONDS",
                          help="the page must answer TOKEN_EXCHANGE_REQUEST within this (default %(default)g, modeled)")
    frontend.add_argument("--chromium", default=FRONTEND_CHROMIUM, metavar="PATH",
                          help="the Chromium to drive (default %(default)s)")
    _add_output_arguments(frontend)
    frontend.set_defaults(func=run_check_frontend)

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

    from spotnana_sim.kit.user_detail_checks import UserDetailTarget, run_checks, tls_context

    try:
        target = UserDetailTarget(
            url=args.url, token=args.token, expect_email=args.expect_email, email_field=args.email_field,
            expired_token=args.expired_token, headers=_headers(args.header), timeout=args.timeout,
        )
        verify = tls_context(args.user_detail_ca)
    except ValueError as exc:
        raise CommandError(f"--{exc}") from None
    with httpx.Client(verify=verify) as http:
        report = run_checks(target, http)
    return _emit(report, args)


def run_check_jwt(args: argparse.Namespace) -> int:
    import httpx

    from spotnana_sim.kit.jwt_checks import JwtTarget, run_checks

    token: str | None = None
    if args.token == "-":
        token = sys.stdin.read()
    elif args.token:
        try:
            token = Path(args.token).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"--token: cannot read {args.token}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        target = JwtTarget(jwks_url=args.jwks_url, token=token, email_claim=args.email_claim, audience=args.audience,
                           issuer=args.issuer, timeout=args.timeout)
    except ValueError as exc:
        raise CommandError(f"--{str(exc).replace('_', '-', 1)}") from None
    with httpx.Client() as http:
        return _emit(run_checks(target, http), args)


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
        entries = [e for e in entries if e.client_id == args.client_id]
        source += f" (client {args.client_id})"
    policy = GraderPolicy(refresh_margin=args.refresh_margin, min_retry_delay=args.min_retry_delay)
    token_url = args.from_url.rstrip("/").removesuffix(JOURNAL_PATH) + TOKEN_ENDPOINT_PATH if args.from_url else None
    return _emit(grade_journal(entries, dropped=dropped, policy=policy, source=source, token_url=token_url), args)


def run_check_frontend(args: argparse.Namespace) -> int:
    from spotnana_sim.kit.frontend_check import FrontendCheckError, FrontendCheckOptions, run_frontend_check

    if not 0 < args.answer_deadline <= 60:
        raise CommandError(f"--answer-deadline: must be more than 0 and at most 60 seconds, got {args.answer_deadline:g}")
    if args.storage_state is not None and not args.storage_state.is_file():
        raise CommandError(f"--storage-state: {args.storage_state} is not a readable file")
    options = FrontendCheckOptions(
        answer_deadline=args.answer_deadline, admin_token=args.admin_token,
        storage_state=str(args.storage_state) if args.storage_state else None, chromium_path=args.chromium,
    )
    try:
        report = run_frontend_check(args.url, sim_url=args.sim, expect_email=args.expect_email, options=options)
    except FrontendCheckError as exc:
        raise CommandError(str(exc)) from None
    return _emit(report, args)


def _fetch_journal(base_url: str, admin_token: str | None) -> tuple[list[JournalEntry], int]:
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
