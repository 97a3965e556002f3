"""What ``spotnana-sim check jwt`` looks at: the target, and one probe that fetches the partner's JWKS
at most once (with the injected ``httpx.Client``) and parses the sample token without verifying it.

The checks that judge what the probe saw are in ``jwks_checks`` (the JWKS) and ``jwt_sample_checks``
(the sample JWT); ``jwt_checks`` runs them in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from spotnana_sim.core.partner_jwt import DEFAULT_AUDIENCE, DEFAULT_EMAIL_CLAIM, PartnerKey, jwk_problems
from spotnana_sim.core.redaction import redact, redact_url, shorten
from spotnana_sim.core.settings import DEFAULT_TIMEOUT
from spotnana_sim.core.user_detail import MAX_BODY_BYTES
from spotnana_sim.kit.report import CheckResult
from spotnana_sim.kit.user_detail_checks import Answer

JWKS_MEDIA_TYPES = ("application/json", "application/jwk-set+json")  # RFC 7517 §8.5.1


@dataclass(frozen=True)
class JwtTarget:
    """What to grade: the JWKS URL, and optionally a sample JWT with the claims expected in it."""

    jwks_url: str
    token: str | None = None
    email_claim: str = DEFAULT_EMAIL_CLAIM
    audience: str = DEFAULT_AUDIENCE
    issuer: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        parts = urlsplit(self.jwks_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"jwks_url: expected an http:// or https:// URL, got {shorten(redact_url(self.jwks_url))!r}")
        if self.token is not None:
            object.__setattr__(self, "token", self.token.strip() or None)
        if self.timeout <= 0:
            raise ValueError(f"timeout: must be a positive number of seconds, got {self.timeout!r}")

    def __repr__(self) -> str:  # the dataclass default would print the token
        return f"JwtTarget(jwks_url={redact_url(self.jwks_url)!r}, token={'…' if self.token else None})"


@dataclass(frozen=True)
class Sample:
    """The sample token, parsed without verification; ``error`` says why it could not be."""

    header: dict[str, Any]
    claims: dict[str, Any]
    error: str | None = None


class JwtProbe:
    """Fetches the JWKS at most once and parses the sample token; the checks read from here."""

    def __init__(self, target: JwtTarget, http: httpx.Client, *, now: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.perf_counter) -> None:
        self.target = target
        self.http = http
        self.now = now
        self.monotonic = monotonic

    @cached_property
    def answer(self) -> Answer:
        target = self.target
        sent = f"GET {redact_url(target.jwks_url)} without Authorization"
        started = self.monotonic()
        try:
            with self.http.stream("GET", target.jwks_url, headers={"Accept": ", ".join(JWKS_MEDIA_TYPES)},
                                  timeout=target.timeout, follow_redirects=False) as response:
                body = bytearray()
                truncated = False
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        truncated = True
                        break
        except httpx.TimeoutException:
            return Answer(sent, elapsed=self.monotonic() - started, error=f"no answer within {target.timeout:g} s",
                          timed_out=True)
        except httpx.HTTPError as exc:
            return Answer(sent, elapsed=self.monotonic() - started,
                          error=f"{type(exc).__name__}: {shorten(str(exc), 200) or 'connection failed'}")
        return Answer(sent, status=response.status_code, headers={k.lower(): v for k, v in response.headers.items()},
                      body=bytes(body), truncated=truncated, elapsed=self.monotonic() - started)

    def describe(self) -> str:
        answer = self.answer
        if answer.error:
            return answer.error
        text = " ".join(answer.body.decode("utf-8", "replace").split())
        return f"{answer.status}, {answer.content_type or 'no Content-Type'}, body {shorten(text, 160)!r}"

    @cached_property
    def document(self) -> Any:
        """The JWKS as JSON when the answer was a complete 200 JSON body, else None."""
        answer = self.answer
        if answer.status != 200 or answer.truncated:
            return None
        try:
            return answer.json()
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None

    @property
    def keys(self) -> list[Any] | None:
        """The JWKS ``keys`` array, or None when there is no JWK Set to look at."""
        document = self.document
        keys = document.get("keys") if isinstance(document, dict) else None
        return keys if isinstance(keys, list) else None

    @cached_property
    def usable(self) -> dict[str, PartnerKey]:
        """The keys the simulator would verify with, by kid (first of duplicates)."""
        found: dict[str, PartnerKey] = {}
        for jwk in self.keys or []:
            if not jwk_problems(jwk) and jwk["kid"] not in found:
                found[jwk["kid"]] = PartnerKey.from_jwk(jwk, "jwks")
        return found

    @cached_property
    def sample(self) -> Sample | None:
        token = self.target.token
        if token is None:
            return None
        if token.count(".") != 2:
            return Sample({}, {}, f"expected three base64url parts separated by dots, got {token.count('.') + 1}")
        try:
            decoded = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            return Sample({}, {}, shorten(str(exc) or type(exc).__name__, 160))
        return Sample(decoded["header"], decoded["payload"])

    @property
    def shown_token(self) -> str:
        return f"the sample JWT {redact(self.target.token or '')}"



CheckFunction = Callable[[JwtProbe], CheckResult]
