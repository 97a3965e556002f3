"""Who is the user behind a subject token: the partner's "get user detail" callback.

Spotnana calls ``GET <user-detail URL>`` with ``Authorization: Bearer <subject_token>`` and reads the
email from ``{"user": {"email": ...}}`` or a custom-mapped field (backend-setup.txt). Everything
Spotnana does not document about that call (timeout, which statuses count as rejection, redirects,
body size) is *modeled* here, in ``CallbackPolicy``, and configurable per client.

The HTTP client is a collaborator (``UserDetailHttp``): aiohttp when served
(``spotnana_sim.server.user_detail_client``), httpx in-process, or a fake in unit tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from spotnana_sim.core.errors import (
    SimulatorError,
    SubjectTokenRejected,
    UserDetailEmailMissing,
    UserDetailMalformed,
    UserDetailNotJson,
    UserDetailServerError,
    UserDetailTimeout,
    UserDetailTooLarge,
    UserDetailUnexpectedStatus,
    UserDetailUnreachable,
)
from spotnana_sim.core.redaction import redact_url
from spotnana_sim.core.settings import DEFAULT_EMAIL_FIELD, ClientConfig

# Modeled defaults; configurable under [user_detail] (config.UserDetailPolicy).
MAX_BODY_BYTES = 64 * 1024  # how much of a user-detail answer is read
REJECTING_STATUSES = frozenset({401, 403})  # answers that mean "this token is not a user"


@dataclass(frozen=True)
class UserDetailResponse:
    status: int
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    truncated: bool = False  # the body went past the read cap and was cut there


class CallbackFailed(Exception):
    """The callback produced no HTTP answer."""

    kind = "unreachable"


class CallbackTimedOut(CallbackFailed):
    kind = "timeout"


class CallbackMalformed(CallbackFailed):
    """An answer came, but it is not valid HTTP (bad status line or headers, a body cut short)."""

    kind = "malformed"


class UserDetailHttp(Protocol):
    async def get(
        self, url: str, headers: Mapping[str, str], timeout: float, max_bytes: int, *, ca_file: str | None = None,
    ) -> UserDetailResponse: ...


@dataclass
class CallbackRecord:
    """What the journal keeps of one user-detail call."""

    url: str
    status: int | None = None
    elapsed_ms: float = 0.0
    error: str | None = None
    fault_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": redact_url(self.url),
            "status": self.status,
            "elapsed_ms": round(self.elapsed_ms, 2),
            "error": self.error,
            "fault_id": self.fault_id,
        }


@dataclass
class CallbackContext:
    """What a fault rule may match on, and where it says it fired."""

    client_id: str
    subject_token: str
    url: str
    timeout: float
    email_field: str = DEFAULT_EMAIL_FIELD  # so a fault's {"email": ...} answer lands where this client reads
    max_bytes: int = MAX_BODY_BYTES  # so a fault's answer is cut where the real read would stop
    ca_file: Path | None = None
    record: CallbackRecord = field(init=False)

    def __post_init__(self) -> None:
        self.record = CallbackRecord(url=self.url)


# A fault hook answers in place of the user-detail API (a UserDetailResponse), raises CallbackFailed,
# or returns None to let the real call happen. It sets ``context.record.fault_id`` when it fires.
UserDetailInterceptor = Callable[[CallbackContext], Awaitable[UserDetailResponse | None]]


async def _no_interception(context: CallbackContext) -> UserDetailResponse | None:
    return None


def extract_email(document: Any, path: str) -> str | None:
    """The string at a dotted path such as ``user.email`` or ``data.attributes.mail``, if any."""
    node = document
    for segment in path.split("."):
        if not isinstance(node, dict) or segment not in node:
            return None
        node = node[segment]
    return node if isinstance(node, str) else None


class UserDetailVerifier:
    """Turns a subject token into an email by calling the client's user-detail API."""

    def __init__(
        self,
        http: UserDetailHttp,
        *,
        interceptor: UserDetailInterceptor = _no_interception,
        max_body_bytes: int = MAX_BODY_BYTES,
        rejecting_statuses: frozenset[int] = REJECTING_STATUSES,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.http = http
        self.interceptor = interceptor
        self.max_body_bytes = max_body_bytes
        self.rejecting_statuses = rejecting_statuses
        self.monotonic = monotonic

    async def email_for(self, client: ClientConfig, url: str, subject_token: str, records: list[CallbackRecord]) -> str:
        context = CallbackContext(
            client_id=client.client_id, subject_token=subject_token, url=url,
            timeout=client.timeout, email_field=client.email_field, max_bytes=self.max_body_bytes,
            ca_file=client.ca_file,
        )
        records.append(context.record)
        started = self.monotonic()
        try:
            response = await self._call(context, subject_token)
        except CallbackFailed as exc:
            context.record.error = f"{exc.kind}: {exc}"
            if isinstance(exc, CallbackTimedOut):
                raise UserDetailTimeout(f"the user-detail API did not answer within {client.timeout:g} s") from None
            if isinstance(exc, CallbackMalformed):
                raise UserDetailMalformed(f"the user-detail API sent a malformed answer ({exc})") from None
            raise UserDetailUnreachable(f"the user-detail API could not be reached ({exc})") from None
        finally:
            context.record.elapsed_ms = (self.monotonic() - started) * 1000
        context.record.status = response.status
        try:
            return self._email_from(response, client.email_field)
        except SimulatorError as exc:
            context.record.error = exc.message
            raise

    async def _call(self, context: CallbackContext, subject_token: str) -> UserDetailResponse:
        answer = await self.interceptor(context)
        if answer is not None:
            return answer
        headers = {"Authorization": f"Bearer {subject_token}", "Accept": "application/json"}
        ca_file = str(context.ca_file) if context.ca_file else None
        return await self.http.get(context.url, headers, context.timeout, context.max_bytes, ca_file=ca_file)

    def _email_from(self, response: UserDetailResponse, email_field: str) -> str:
        status = response.status
        if status in self.rejecting_statuses:
            raise SubjectTokenRejected(f"the user-detail API rejected the subject token with {status}")
        if status >= 500:
            raise UserDetailServerError(f"the user-detail API failed with {status}")
        if status != 200:
            where = response.headers.get("location")
            hint = f" redirecting to {where!r} (redirects are not followed)" if where and 300 <= status < 400 else ""
            raise UserDetailUnexpectedStatus(f"the user-detail API answered {status}{hint}; only 200 is accepted")
        if response.truncated:
            raise UserDetailTooLarge(f"the user-detail answer is larger than {self.max_body_bytes} bytes")
        try:
            document = json.loads(response.body)
        except (ValueError, UnicodeDecodeError):
            content_type = response.headers.get("content-type", "no content type")
            raise UserDetailNotJson(f"the user-detail answer is not JSON ({content_type}, {len(response.body)} bytes)") from None
        email = extract_email(document, email_field)
        if not email or "@" not in email:
            found = "a value that is not an email address" if email else "nothing"
            raise UserDetailEmailMissing(
                f"the user-detail answer has {found} at {email_field!r}; expected e.g. "
                + _example_for(email_field)
            )
        return email.strip()


def _example_for(path: str) -> str:
    example: Any = "user@yourcompany.com"
    for segment in reversed(path.split(".")):
        example = {segment: example}
    return json.dumps(example)
