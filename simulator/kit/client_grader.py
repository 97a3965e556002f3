"""Grades a partner's token-exchange client from the simulator's journal of what it sent.

What is graded, and on what authority:

* every request is a form POST with the documented fields and fixed values (Spotnana, S6 and the
  backend-setup table);
* no secret travels in the query string (needs ``query_fields`` in the entries; skipped otherwise);
* tokens are reused while valid: Spotnana rate-limits the endpoint and asks partners to reuse tokens
  until they expire (S6, S10). *Modeled*: a re-fetch in the last ``refresh_margin`` seconds of a
  token's life counts as reuse;
* after a 429, a 5xx or a broken connection the client waits before retrying, at least ``Retry-After``
  when the answer carried one (needs ``retry_after`` in the entries), and backs off. *Modeled*: what
  "too soon" and "backing off" mean is in ``GraderPolicy``.

Entries are the plain dicts of ``simulator.journal`` (secrets already redacted). No HTTP here.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    FORM_CONTENT_TYPE,
    OPENID_SCOPE,
    SUPPORTED_GRANTS,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.redaction import SECRET_FIELDS, shorten
from spotnana_sim.harness.journal_entry import TOKEN, JournalEntry
from spotnana_sim.kit.report import FAIL, PASS, SKIP, WARN, CheckResult, Report

TITLE = "token-client conformance"
MAX_LISTED = 10  # offending requests listed per check; the count covers them all

REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    TOKEN_EXCHANGE_GRANT: ("grant_type", "client_id", "client_secret", "subject_token", "subject_token_type", "scope"),
    CLIENT_CREDENTIALS_GRANT: ("grant_type", "client_id", "client_secret"),
}
FIXED_VALUES: dict[str, dict[str, str]] = {
    TOKEN_EXCHANGE_GRANT: {"subject_token_type": ACCESS_TOKEN_TYPE, "scope": OPENID_SCOPE},
    CLIENT_CREDENTIALS_GRANT: {},
}


@dataclass(frozen=True)
class GraderPolicy:
    """The modeled thresholds (Spotnana documents the rules, not the numbers)."""

    refresh_margin: float = 300.0  # a new token in the last 5 minutes of the old one's life is fine
    min_retry_delay: float = 0.2  # seconds between a retryable failure and the retry, at the least
    retry_after_slack: float = 0.05  # clock granularity allowed when comparing with Retry-After
    growth_after_three: float = 1.5  # over 3+ retries in a row, the last gap must be this × the first


class JournalFormatError(ValueError):
    """A saved journal that cannot be read; the message says what was expected."""


def load_journal(text: str) -> tuple[list[JournalEntry], int]:
    """Entries and dropped count from ``GET /_sim/journal`` JSON, a JSON list, or JSON lines."""
    stripped = text.strip()
    if not stripped:
        return [], 0
    try:
        document: Any = json.loads(stripped)
    except ValueError:
        document = []
        for number, line in enumerate(stripped.splitlines(), 1):
            if line.strip():
                try:
                    document.append(json.loads(line))
                except ValueError as exc:
                    raise JournalFormatError(
                        f"line {number}: not JSON ({exc}); expected the JSON of GET /_sim/journal, "
                        "a JSON list of entries, or one entry per line"
                    ) from None
    return journal_entries(document)


def journal_entries(document: Any) -> tuple[list[JournalEntry], int]:
    dropped = 0
    if isinstance(document, dict):
        if not isinstance(document.get("entries"), list):
            raise JournalFormatError('expected {"entries": [...]} as GET /_sim/journal answers, or a list of entries')
        dropped = int(document.get("dropped") or 0)
        document = document["entries"]
    if not isinstance(document, list):
        raise JournalFormatError(f"expected a list of journal entries, got {type(document).__name__}")
    for index, entry in enumerate(document):
        if not isinstance(entry, dict):
            raise JournalFormatError(f"entries[{index}]: expected an object, got {type(entry).__name__}")
    try:
        return [JournalEntry.from_json(entry) for entry in document], dropped
    except (TypeError, ValueError) as exc:
        raise JournalFormatError(f"not a journal entry: {exc}") from None


def _first(entry: JournalEntry, name: str) -> Any:
    value = (entry.form or {}).get(name)
    return value[0] if isinstance(value, list) and value else value


def _label(entry: JournalEntry) -> str:
    """One journal entry in one line, for lists of offending requests."""
    outcome = entry.connection_fault or entry.status
    code = f" {entry.error_code}" if entry.error_code else ""
    who = entry.email or _first(entry, "subject_token") or ""
    grant = {TOKEN_EXCHANGE_GRANT: "token-exchange"}.get(str(entry.grant_type), entry.grant_type)
    return (f"#{entry.id} {entry.time} {entry.method} {grant} "
            f"client={entry.client_id} {who} → {outcome}{code}").replace("  ", " ")


def _listed(problems: Sequence[str]) -> tuple[str, ...]:
    shown = tuple(problems[:MAX_LISTED])
    return shown + ((f"… and {len(problems) - MAX_LISTED} more",) if len(problems) > MAX_LISTED else ())


def check_form_post(entries: Sequence[JournalEntry]) -> CheckResult:
    name = "form-post"
    bad = []
    for entry in entries:
        media = str(entry.content_type or "").split(";", 1)[0].strip().lower()
        if entry.method != "POST" or media != FORM_CONTENT_TYPE:
            bad.append(f"{_label(entry)}: {entry.method} with {media or 'no Content-Type'}")
    if bad:
        return CheckResult(name, FAIL, f"{len(bad)} of {len(entries)} requests were not form POSTs",
                           details=_listed(bad),
                           fix=f"POST the fields as {FORM_CONTENT_TYPE} in the body (Spotnana S6); not JSON, not GET")
    return CheckResult(name, PASS, f"all {len(entries)} requests were POSTs of {FORM_CONTENT_TYPE}")


def _form_problems(entry: JournalEntry) -> list[str]:
    form: Mapping[str, Any] = entry.form or {}
    grant = _first(entry, "grant_type")
    if grant not in SUPPORTED_GRANTS:
        shown = "missing" if grant is None else repr(shorten(str(grant), 60))
        return [f"grant_type is {shown}; expected {' or '.join(SUPPORTED_GRANTS)}"]
    problems = []
    for field_name in REQUIRED_FIELDS[grant]:
        values = form.get(field_name)
        values = values if isinstance(values, list) else [] if values is None else [values]
        if not values:
            problems.append(f"{field_name} is missing")
        elif len(values) > 1:
            problems.append(f"{field_name} is sent {len(values)} times")
        elif values[0] == "":  # a redacted secret reads "…" even when short, so only plain fields show empty
            problems.append(f"{field_name} is empty")
    for field_name, expected in FIXED_VALUES[grant].items():
        value = _first(entry, field_name)
        if value not in (None, "", expected):
            problems.append(f"{field_name} is {shorten(str(value), 60)!r}; expected {expected!r}")
    return problems


def check_required_fields(entries: Sequence[JournalEntry]) -> CheckResult:
    name = "required-fields"
    forms = [e for e in entries if e.form]
    bad = [f"{_label(e)}: {'; '.join(p)}" for e in forms if (p := _form_problems(e))]
    if not forms:
        return CheckResult(name, SKIP, "no request had a readable form body (see form-post)")
    if bad:
        return CheckResult(name, FAIL, f"{len(bad)} of {len(forms)} requests lacked a required field or value",
                           details=_listed(bad),
                           fix="send grant_type, client_id, client_secret and, for token exchange, subject_token, "
                               f"subject_token_type={ACCESS_TOKEN_TYPE} and scope=openid, each exactly once")
    return CheckResult(name, PASS, f"all {len(forms)} form requests carried every required field with the right values")


def check_query_secrets(entries: Sequence[JournalEntry]) -> CheckResult:
    name = "secret-not-in-query"
    recorded = [e for e in entries if "query_fields" in e]
    if not recorded:
        return CheckResult(name, SKIP, "this journal does not record query strings (entries lack query_fields)")
    secret, other = [], []
    for entry in recorded:
        names = sorted((entry.query_fields or {}).keys())
        leaked = [n for n in names if n.lower() in SECRET_FIELDS]
        if leaked:
            secret.append(f"{_label(entry)}: {', '.join(leaked)} in the query string")
        elif names:
            other.append(f"{_label(entry)}: {', '.join(names)} in the query string")
    if secret:
        return CheckResult(name, FAIL, f"{len(secret)} requests sent a secret in the URL", details=_listed(secret),
                           fix="send client_secret and subject_token in the form body only: URLs end up in proxy and server logs")
    if other:
        return CheckResult(name, WARN, f"{len(other)} requests had a query string, which Spotnana does not document",
                           details=_listed(other), fix="send every field in the form body")
    return CheckResult(name, PASS, f"no query string on any of {len(recorded)} requests")


def _subject_key(entry: JournalEntry) -> tuple[Any, ...]:
    """Who the token is for: the profile for token exchange, the client for client_credentials."""
    return (entry.client_id, entry.grant_type, entry.subject or entry.email)


def check_token_reuse(entries: Sequence[JournalEntry], policy: GraderPolicy) -> CheckResult:
    name = "token-reuse"
    issued = [e for e in entries if e.status == 200 and e.expires_at is not None]
    if not issued:
        return CheckResult(name, SKIP, "no token was issued, so there was nothing to reuse")
    by_subject: dict[tuple[Any, ...], list[JournalEntry]] = defaultdict(list)
    for entry in sorted(issued, key=lambda e: (e.timestamp, e.id)):
        by_subject[_subject_key(entry)].append(entry)
    needless: list[str] = []
    per_subject: list[str] = []
    for (client_id, _grant, subject), run in by_subject.items():
        repeats = []
        for previous, current in itertools.pairwise(run):
            still_valid_for = float(previous.expires_at or 0) - float(current.timestamp)
            if still_valid_for > policy.refresh_margin:
                repeats.append(f"#{current.id} while #{previous.id}'s token had {still_valid_for:.0f} s left")
        if repeats:
            who = run[-1].email or subject
            per_subject.append(f"{who} (client {client_id}): {len(run)} tokens issued, {len(repeats)} needless")
            needless += repeats
    if needless:
        return CheckResult(
            name, FAIL,
            f"{len(needless)} of {len(issued)} tokens were fetched while the previous one for the same user was still valid",
            details=_listed(per_subject + needless),
            fix="cache each user's tokens until shortly before expires_in runs out (Spotnana rate-limits this endpoint "
                f"and asks partners to reuse tokens); re-fetching in the last {policy.refresh_margin:g} s is fine (modeled)",
        )
    return CheckResult(name, PASS, f"{len(issued)} tokens issued for {len(by_subject)} users, none while a previous one was valid")


def _retryable(entry: JournalEntry) -> bool:
    status = entry.status
    return bool(entry.connection_fault) or status == 429 or (isinstance(status, int) and status >= 500)


def _retry_after(entry: JournalEntry) -> float | None:
    value = entry.retry_after
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP-date: the simulator's faults send delta-seconds, so this is not graded


def _request_key(entry: JournalEntry) -> tuple[Any, ...]:
    """Requests for the same token: same client, grant and (redacted) subject token."""
    return (entry.client_id, entry.grant_type, _first(entry, "subject_token"))


def check_retry_timing(entries: Sequence[JournalEntry], policy: GraderPolicy) -> CheckResult:
    name = "retry-timing"
    by_request: dict[tuple[Any, ...], list[JournalEntry]] = defaultdict(list)
    for entry in sorted(entries, key=lambda e: (e.timestamp, e.id)):
        by_request[_request_key(entry)].append(entry)
    retries = 0
    too_soon: list[str] = []
    flat: list[str] = []
    for run in by_request.values():
        gaps: list[float] = []  # gaps after consecutive retryable failures, reset by any other answer
        governed = False  # a Retry-After sets the pace, so growth is not required
        for failed, retry in itertools.pairwise(run):
            if not _retryable(failed):
                gaps, governed = [], False
                continue
            retries += 1
            answered = float(failed.timestamp) + float(failed.elapsed_ms or 0.0) / 1000
            gap = float(retry.timestamp) - answered
            wait = _retry_after(failed)
            outcome = failed.connection_fault or failed.status
            early = False
            if wait is not None and gap + policy.retry_after_slack < wait:
                too_soon.append(f"{_label(retry)}: {gap:.2f} s after {outcome} with Retry-After: {wait:g} (#{failed.id})")
                early = True
            elif wait is None and gap < policy.min_retry_delay:
                too_soon.append(f"{_label(retry)}: {gap:.2f} s after {outcome} (#{failed.id})")
                early = True
            governed = governed or wait is not None
            gaps.append(gap)
            # A retry already reported as too soon is not judged again on growth: between two
            # near-instant retries, which gap is shorter is noise, and one finding is enough.
            if not early and not governed and _not_backing_off(gaps, policy):
                spaced = ", ".join(f"{g:.2f}" for g in gaps)
                flat.append(f"{_label(retry)}: {len(gaps)} retries in a row spaced {spaced} s")
    if not retries:
        return CheckResult(name, SKIP, "no 429, 5xx or broken connection was answered, so no retry to grade")
    if too_soon or flat:
        parts = []
        if too_soon:
            parts.append(f"{len(too_soon)} retries came too soon")
        if flat:
            parts.append(f"{len(flat)} retry runs did not back off")
        return CheckResult(
            name, FAIL, f"{' and '.join(parts)} (of {retries} retries)", details=_listed(too_soon + flat),
            fix="after 429 or 5xx wait at least Retry-After when given, else back off exponentially with jitter "
                f"(Spotnana S6, S10); modeled thresholds: at least {policy.min_retry_delay:g} s, growing waits",
        )
    return CheckResult(name, PASS, f"{retries} retries, each after a wait that respected Retry-After and grew")


def _not_backing_off(gaps: Sequence[float], policy: GraderPolicy) -> bool:
    """Judged on the run so far: two gaps must not shrink; three or more must grow clearly."""
    if len(gaps) == 2:
        return gaps[1] < gaps[0] * 0.9
    if len(gaps) >= 3:
        return gaps[-1] < gaps[0] * policy.growth_after_three
    return False


def check_journal(entries: Sequence[JournalEntry], dropped: int, token_url: str | None = None) -> CheckResult:
    name = "journal"
    if not entries:
        # Never a green build for a client that talked to something else (or to nothing at all).
        where = token_url or f"the simulator's {TOKEN_ENDPOINT_PATH}"
        return CheckResult(name, FAIL, "no token requests were seen: there is nothing to grade",
                           fix=f"point your client's token URL at {where}, run it, then grade the journal")
    if dropped:
        return CheckResult(name, WARN, f"{dropped} older entries were dropped from the journal; counts are a lower bound",
                           fix="raise [journal] size, or grade sooner")
    return CheckResult(name, PASS, f"{len(entries)} requests recorded, none dropped")


def grade_journal(
    entries: Iterable[JournalEntry | Mapping[str, Any]], *, dropped: int = 0, policy: GraderPolicy = GraderPolicy(),
    source: str = "journal", token_url: str | None = None,
) -> Report:
    """Grade entries (or their JSON). ``token_url``, when known, is named in the failure that says
    no token request arrived."""
    typed = [e if isinstance(e, JournalEntry) else JournalEntry.from_json(e) for e in entries]
    listed = [e for e in typed if e.kind == TOKEN and e.path == TOKEN_ENDPOINT_PATH]
    report = Report(TITLE, source)
    report.add(check_journal(listed, dropped, token_url))
    if not listed:
        return report
    report.add(check_form_post(listed))
    report.add(check_required_fields(listed))
    report.add(check_query_secrets(listed))
    report.add(check_token_reuse(listed, policy))
    report.add(check_retry_timing(listed, policy))
    return report
