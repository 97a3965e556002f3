"""The token endpoint's behaviour, free of any web framework: one request in, one outcome out.

Order matters and is Spotnana's contract as we read it: the body is parsed and validated, the client
is authenticated (constant time) *before* the subject token is used for anything, then the
user-detail API is called, the email matched to a profile, and tokens issued. Every request, whatever
becomes of it, leaves exactly one journal entry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from spotnana_sim.core.clients import ClientRegistry
from spotnana_sim.core.clock import Clock
from spotnana_sim.core.error_rendering import ErrorTable
from spotnana_sim.core.errors import (
    RFC6749,
    FaultAnswer,
    InternalError,
    MethodNotAllowed,
    ProfileNotFound,
    RateLimited,
    RequestTooLarge,
    SimulatorError,
    ValidationFailed,
)
from spotnana_sim.core.partner_identity import PartnerJwtRecord, PartnerJwtVerifier
from spotnana_sim.core.profiles import ProfileDirectory
from spotnana_sim.core.protocol import ACCESS_TOKEN_TYPE, NO_STORE_HEADERS, TOKEN_ENDPOINT_PATH, TOKEN_EXCHANGE_GRANT
from spotnana_sim.core.rate_limit import RateLimiter
from spotnana_sim.core.redaction import redact_fields, redact_url
from spotnana_sim.core.settings import JWT_IDENTITY
from spotnana_sim.core.token_request import CLIENT_FIELDS, Form, TokenRequest, first_value, parse_form, validate
from spotnana_sim.core.tokens import TokenIssuer
from spotnana_sim.core.user_detail import CallbackRecord, UserDetailVerifier
from spotnana_sim.harness.faults import FaultBook, TokenFault, TokenRequestContext
from spotnana_sim.harness.journal import Journal
from spotnana_sim.harness.journal_entry import JournalEntry, UserDetailCall

MAX_BODY_BYTES = 16 * 1024  # a token request is a few hundred bytes; anything far larger is abuse

log = logging.getLogger("spotnana_sim.exchange")

# Error codes a fault answer gets when its rule names a status but no errorCode.
DEFAULT_FAULT_CODES = {429: "TOO_MANY_REQUESTS", 500: "INTERNAL_SERVER_ERROR", 502: "BAD_GATEWAY",
                       503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    content_type: str | None
    body: bytes
    path: str = TOKEN_ENDPOINT_PATH
    body_too_large: bool = False  # the web layer stopped reading at its cap
    query: str = ""  # recorded so a grader can see secrets sent in the URL
    basic_auth: bool = False  # an Authorization: Basic header came, which Spotnana does not take
    base_url: str | None = None  # scheme://host[:port] the request arrived on


@dataclass
class Outcome:
    status: int
    body: Any  # a JSON-ready value, or str/bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    connection_fault: str | None = None  # the web layer breaks the connection this way instead
    error_code: str | None = None
    entry: JournalEntry | None = None


class TokenEndpoint:
    def __init__(
        self,
        *,
        clients: ClientRegistry,
        profiles: ProfileDirectory,
        verifier: UserDetailVerifier,
        issuer: TokenIssuer,
        journal: Journal,
        faults: FaultBook,
        errors: ErrorTable,
        dialect: str,
        clock: Clock,
        embedded_user_detail_url: str,
        base_url: str = "",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rate_limiter: RateLimiter | None = None,
        verifies_tls: bool = True,
        partner_verifier: PartnerJwtVerifier | None = None,
    ) -> None:
        self.partner_verifier = partner_verifier
        self.rate_limiter = rate_limiter
        self.verifies_tls = verifies_tls
        self.clients = clients
        self.profiles = profiles
        self.verifier = verifier
        self.issuer = issuer
        self.journal = journal
        self.faults = faults
        self.errors = errors
        self.dialect = dialect
        self.clock = clock
        self.embedded_user_detail_url = embedded_user_detail_url
        self.base_url = base_url.rstrip("/")
        self.sleep = sleep

    async def handle(self, request: IncomingRequest) -> Outcome:
        started = time.perf_counter()
        now = self.clock.now()
        entry = JournalEntry(
            id=self.journal.reserve_id(),
            timestamp=now,
            time=datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
            method=request.method,
            path=request.path,
            content_type=request.content_type,
            query_fields=redact_fields(parse_qs(request.query, keep_blank_values=True)) if request.query else {},
            user_detail_tls_verified=self.verifies_tls,
        )
        records: list[CallbackRecord] = []
        try:
            outcome = await self._answer(request, entry, records)
        except SimulatorError as error:
            outcome = self._error_outcome(error, request, entry)
        except Exception:  # a bug: answer like a server would, keep the trace in the server log only
            log.exception("unexpected failure while answering a token request")
            outcome = self._error_outcome(InternalError("unexpected failure inside the simulator"), request, entry)
        entry.user_detail_calls = [
            UserDetailCall(url=redact_url(r.url), status=r.status, elapsed_ms=round(r.elapsed_ms, 2), error=r.error,
                           fault_id=r.fault_id)
            for r in records
        ]
        entry.status = None if outcome.connection_fault else outcome.status
        entry.error_code = entry.error_code or outcome.error_code
        entry.connection_fault = outcome.connection_fault
        entry.elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        # Kept so a client grader can tell whether a retry came before the server said it might.
        entry.retry_after = next((v for k, v in outcome.headers.items() if k.lower() == "retry-after"), None)
        outcome.entry = self.journal.record(entry)
        return outcome

    async def _answer(self, request: IncomingRequest, entry: JournalEntry, records: list[CallbackRecord]) -> Outcome:
        form: Form = {}
        parse_error: SimulatorError | None = None
        if request.body_too_large:
            parse_error = RequestTooLarge(f"the request body is larger than the {MAX_BODY_BYTES // 1024} KiB limit")
        elif request.method != "POST":
            parse_error = MethodNotAllowed(
                f"{request.method} is not allowed on {TOKEN_ENDPOINT_PATH}; use POST", headers={"Allow": "POST"}
            )
        else:
            try:
                form = parse_form(request.content_type, request.body)
            except SimulatorError as error:
                parse_error = error
        entry.form = redact_fields(form)
        entry.client_id = first_value(form, "client_id")
        entry.grant_type = first_value(form, "grant_type")

        fault = self.faults.for_token_request(
            TokenRequestContext(
                client_id=entry.client_id, subject_token=first_value(form, "subject_token"), grant_type=entry.grant_type
            )
        )
        if fault is not None:
            entry.fault_id = fault.rule_id
            if fault.delay > 0:
                await self.sleep(fault.delay)
            if fault.connection:
                entry.error_code = f"connection:{fault.connection}"
                return Outcome(status=200, body=None, connection_fault=fault.connection)
            if fault.answer is not None:
                return self._fault_outcome(fault, request, entry)
        if self.rate_limiter is not None:
            wait = self.rate_limiter.retry_after(entry.client_id)
            if wait is not None:
                raise RateLimited(
                    f"too many token requests for this client; retry in {wait} s and reuse tokens until they expire",
                    headers={"Retry-After": str(wait)},
                )
        if parse_error is not None:
            raise parse_error
        try:
            token_request = validate(form)
        except ValidationFailed as error:
            if error.field in CLIENT_FIELDS and request.basic_auth:
                # Authlib and requests-oauthlib default to HTTP Basic: say why their credentials are unseen.
                raise ValidationFailed(
                    error.field, "is required in the form body: Spotnana takes the client credentials as form "
                    "fields (client_secret_post), so HTTP Basic authentication is not accepted",
                    accepted="client_id and client_secret as form fields",
                ) from None
            raise
        return await self._exchange(token_request, entry, records, fault, request.base_url)

    def _issuer_for(self, request_base: str | None) -> str | None:
        """The iss of a token: the configured issuer, else where the request arrived."""
        return None if self.issuer.issuer_is_fixed else request_base

    async def _exchange(
        self, request: TokenRequest, entry: JournalEntry, records: list[CallbackRecord], fault: TokenFault | None,
        request_base: str | None,
    ) -> Outcome:
        client = self.clients.authenticate(request.client_id, request.client_secret, request.grant_type)
        lifetime = fault.expires_in if fault and fault.expires_in is not None else self.issuer.access_lifetime
        issued_at = self.clock.now()
        if fault and fault.expired:
            issued_at -= lifetime + 60  # already a minute past its exp when it leaves
        if request.grant_type != TOKEN_EXCHANGE_GRANT:
            access = self.issuer.issue_access_token(
                client_id=client.client_id, subject=client.client_id, audience=request.audience,
                lifetime=lifetime, issued_at=issued_at, org_id=client.org_id, issuer=self._issuer_for(request_base),
                generation=self.clients.generation(client.client_id),
            )
            entry.subject, entry.jti, entry.expires_at = client.client_id, access.claims["jti"], access.claims["exp"]
            body = {"access_token": access.token, "expires_in": lifetime, "token_type": "Bearer"}
            return Outcome(status=200, body=body, headers=dict(NO_STORE_HEADERS))

        assert request.subject_token is not None and request.subject_token_type is not None
        if request.subject_token_type not in client.accepted_subject_token_types:
            accepted = " or ".join(sorted(client.accepted_subject_token_types))
            raise ValidationFailed(
                "subject_token_type", f"{request.subject_token_type!r} is not accepted for client "
                f"{client.client_id!r} (identity model {client.identity})", accepted=accepted,
                received=request.subject_token_type,
            )
        if client.identity == JWT_IDENTITY and self.partner_verifier is not None:
            record = PartnerJwtRecord()
            try:
                email = await self.partner_verifier.email_for(client, request.subject_token, record)
            finally:
                entry.partner_jwt = record.as_dict()
            source = "the subject JWT"
        else:
            url = client.user_detail_url or self.embedded_user_detail_url
            email = await self.verifier.email_for(client, url, request.subject_token, records)
            source = "the user-detail API"
        entry.email = email
        profile = self.profiles.find(email)
        if profile is None:
            raise ProfileNotFound(f"no Spotnana profile has the email {email!r} given by {source}")
        access = self.issuer.issue_access_token(
            client_id=client.client_id, subject=profile.user_id, email=profile.email, scope=request.scope,
            audience=request.audience, lifetime=lifetime, issued_at=issued_at, org_id=client.org_id,
            issuer=self._issuer_for(request_base), generation=self.clients.generation(client.client_id),
        )
        refresh = self.issuer.issue_refresh_token(
            client_id=client.client_id, subject=profile.user_id, email=profile.email, scope=request.scope
        )
        entry.subject, entry.jti, entry.expires_at = profile.user_id, access.claims["jti"], access.claims["exp"]
        body = {
            "access_token": access.token,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": request.scope,
        }
        if self.dialect == RFC6749:
            body["issued_token_type"] = ACCESS_TOKEN_TYPE  # RFC 8693 §2.2.1 requires it; Spotnana's sample lacks it
        return Outcome(status=200, body=body, headers=dict(NO_STORE_HEADERS))

    def _error_outcome(self, error: SimulatorError, request: IncomingRequest, entry: JournalEntry) -> Outcome:
        debug_identifier = f"{request.base_url or self.base_url}/_sim/journal/{entry.id}"
        rendered = self.errors.render(error, self.dialect, debug_identifier=debug_identifier)
        if self.dialect != RFC6749:
            entry.debug_identifier = debug_identifier
        headers = {**rendered.headers, **NO_STORE_HEADERS}
        return Outcome(status=rendered.status, body=rendered.body, headers=headers, error_code=rendered.error_code)

    def _fault_outcome(self, fault: TokenFault, request: IncomingRequest, entry: JournalEntry) -> Outcome:
        answer = fault.answer
        assert answer is not None
        code = answer.error_code or DEFAULT_FAULT_CODES.get(answer.status)
        entry.error_code = code
        if answer.body is None and answer.status >= 400:
            error = FaultAnswer(answer.status, code or "ERROR", f"fault rule {fault.rule_id} answered {answer.status}",
                                headers=answer.headers)
            outcome = self._error_outcome(error, request, entry)
            outcome.error_code = None  # the journal keeps the rule's code, whichever the dialect
            return outcome
        return Outcome(status=answer.status, body=answer.body, headers={**NO_STORE_HEADERS, **answer.headers})
