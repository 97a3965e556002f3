"""Probes a partner's user-detail API the way Spotnana calls it, and judges each answer.

Spotnana documents the call (S1, the backend-setup page): ``GET <url>`` with ``Authorization: Bearer <subject
token>``, answered by ``{"user": {"email": ...}}`` (or a custom-mapped field). Everything else these
checks expect comes from RFC 6750 (bearer tokens) or is the simulator's *modeled* behaviour, and the
messages say which. The probes are sent lazily and each is sent once, so several checks share an
answer and one check can run alone (the pytest plugin runs them one test item each).

The first check, ``reachable``, finds a root cause that makes every other answer meaningless (nothing
listens, the name does not resolve, TLS fails, or the URL answers 404/405 to every request); the
checks that need an answer are then skipped because of it, instead of failing one by one.

Fixes name options the way the caller spells them: ``CLI_OPTIONS`` (``spotnana-sim check user-detail``)
or ``PYTEST_OPTIONS`` (the pytest plugin).

The probes themselves (what is sent, and the answers kept) are in :mod:`spotnana_sim.kit.user_detail_probe`;
no pytest and no web framework here: the HTTP client is passed in (``httpx.Client``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from spotnana_sim.core.hosts import is_loopback
from spotnana_sim.core.redaction import redact_url
from spotnana_sim.core.user_detail import MAX_BODY_BYTES, extract_email
from spotnana_sim.kit.connection_failure import CONNECT_TIMEOUT, NAME, REFUSED, TLS, explain
from spotnana_sim.kit.report import FAIL, PASS, SKIP, WARN, CheckResult, Report
from spotnana_sim.kit.user_detail_probe import (
    CLI_OPTIONS,
    GARBAGE_TOKEN,
    PROBES,
    PYTEST_OPTIONS,
    Answer,
    UserDetailProbe,
    UserDetailTarget,
    tls_context,
)

# Modeled thresholds, in one place. Spotnana publishes neither its callback timeout nor a size limit.
NEAR_TIMEOUT_FRACTION = 0.5  # an answer slower than half the callback timeout is a warning
SMALL_BODY_BYTES = 8 * 1024  # a user-detail answer is an email in a small object; past this, warn
REPEAT_CALLS = 2  # extra calls with the valid token, to see the same email each time

TITLE = "user-detail conformance"
ROOT_CHECK = "reachable"

CheckFunction = Callable[[UserDetailProbe], CheckResult]
CHECKS: dict[str, CheckFunction] = {}
_NEEDS_NO_ANSWER: set[str] = set()  # checks that judge the URL alone, so a root cause does not skip them


def _check(name: str, *, needs_answer: bool = True) -> Callable[[CheckFunction], CheckFunction]:
    def register(function: CheckFunction) -> CheckFunction:
        CHECKS[name] = function
        if not needs_answer:
            _NEEDS_NO_ANSWER.add(name)
        return function

    return register


_NOT_THERE = (404, 405)


def root_cause(probe: UserDetailProbe) -> CheckResult | None:
    """The failure that makes every other answer meaningless, or None; decided once per probe."""
    if probe.root is None:
        probe.root = (_root_cause(probe),)
    return probe.root[0]


def _root_cause(probe: UserDetailProbe) -> CheckResult | None:
    """Nothing listens, the name does not resolve, TLS fails, or every request gets 404/405."""
    target, answer = probe.target, probe.answer("valid")
    url = redact_url(target.url)
    if answer.failure is not None:
        summary = explain(answer.failure, target.url)
        fix = {
            REFUSED: f"check the host and port in {probe.option('url')} ({url}): is the API running, and reachable from here?",
            NAME: f"check the host name in {probe.option('url')} ({url}): a typo, or a name only another network "
                  "(VPN, cluster, container) knows?",
            TLS: f"if the API's certificate comes from a private CA, pass that CA's PEM bundle with {probe.option('ca')} FILE; "
                 "otherwise fix the server's certificate (expired? issued for another host name?)",
            CONNECT_TIMEOUT: f"check the host and port in {probe.option('url')} ({url}), and any firewall between here and the API",
        }.get(answer.failure.kind, f"check {probe.option('url')} ({url}) and that the API is reachable from here")
        return _result(ROOT_CHECK, FAIL, summary, probe, answer, fix=fix)
    if answer.status not in _NOT_THERE:
        return None
    others = [probe.answer(key) for key in ("no-authorization", "garbage")]
    if any(other.status != answer.status for other in others):
        return None  # the URL exists; only the valid token is refused that way (valid-token says so)
    if answer.status == 405:
        allow = answer.headers.get("allow")
        return _result(ROOT_CHECK, FAIL, "every request got 405 Method Not Allowed: this URL does not serve GET"
                       + (f" (Allow: {allow})" if allow else ""), probe, answer,
                       fix=f"Spotnana calls the user-detail API with GET: serve GET at this path, or check the path in "
                           f"{probe.option('url')} ({url})")
    return _result(ROOT_CHECK, FAIL, "every request got 404: there is no API at this path", probe, answer,
                   fix=f"check the path in {probe.option('url')} ({url}): it must be the exact URL you give Spotnana, "
                       "e.g. https://api.yourcompany.com/v1/user-detail")


@_check(ROOT_CHECK)
def reachable(probe: UserDetailProbe) -> CheckResult:
    root = root_cause(probe)
    if root is not None:
        return root
    answer = probe.answer("valid")
    got = answer.error or f"answered {answer.status}"
    return CheckResult(ROOT_CHECK, PASS, f"{redact_url(probe.target.url)} {got} to the valid token")


def _result(name: str, status: str, summary: str, probe: UserDetailProbe, answer: Answer | None = None, **more: Any) -> CheckResult:
    if answer is not None:
        more.setdefault("sent", answer.sent)
        more.setdefault("received", probe.describe(answer))
    return CheckResult(name, status, summary, **more)


def _valid_200(probe: UserDetailProbe, name: str) -> CheckResult | Answer:
    """The valid token's answer when it is a 200, else the skip result for a check that needs one."""
    answer = probe.answer("valid")
    if answer.status == 200:
        return answer
    return CheckResult(name, SKIP, "needs a 200 answer to the valid token (see valid-token)")


@_check("valid-token")
def valid_token(probe: UserDetailProbe) -> CheckResult:
    name, answer = "valid-token", probe.answer("valid")
    if answer.status == 200:
        return _result(name, PASS, "the valid token got 200", probe, answer)
    if answer.error:
        fix = ("answer within the callback timeout" if answer.timed_out else
               "answer the request: the connection was made, then broke without an HTTP answer")
        return _result(name, FAIL, f"the valid token got no answer: {answer.error}", probe, answer, fix=fix)
    fix = "answer 200 with {\"user\": {\"email\": ...}} for a token your identity provider issued"
    if answer.status in _NOT_THERE:
        fix = (f"check the path in {probe.option('url')} (other requests were answered differently, so the API is "
               f"there), and that a live token of {probe.option('expect_email')} gets 200")
    elif answer.status in (401, 403):
        fix = (f"check that {probe.option('token')} is a live token of the user behind {probe.option('expect_email')} "
               "(it may have expired)")
    elif answer.status is not None and 300 <= answer.status < 400:
        fix = "serve the API at this exact URL: Spotnana does not follow redirects (modeled: the simulator does not either)"
    return _result(name, FAIL, f"the valid token got {answer.status}, expected 200", probe, answer, fix=fix)


@_check("valid-token-json")
def valid_token_json(probe: UserDetailProbe) -> CheckResult:
    name = "valid-token-json"
    answer = _valid_200(probe, name)
    if isinstance(answer, CheckResult):
        return answer
    media = answer.content_type.split(";", 1)[0].strip().lower()
    is_json_type = media == "application/json" or media.endswith("+json")
    try:
        answer.json()
    except (ValueError, UnicodeDecodeError):
        return _result(name, FAIL, f"the 200 answer is not JSON ({media or 'no Content-Type'})", probe, answer,
                       fix='answer Content-Type: application/json with a body like {"user": {"email": "user@yourcompany.com"}}')
    if not is_json_type:
        return _result(name, WARN, f"the body is JSON but the Content-Type is {media or 'missing'}", probe, answer,
                       fix="send Content-Type: application/json (how strictly Spotnana checks it is not documented)")
    return _result(name, PASS, f"a JSON body with Content-Type {media}", probe, answer)


def _email_paths(document: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (dotted path, string) in a JSON document whose string looks like an email address."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _email_paths(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(document, str) and "@" in document and " " not in document.strip():
        yield prefix, document


@_check("valid-token-email")
def valid_token_email(probe: UserDetailProbe) -> CheckResult:
    name, target = "valid-token-email", probe.target
    answer = _valid_200(probe, name)
    if isinstance(answer, CheckResult):
        return answer
    try:
        document = answer.json()
    except (ValueError, UnicodeDecodeError):
        return CheckResult(name, SKIP, "needs a JSON answer to the valid token (see valid-token-json)")
    field_path = target.email_field
    email = extract_email(document, field_path)
    if email is None:
        found = [(path, value) for path, value in _email_paths(document)]
        elsewhere = [path for path, value in found if value.strip().casefold() == target.expect_email.casefold()]
        if elsewhere:
            fix = (f"put the email at {field_path!r} (Spotnana reads {{\"user\": {{\"email\": ...}}}}), or ask Spotnana "
                   f"for a custom mapping and check it with {probe.option('email_field')} {elsewhere[0]}")
            summary = f"no email at {field_path!r}; the expected email is at {elsewhere[0]!r} instead"
        else:
            fix = f"answer the user's email at {field_path!r}, e.g. {{\"user\": {{\"email\": \"{target.expect_email}\"}}}}"
            others = ", ".join(path for path, _ in found)
            summary = f"no email at {field_path!r}" + (f" (emails found at: {others})" if others else "")
        return _result(name, FAIL, summary, probe, answer, fix=fix)
    if email.strip() == target.expect_email:
        return _result(name, PASS, f"{field_path} is {email!r}, as expected", probe, answer)
    if email.strip().casefold() == target.expect_email.casefold():
        return _result(name, WARN, f"{field_path} is {email!r}, which differs from {target.expect_email!r} only in case",
                       probe, answer,
                       fix="answer the email exactly as the Spotnana profile was created with: whether Spotnana compares "
                           "case-insensitively is not documented (modeled: the simulator does)")
    return _result(name, FAIL, f"{field_path} is {email!r}, expected {target.expect_email!r}", probe, answer,
                   fix="answer the email of the user the token belongs to, as their Spotnana profile was created with")


def _rejection(name: str, probe: UserDetailProbe, key: str, *, critical_if_accepted: bool = True) -> CheckResult:
    """A credential that must not work: 401 passes, a 2xx is a (critical) failure, a 5xx a failure."""
    what = PROBES[key][0]
    answer = probe.answer(key)
    status = answer.status
    if answer.error:
        return _result(name, FAIL, f"{what} got no answer: {answer.error}", probe, answer,
                       fix="answer 401 promptly; Spotnana reports a timeout or a broken connection as a failure of your API")
    assert status is not None
    if status == 401:
        return _result(name, PASS, f"{what} got 401", probe, answer)
    if 200 <= status < 300:
        if critical_if_accepted:
            return _result(name, FAIL, f"CRITICAL: {what} got {status}: this API accepts a credential it must refuse, "
                           "so anyone could obtain Spotnana tokens as one of your users", probe, answer, critical=True,
                           fix="validate the bearer token (signature, expiry, issuer) on every request and answer 401 "
                               "with WWW-Authenticate: Bearer error=\"invalid_token\" when it is not valid")
        return _result(name, FAIL, f"{what} got {status}: the token was accepted from there", probe, answer,
                       fix="read the token from the Authorization header only (RFC 6750 §2.1); tokens in URLs end up in logs")
    if status >= 500:
        return _result(name, FAIL, f"{what} got {status}, a server error: a bad credential is the caller's fault",
                       probe, answer, fix="answer 401 (RFC 6750 §3.1) when the credential is missing or invalid")
    if 300 <= status < 400:
        return _result(name, WARN, f"{what} got a redirect ({status}), probably to a login page", probe, answer,
                       fix="answer 401 instead: this is an API, and redirects are not followed (modeled)")
    detail = ("RFC 6750 §3.1 says 401 for a missing or invalid token; the simulator treats 403 as a rejection too (modeled)"
              if status == 403 else
              "the simulator reports it as an unexpected answer rather than a rejected token (modeled; Spotnana does not document it)")
    return _result(name, WARN, f"{what} got {status}, expected 401", probe, answer, fix=f"answer 401: {detail}")


@_check("no-authorization")
def no_authorization(probe: UserDetailProbe) -> CheckResult:
    return _rejection("no-authorization", probe, "no-authorization")


@_check("non-bearer-scheme")
def non_bearer_scheme(probe: UserDetailProbe) -> CheckResult:
    return _rejection("non-bearer-scheme", probe, "non-bearer")


@_check("empty-bearer")
def empty_bearer(probe: UserDetailProbe) -> CheckResult:
    return _rejection("empty-bearer", probe, "empty-bearer")


@_check("garbage-token")
def garbage_token(probe: UserDetailProbe) -> CheckResult:
    return _rejection("garbage-token", probe, "garbage")


@_check("expired-token")
def expired_token(probe: UserDetailProbe) -> CheckResult:
    if not probe.target.expired_token:
        return CheckResult("expired-token", SKIP, f"no expired token given ({probe.option('expired_token')})")
    return _rejection("expired-token", probe, "expired")


@_check("token-in-query")
def token_in_query(probe: UserDetailProbe) -> CheckResult:
    return _rejection("token-in-query", probe, "query", critical_if_accepted=False)


_CHALLENGED = ("no-authorization", "non-bearer", "empty-bearer", "garbage", "expired", "query")


@_check("www-authenticate")
def www_authenticate(probe: UserDetailProbe) -> CheckResult:
    name = "www-authenticate"
    answers = [(key, probe.answer(key)) for key in _CHALLENGED if key != "expired" or probe.target.expired_token]
    unauthorized = [(key, a) for key, a in answers if a.status == 401]
    if not unauthorized:
        return CheckResult(name, SKIP, "no 401 answer to look at")
    missing = [key for key, a in unauthorized if not a.headers.get("www-authenticate", "").lower().startswith("bearer")]
    if missing:
        return CheckResult(
            name, WARN, f"{len(missing)} of {len(unauthorized)} answers with 401 lack WWW-Authenticate: Bearer",
            details=tuple(f"{PROBES[key][0]}: {probe.describe(dict(unauthorized)[key])}" for key in missing),
            fix='add WWW-Authenticate: Bearer error="invalid_token" to every 401 (RFC 6750 §3, RFC 9110 §11.6.1)',
        )
    return CheckResult(name, PASS, f"all {len(unauthorized)} answers with 401 carry WWW-Authenticate: Bearer")


@_check("response-time")
def response_time(probe: UserDetailProbe) -> CheckResult:
    name, timeout = "response-time", probe.target.timeout
    answer = probe.answer("valid")
    note = f"callback timeout {timeout:g} s (modeled: Spotnana does not publish its own)"
    if answer.timed_out:
        return _result(name, FAIL, f"no answer within the {note}", probe, answer,
                       fix="answer the user-detail call quickly: it runs while your user waits for the iframe to load")
    if answer.error:
        return CheckResult(name, SKIP, "the valid token got no answer (see valid-token)")
    elapsed_ms = answer.elapsed * 1000
    if answer.elapsed > timeout * NEAR_TIMEOUT_FRACTION:
        return _result(name, WARN, f"answered in {elapsed_ms:.0f} ms, more than half the {note}", probe, answer,
                       fix="keep the call well inside the timeout; network latency from Spotnana will add to it")
    return CheckResult(name, PASS, f"answered in {elapsed_ms:.0f} ms; {note}")


@_check("response-size")
def response_size(probe: UserDetailProbe) -> CheckResult:
    name = "response-size"
    answer = _valid_200(probe, name)
    if isinstance(answer, CheckResult):
        return answer
    size = len(answer.body)
    if answer.truncated:
        return _result(name, FAIL, f"the answer is larger than {MAX_BODY_BYTES} bytes, where the simulator stops reading (modeled)",
                       probe, answer, fix="answer a small object: the email is all Spotnana reads")
    if size > SMALL_BODY_BYTES:
        return _result(name, WARN, f"the answer is {size} bytes; more than {SMALL_BODY_BYTES} is unusual (modeled threshold)",
                       probe, answer, fix="answer a small object: the email is all Spotnana reads")
    return CheckResult(name, PASS, f"the answer is {size} bytes")


@_check("repeatable")
def repeatable(probe: UserDetailProbe) -> CheckResult:
    name, field_path = "repeatable", probe.target.email_field
    first = _valid_200(probe, name)
    if isinstance(first, CheckResult):
        return first
    answers = [first] + [probe.answer(f"valid#{i}") for i in range(1, REPEAT_CALLS + 1)]
    seen: list[str] = []
    for answer in answers:
        if answer.status != 200:
            return _result(name, FAIL, f"the same valid token got {answer.status or answer.error} on a repeated call",
                           probe, answer, fix="accept a token for as long as it is valid: Spotnana may call more than once")
        try:
            seen.append(str(extract_email(answer.json(), field_path)))
        except (ValueError, UnicodeDecodeError):
            seen.append("(not JSON)")
    if len(set(seen)) > 1:
        return CheckResult(name, FAIL, f"{len(answers)} calls with the same token gave different answers at {field_path}: "
                           + ", ".join(seen), fix="answer the token owner's email every time, without caching across users")
    return CheckResult(name, PASS, f"{len(answers)} calls with the same token gave the same {field_path}")


@_check("https", needs_answer=False)
def https(probe: UserDetailProbe) -> CheckResult:
    parts = urlsplit(probe.target.url)
    if parts.scheme == "https":
        return CheckResult("https", PASS, "the URL is HTTPS")
    if is_loopback(parts.hostname or ""):
        return CheckResult("https", PASS, "plain HTTP on loopback: fine for local tests; the URL you give Spotnana must be HTTPS")
    return CheckResult("https", WARN, f"plain HTTP to {parts.hostname}: Spotnana calls this URL over the internet",
                       fix="serve the user-detail API over HTTPS: the call carries your users' bearer tokens")


def check_names() -> list[str]:
    return list(CHECKS)


def run_check(name: str, probe: UserDetailProbe) -> CheckResult:
    try:
        check = CHECKS[name]
    except KeyError:
        raise ValueError(f"no user-detail check named {name!r}; the checks are {', '.join(CHECKS)}") from None
    if name != ROOT_CHECK and name not in _NEEDS_NO_ANSWER:
        root = root_cause(probe)
        if root is not None:
            return CheckResult(name, SKIP, f"skipped because {ROOT_CHECK} failed: the API gave no answer to judge")
    return check(probe)


def run_checks(
    target: UserDetailTarget, http: httpx.Client, *, monotonic: Callable[[], float] = time.perf_counter,
    options: Mapping[str, str] = CLI_OPTIONS,
) -> Report:
    """Every check, in order, against ``target``; at most ``len(PROBES) + REPEAT_CALLS`` requests."""
    probe = UserDetailProbe(target, http, monotonic=monotonic, options=options)
    report = Report(TITLE, redact_url(target.url))
    for name in CHECKS:
        report.add(run_check(name, probe))
    return report


__all__ = [
    "CHECKS", "CLI_OPTIONS", "GARBAGE_TOKEN", "PYTEST_OPTIONS", "REPEAT_CALLS", "ROOT_CHECK", "Answer", "UserDetailProbe",
    "UserDetailTarget", "check_names", "root_cause", "run_check", "run_checks", "tls_context",
]
