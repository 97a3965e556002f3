"""Probes a partner's user-detail API the way Spotnana calls it, and judges each answer.

Spotnana documents the call (S1, the backend-setup page): ``GET <url>`` with ``Authorization: Bearer <subject
token>``, answered by ``{"user": {"email": ...}}`` (or a custom-mapped field). Everything else these
checks expect comes from RFC 6750 (bearer tokens) or is the simulator's *modeled* behaviour, and the
messages say which. The probes are sent lazily and each is sent once, so several checks share an
answer and one check can run alone (the pytest plugin runs them one test item each).

No pytest and no web framework here: the HTTP client is passed in (``httpx.Client``).
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from spotnana_sim.core.redaction import redact, redact_url, shorten
from spotnana_sim.core.settings import DEFAULT_EMAIL_FIELD, DEFAULT_TIMEOUT
from spotnana_sim.core.user_detail import MAX_BODY_BYTES, extract_email
from spotnana_sim.kit.report import FAIL, PASS, SKIP, WARN, CheckResult, Report

# Modeled thresholds, in one place. Spotnana publishes neither its callback timeout nor a size limit.
NEAR_TIMEOUT_FRACTION = 0.5  # an answer slower than half the callback timeout is a warning
SMALL_BODY_BYTES = 8 * 1024  # a user-detail answer is an email in a small object; past this, warn
REPEAT_CALLS = 2  # extra calls with the valid token, to see the same email each time
GARBAGE_TOKEN = "spotnana-sim-conformance-not-a-token-7f3a9c0e"

TITLE = "user-detail conformance"


@dataclass(frozen=True)
class UserDetailTarget:
    """The API under test and what it should answer. ``timeout`` is the simulator's callback timeout."""

    url: str
    token: str
    expect_email: str
    email_field: str = DEFAULT_EMAIL_FIELD
    expired_token: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # sent on every probe (API gateway keys…)
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"url: expected an http:// or https:// URL, got {shorten(redact_url(self.url))!r}")
        if not self.token:
            raise ValueError("token: a valid subject token is needed to probe the API")
        if "@" not in self.expect_email:
            raise ValueError(f"expect_email: expected an email address, got {shorten(self.expect_email)!r}")
        if self.timeout <= 0:
            raise ValueError(f"timeout: must be a positive number of seconds, got {self.timeout!r}")

    def __repr__(self) -> str:  # the dataclass default would print the tokens
        return f"UserDetailTarget(url={redact_url(self.url)!r}, expect_email={self.expect_email!r}, email_field={self.email_field!r})"


@dataclass(frozen=True)
class Answer:
    """One probe: what was sent (secrets redacted) and what came back, or why nothing did."""

    sent: str
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""
    truncated: bool = False
    elapsed: float = 0.0
    error: str | None = None
    timed_out: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body)


# name → (description of the credential, how it is sent: header value or None, use the query string)
_PROBES: dict[str, tuple[str, Callable[[UserDetailTarget], str | None], bool]] = {
    "valid": ("the valid token", lambda t: f"Bearer {t.token}", False),
    "no-authorization": ("no Authorization header", lambda t: None, False),
    "non-bearer": ("the valid token under the Basic scheme", lambda t: f"Basic {t.token}", False),
    # HTTP strips trailing whitespace from header values, so "Bearer " reaches the server as "Bearer".
    "empty-bearer": ("an empty Bearer token", lambda t: "Bearer", False),
    "garbage": ("a garbage token", lambda t: f"Bearer {GARBAGE_TOKEN}", False),
    "expired": ("the expired token", lambda t: f"Bearer {t.expired_token}", False),
    "query": ("the valid token in the query string (?access_token=…), no header", lambda t: None, True),
}


class UserDetailProbe:
    """Sends each probe at most once and keeps its answer."""

    def __init__(
        self, target: UserDetailTarget, http: httpx.Client, *, monotonic: Callable[[], float] = time.perf_counter
    ) -> None:
        self.target = target
        self.http = http
        self.monotonic = monotonic
        self._answers: dict[str, Answer] = {}

    def answer(self, probe: str) -> Answer:
        if probe not in self._answers:
            self._answers[probe] = self._send(probe)
        return self._answers[probe]

    def _hidden(self) -> list[str]:
        return [t for t in (self.target.token, self.target.expired_token) if t]

    def scrub(self, text: str) -> str:
        """Text with every token we sent replaced by its redacted form (servers sometimes echo them)."""
        for token in self._hidden():
            text = text.replace(token, redact(token))
        return text

    def _send(self, probe: str) -> Answer:
        base = probe.split("#", 1)[0]  # "valid#2": a repeat of "valid"
        _, credential, in_query = _PROBES[base]
        target = self.target
        headers = {"Accept": "application/json", **target.headers}
        value = credential(target)
        if value is not None:
            headers["Authorization"] = value
        url, shown_url = target.url, redact_url(target.url)
        if in_query:
            joiner = "&" if "?" in url else "?"
            url += joiner + urlencode({"access_token": target.token})
            shown_url += joiner + "access_token=" + redact(target.token)
        shown_auth = f"Authorization: {self.scrub(value)}" if value is not None else "no Authorization header"
        sent = f"GET {shown_url} with {shown_auth}"
        started = self.monotonic()
        try:
            with self.http.stream("GET", url, headers=headers, timeout=target.timeout, follow_redirects=False) as response:
                body = bytearray()
                truncated = False
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        truncated = True
                        break
        except httpx.TimeoutException:
            return Answer(sent, elapsed=self.monotonic() - started, error=f"no answer within {target.timeout:g} s", timed_out=True)
        except httpx.HTTPError as exc:
            return Answer(sent, elapsed=self.monotonic() - started, error=f"{type(exc).__name__}: {self.scrub(str(exc)) or 'connection failed'}")
        return Answer(
            sent,
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=bytes(body),
            truncated=truncated,
            elapsed=self.monotonic() - started,
        )

    def describe(self, answer: Answer) -> str:
        """The answer in one line: status, content type, WWW-Authenticate and the start of the body."""
        if answer.error:
            return answer.error
        parts = [str(answer.status), answer.content_type or "no Content-Type"]
        if "www-authenticate" in answer.headers:
            parts.append(f"WWW-Authenticate: {answer.headers['www-authenticate']}")
        text = answer.body.decode("utf-8", "replace").strip()
        parts.append(f"body {shorten(self.scrub(' '.join(text.split())), 160)!r}" if text else "empty body")
        return ", ".join(parts)


CheckFunction = Callable[[UserDetailProbe], CheckResult]
CHECKS: dict[str, CheckFunction] = {}


def _check(name: str) -> Callable[[CheckFunction], CheckFunction]:
    def register(function: CheckFunction) -> CheckFunction:
        CHECKS[name] = function
        return function

    return register


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
        return _result(name, FAIL, f"the valid token got no answer: {answer.error}", probe, answer,
                       fix="make the API reachable from where this check runs, and answer within the callback timeout")
    fix = "answer 200 with {\"user\": {\"email\": ...}} for a token your identity provider issued"
    if answer.status in (401, 403):
        fix = "check that --token is a live token of the user behind --expect-email (it may have expired)"
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
                   f"for a custom mapping and check it with --email-field {elsewhere[0]}")
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
    what = _PROBES[key][0]
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
        return CheckResult("expired-token", SKIP, "no expired token given (--expired-token)")
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
            details=tuple(f"{_PROBES[key][0]}: {probe.describe(dict(unauthorized)[key])}" for key in missing),
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


def is_loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@_check("https")
def https(probe: UserDetailProbe) -> CheckResult:
    parts = urlsplit(probe.target.url)
    if parts.scheme == "https":
        return CheckResult("https", PASS, "the URL is HTTPS")
    if is_loopback_host(parts.hostname or ""):
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
    return check(probe)


def run_checks(target: UserDetailTarget, http: httpx.Client, *, monotonic: Callable[[], float] = time.perf_counter) -> Report:
    """Every check, in order, against ``target``; at most ``len(_PROBES) + REPEAT_CALLS`` requests."""
    probe = UserDetailProbe(target, http, monotonic=monotonic)
    report = Report(TITLE, redact_url(target.url))
    for name in CHECKS:
        report.add(run_check(name, probe))
    return report
