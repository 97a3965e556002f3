"""``spotnana-sim record``: a simulator's journal turned into a scenario file that replays it.

Each journal entry becomes a step with the whole form as sent (``request.form``) and the outcome as
expectations (status, errorCode or error, user-detail call count, and for an issued token the
``email`` claim, so a replay that authenticates another user fails). The journal holds secrets only
redacted, so they come back as placeholders filled in at replay time: ``${client_secret}``, and one
variable per distinct subject token (``${subject_token}``, ``${subject_token_2}``…; the file's header
says whose each was), except where the recorded outcome shows the value was *wrong* (invalid client,
rejected subject token): then a literal wrong value is written, so the replay fails the same way.

Fault rules that fired are copied from ``GET /_sim/faults`` when they are still listed there; a rule
that is gone (used up and removed) cannot be recovered, and the file's header says which steps need it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import yaml

from spotnana_sim.core.protocol import FORM_CONTENT_TYPE
from spotnana_sim.core.redaction import redact_url
from spotnana_sim.harness.endpoint import MAX_BODY_BYTES
from spotnana_sim.scenarios.placeholders import subject_token_placeholder

# The rule fields of the fault contract (issue 3); anything else in a listed rule is bookkeeping.
FAULT_FIELDS = (
    "target", "description", "match", "times", "after", "probability", "seed", "response", "delay",
    "connection", "expires_in", "expired", "user_detail",
)
INVALID_CLIENT_CODES = frozenset({"INVALID_CLIENT_CREDENTIALS", "invalid_client"})
REJECTED_TOKEN_CODES = frozenset({"USER_NOT_AUTHENTICATED"})
WRONG_SECRET = "recorded-wrong-secret"
REJECTED_SUBJECT_TOKEN = "recorded-rejected-subject-token"
_RFC_ERROR = re.compile(r"[a-z][a-z_]*")
_REDACTED_MARK = "…"
_KEEP = "${subject_token}"


class RecordError(Exception):
    """The journal could not be read; the message says why and what to do."""


async def record(
    url: str,
    *,
    name: str,
    client_id: str | None = None,
    admin_token: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[str, int]:
    """The scenario file's text and its number of steps."""
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    async with httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=30, transport=transport) as http:
        journal = await _get(http, "/_sim/journal", url)
        rules = await _get(http, "/_sim/faults", url, required=False)
    assert journal is not None  # required: _get raised otherwise
    entries = list(journal.get("entries") or [])
    if not entries:
        raise RecordError(f"the journal at {redact_url(url)} is empty: send some token requests first")
    document, notes = scenario_from_journal(
        entries, list((rules or {}).get("faults") or []), name=name, source_url=url,
        client_id=client_id, dropped=int(journal.get("dropped") or 0),
    )
    return render(document, notes), len(document["steps"])


async def _get(http: httpx.AsyncClient, path: str, url: str, required: bool = True) -> dict[str, Any] | None:
    try:
        response = await http.get(path)
    except httpx.HTTPError as exc:
        raise RecordError(f"cannot reach {redact_url(url)} ({type(exc).__name__}: {exc})") from None
    if response.status_code in (401, 403):
        raise RecordError(f"{redact_url(url)} refused GET {path} ({response.status_code}); pass --admin-token")
    if response.status_code != 200:
        if not required:
            return None
        raise RecordError(f"{redact_url(url)} has no simulator admin API (GET {path} answered {response.status_code})")
    try:
        body = response.json()
    except ValueError:
        raise RecordError(f"GET {path} at {redact_url(url)} did not answer JSON") from None
    return body if isinstance(body, dict) else {}


def scenario_from_journal(
    entries: Sequence[Mapping[str, Any]],
    rules: Sequence[Mapping[str, Any]],
    *,
    name: str,
    source_url: str,
    client_id: str | None = None,
    dropped: int = 0,
) -> tuple[dict[str, Any], list[str]]:
    """The scenario document (a plain dict, ready for YAML) and notes for the file's header."""
    main_client = client_id or _most_frequent_client(entries)
    listed = {str(rule.get("id")): rule for rule in rules}
    fired: list[str] = []
    notes: list[str] = []
    if dropped:
        notes.append(f"the journal had dropped {dropped} older entries; they are not in this file")
    steps = []
    uses_rfc = False
    variables, users = _subject_variables(entries, main_client)
    notes += users
    for i, entry in enumerate(entries):
        step, rfc = _step(entry, main_client, variables.get(i, "${subject_token}"))
        uses_rfc = uses_rfc or rfc
        steps.append(step)
        for fault_id in _fault_ids(entry):
            if fault_id in listed:
                if fault_id not in fired:
                    fired.append(fault_id)
            else:
                notes.append(f"steps[{i}]: fault rule {fault_id} fired but is no longer armed at the source, so it is not in this file")
    document: dict[str, Any] = {
        "name": _scenario_name(name),
        "description": f"Recorded from {redact_url(source_url)} at {datetime.now(UTC).isoformat(timespec='seconds')}: "
                       f"{len(steps)} request{'s' if len(steps) != 1 else ''} and what came of them.",
        "source": "modeled",
    }
    if uses_rfc:
        document["config"] = {"errors": {"dialect": "rfc6749"}}
    if fired:
        document["faults"] = [{k: v for k, v in listed[f].items() if k in FAULT_FIELDS} for f in fired]
    document["steps"] = steps
    return document, notes


def _subject_token(entry: Mapping[str, Any]) -> str | None:
    value = (entry.get("form") or {}).get("subject_token")
    value = value[0] if isinstance(value, list) and value else value
    return str(value) if value else None


def _subject_variables(entries: Sequence[Mapping[str, Any]], main_client: str | None) -> tuple[dict[int, str], list[str]]:
    """A placeholder per distinct subject token (by entry index), and header notes saying whose each was.

    Tokens are only in the journal redacted (their last characters), so two tokens that end alike
    are told apart by the email they were answered with, when the journal has it.
    """
    emails: dict[str, list[str]] = {}
    for entry in entries:
        token, email = _subject_token(entry), entry.get("email")
        if token and email and email not in emails.setdefault(token, []):
            emails[token].append(str(email))
    users: list[tuple[str, str | None]] = []
    variables: dict[int, str] = {}
    for index, entry in enumerate(entries):
        token = _subject_token(entry)
        if not token or _value("subject_token", token, entry, main_client, _KEEP) != _KEEP:
            continue  # written as a literal (empty, or a token that was rejected): no variable
        known = emails.get(token, [])
        user = (token, (entry.get("email") or known[0]) if len(known) > 1 else (known[0] if known else None))
        if user not in users:
            users.append(user)
        variables[index] = "${" + subject_token_placeholder(users.index(user) + 1) + "}"
    notes = []
    if len(users) > 1:
        for number, (token, email) in enumerate(users, start=1):
            whose = f"the token of {email}" if email else "a token whose user the journal does not name"
            notes.append(f"${{{subject_token_placeholder(number)}}} is {whose} (it ended {token!r}); "
                         f"pass it as --subject-token number {number}")
    return variables, notes


def _most_frequent_client(entries: Sequence[Mapping[str, Any]]) -> str | None:
    counts = Counter(e.get("client_id") for e in entries if e.get("client_id"))
    return counts.most_common(1)[0][0] if counts else None


def _fault_ids(entry: Mapping[str, Any]) -> list[str]:
    ids = [entry.get("fault_id")] + [c.get("fault_id") for c in entry.get("user_detail_calls") or []]
    return [str(i) for i in ids if i]


def _step(entry: Mapping[str, Any], main_client: str | None, subject_variable: str) -> tuple[dict[str, Any], bool]:
    code = entry.get("error_code")
    form = entry.get("form") or {}
    request: dict[str, Any] = {}
    if entry.get("method", "POST") != "POST":
        request["method"] = entry["method"]
    content_type = entry.get("content_type")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if entry.get("status") == 413:
        # Only the size mattered; any body just over the cap is refused the same way.
        request.update(content_type=FORM_CONTENT_TYPE, body="padding=" + "x" * MAX_BODY_BYTES)
    elif media_type != FORM_CONTENT_TYPE or request.get("method"):
        # The journal keeps no body that was not a form; an empty body fails the same way.
        request["content_type"] = content_type
        request["body"] = ""
    else:
        request["form"] = {k: _values(k, v, entry, main_client, subject_variable) for k, v in form.items()}
    expect: dict[str, Any] = {}
    rfc = False
    fault = entry.get("connection_fault")
    if fault == "malformed_json":
        expect.update(status=200, json=False)
    elif fault:
        expect["connection"] = "broken"
    else:
        expect["status"] = entry.get("status")
        if code and entry.get("status", 200) >= 400:
            rfc = bool(_RFC_ERROR.fullmatch(str(code)))
            expect["error" if rfc else "errorCode"] = code
        expect["user_detail_calls"] = len(entry.get("user_detail_calls") or [])
        if entry.get("status") == 200 and entry.get("email"):
            # The user the token was issued for: a replay that authenticates someone else must fail.
            # Profiles match emails case-insensitively (modeled), so the claim is compared that way too.
            expect["claims"] = {"email": {"matches": f"^(?i:{re.escape(str(entry['email']))})$"}}
    step: dict[str, Any] = {"name": f"journal entry {entry.get('id', '?')}"}
    if request:
        step["request"] = request
    step["expect"] = expect
    return step, rfc


def _values(name: str, value: Any, entry: Mapping[str, Any], main_client: str | None, subject_variable: str) -> Any:
    if isinstance(value, list):
        mapped = [_value(name, v, entry, main_client, subject_variable) for v in value]
        return mapped[0] if len(mapped) == 1 else mapped
    return _value(name, value, entry, main_client, subject_variable)


def _value(name: str, value: Any, entry: Mapping[str, Any], main_client: str | None, subject_variable: str) -> str:
    text = str(value)
    code = entry.get("error_code")
    if name == "client_id":
        return "${client_id}" if main_client is not None and text == main_client else text
    if name == "client_secret":
        if text == _REDACTED_MARK and code not in INVALID_CLIENT_CODES and _is_validation_failure(entry):
            return ""  # redacted to nothing: it was empty (or very short), which is what failed
        if code in INVALID_CLIENT_CODES and entry.get("client_id") == main_client:
            return WRONG_SECRET
        return "${client_secret}"
    if name == "subject_token":
        if text == _REDACTED_MARK and _is_validation_failure(entry):
            return ""
        calls = entry.get("user_detail_calls") or []
        if code in REJECTED_TOKEN_CODES and not any(c.get("fault_id") for c in calls):
            return REJECTED_SUBJECT_TOKEN
        return subject_variable
    return text


def _is_validation_failure(entry: Mapping[str, Any]) -> bool:
    return entry.get("status") == 400


def _scenario_name(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_.-]+", "_", name.lower()).strip("_.-")
    return cleaned or "recorded"


def render(document: Mapping[str, Any], notes: Sequence[str]) -> str:
    header = ["# Recorded by `spotnana-sim record`. Secrets are placeholders: ${client_id}, ${client_secret},",
              "# ${subject_token} (${subject_token_2}… for more users) are filled in by `spotnana-sim replay`",
              "# (flags --client-id, --client-secret, and --subject-token once per user, in order)."]
    header += [f"# note: {note}" for note in notes]
    body = yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + body


__all__ = ["RecordError", "record", "render", "scenario_from_journal"]
