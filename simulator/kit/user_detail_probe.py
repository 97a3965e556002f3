"""The user-detail probes: what ``check user-detail`` sends (one request per kind of credential, each
sent at most once) and what came back, secrets redacted. The checks that judge the answers are in
:mod:`spotnana_sim.kit.user_detail_checks`.

No pytest and no web framework here: the HTTP client is passed in (``httpx.Client``).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from spotnana_sim.core.redaction import redact, redact_url, shorten
from spotnana_sim.core.settings import DEFAULT_EMAIL_FIELD, DEFAULT_TIMEOUT
from spotnana_sim.core.user_detail import MAX_BODY_BYTES
from spotnana_sim.kit.connection_failure import ConnectionFailure, classify
from spotnana_sim.kit.report import CheckResult

GARBAGE_TOKEN = "spotnana-sim-conformance-not-a-token-7f3a9c0e"

# What the user passes, named as each front end spells it: fixes say which option to change.
CLI_OPTIONS: Mapping[str, str] = {
    "url": "--url", "token": "--token", "expect_email": "--expect-email", "email_field": "--email-field",
    "expired_token": "--expired-token", "timeout": "--timeout", "ca": "--user-detail-ca",
}
PYTEST_OPTIONS: Mapping[str, str] = {
    "url": "--spotnana-user-detail-url", "token": "--spotnana-token", "expect_email": "--spotnana-email",
    "email_field": "--spotnana-email-field", "expired_token": "--spotnana-expired-token",
    "timeout": "--spotnana-timeout", "ca": "--spotnana-user-detail-ca",
}


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's CAs, plus the PEM bundle ``ca_file`` when given. ValueError names what is wrong."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except FileNotFoundError:
            raise ValueError(f"user-detail-ca: no such file: {ca_file}") from None
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"user-detail-ca: {ca_file} is not a readable PEM bundle of CA certificates ({exc})") from None
    return context


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
    failure: ConnectionFailure | None = None  # no connection at all: why

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body)


# name → (description of the credential, how it is sent: header value or None, use the query string)
PROBES: dict[str, tuple[str, Callable[[UserDetailTarget], str | None], bool]] = {
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
        self, target: UserDetailTarget, http: httpx.Client, *, monotonic: Callable[[], float] = time.perf_counter,
        options: Mapping[str, str] = CLI_OPTIONS,
    ) -> None:
        self.target = target
        self.http = http
        self.monotonic = monotonic
        self.options = options
        self._answers: dict[str, Answer] = {}
        self.root: tuple[CheckResult | None] | None = None  # decided by the checks, once

    def option(self, name: str) -> str:
        """How the caller spells the option for ``name`` (a UserDetailTarget field, or ``ca``)."""
        return self.options.get(name, name)

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
        _, credential, in_query = PROBES[base]
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
        except httpx.ConnectTimeout as exc:
            return Answer(sent, elapsed=self.monotonic() - started, error=f"no connection within {target.timeout:g} s",
                          timed_out=True, failure=classify(exc, connect_timeout=True))
        except httpx.TimeoutException:
            return Answer(sent, elapsed=self.monotonic() - started, error=f"no answer within {target.timeout:g} s", timed_out=True)
        except httpx.HTTPError as exc:
            failure = classify(exc) if isinstance(exc, httpx.ConnectError) else None
            return Answer(sent, elapsed=self.monotonic() - started, failure=failure,
                          error=f"{type(exc).__name__}: {self.scrub(str(exc)) or 'connection failed'}")
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
