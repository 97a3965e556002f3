"""Every failure the simulator can answer with: one exception class per row of the error table.

The hierarchy::

    SimulatorError                       (abstract: carries a row key, a message and what to show)
    ├── ValidationFailed                 a form field is missing, empty, repeated or wrong
    │   └── UnsupportedContentType, UnsupportedGrantType, InvalidScope
    ├── InvalidClient                    unknown client_id or wrong client_secret
    ├── GrantNotAllowed                  the client is not configured for this grant
    ├── SubjectTokenRejected             the user-detail API answered 401/403
    ├── UserDetailUnreachable / UserDetailTimeout / UserDetailServerError /
    │   UserDetailUnexpectedStatus / UserDetailNotJson / UserDetailEmailMissing /
    │   UserDetailTooLarge / UserDetailMalformed
    │                                    the user-detail callback failed in one specific way
    ├── ProfileNotFound                  the email matches no Spotnana profile
    ├── RateLimited                      too many requests
    ├── MethodNotAllowed, NotFound, RequestTooLarge, AdminForbidden, AdminBadRequest,
    │   AdminUnsupportedMediaType
    ├── SubjectJwtRejected               (abstract) model B: a partner-signed subject JWT failed verification
    │   ├── SubjectJwtMalformed          not a compact JWS (three base64url parts, JSON header and payload)
    │   ├── SubjectJwtAlgorithmRefused   header alg is not RS256 (none, HS256, ... are refused)
    │   ├── SubjectJwtUnknownKid         no kid, or no ACTIVE key with that kid
    │   ├── SubjectJwtSignatureInvalid   the signature does not verify with the key of that kid
    │   ├── SubjectJwtClaimInvalid       exp missing, or exp/iat/nbf not a NumericDate
    │   └── SubjectJwtExpired / SubjectJwtNotYetValid / SubjectJwtAudienceMismatch /
    │       SubjectJwtIssuerMismatch / SubjectJwtEmailMissing
    ├── PartnerJwksUnreachable / PartnerJwksTimeout / PartnerJwksMalformed   model B: the partner's JWKS
    ├── PartnerKeyConflict / PartnerKeyNotFound      the partner-public-keys API
    ├── ApiNotAuthenticated / ApiForbidden            Bearer-protected APIs (partner keys, api users)
    ├── EmbedTokenInvalid                the access token handed to the stand-in embedded app is not valid
    ├── EmbedMessageMalformed            its TOKEN_EXCHANGE_RESPONSE message does not have the documented shape
    ├── FaultAnswer                      a fault rule's forced answer (its own status and code, no row)
    └── InternalError                    the fallback; never expected

Each class names its row (``row_key``) of ``spotnana_sim.core.error_table.ERROR_TABLE``, the only place
a status or code is written; ``spotnana_sim.core.error_rendering.ErrorTable.render`` turns a failure
into an answer in either dialect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

# The dialect names are imported from here by most of the code that raises these errors.
from spotnana_sim.core.error_table import DIALECTS as DIALECTS
from spotnana_sim.core.error_table import RFC6749 as RFC6749
from spotnana_sim.core.error_table import SPOTNANA as SPOTNANA
from spotnana_sim.core.error_table import ErrorRow


@dataclass(frozen=True)
class ErrorParameter:
    name: str
    value: str


class SimulatorError(Exception):
    """Base of every error the simulator answers with. Subclasses pick their row of the table."""

    row_key: ClassVar[str] = "internal"

    def __init__(
        self,
        message: str,
        *,
        parameters: tuple[ErrorParameter, ...] = (),
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.parameters = parameters
        self.detail = detail
        self.headers = dict(headers or {})


class ValidationFailed(SimulatorError):
    row_key = "validation"

    def __init__(self, field: str, problem: str, *, accepted: str | None = None, received: str | None = None) -> None:
        message = f"{field}: {problem}"
        if accepted:
            message += f"; accepted: {accepted}"
        parameters = [ErrorParameter(name=field, value=received if received is not None else "")]
        super().__init__(message, parameters=tuple(parameters), detail=accepted)
        self.field = field


class UnsupportedContentType(ValidationFailed):
    row_key = "content_type"


class UnsupportedGrantType(ValidationFailed):
    row_key = "grant_type"


class InvalidScope(ValidationFailed):
    row_key = "scope"


class InvalidClient(SimulatorError):
    row_key = "invalid_client"


class GrantNotAllowed(SimulatorError):
    row_key = "grant_not_allowed"


class SubjectTokenRejected(SimulatorError):
    row_key = "subject_token_rejected"


class UserDetailUnreachable(SimulatorError):
    row_key = "user_detail_unreachable"


class UserDetailTimeout(SimulatorError):
    row_key = "user_detail_timeout"


class UserDetailServerError(SimulatorError):
    row_key = "user_detail_server_error"


class UserDetailUnexpectedStatus(SimulatorError):
    row_key = "user_detail_unexpected_status"


class UserDetailNotJson(SimulatorError):
    row_key = "user_detail_not_json"


class UserDetailEmailMissing(SimulatorError):
    row_key = "user_detail_email_missing"


class UserDetailTooLarge(SimulatorError):
    row_key = "user_detail_too_large"


class UserDetailMalformed(SimulatorError):
    row_key = "user_detail_malformed"


class ProfileNotFound(SimulatorError):
    row_key = "profile_not_found"


class RateLimited(SimulatorError):
    row_key = "rate_limited"


class MethodNotAllowed(SimulatorError):
    row_key = "method_not_allowed"


class NotFound(SimulatorError):
    row_key = "not_found"


class RequestTooLarge(SimulatorError):
    row_key = "request_too_large"


class AdminForbidden(SimulatorError):
    row_key = "admin_forbidden"


class AdminBadRequest(SimulatorError):
    row_key = "admin_bad_request"


class AdminUnsupportedMediaType(SimulatorError):
    row_key = "admin_unsupported_media_type"


class InternalError(SimulatorError):
    row_key = "internal"


# -- model B: partner-signed subject JWTs, the partner's JWKS, the partner-public-keys API

class SubjectJwtRejected(SimulatorError):
    """A model-B subject token failed verification. ``token_view`` is what the journal may keep of it:
    the unverified header and claims with the signature redacted (None when it could not be parsed)."""

    token_view: dict[str, Any] | None = None


class SubjectJwtMalformed(SubjectJwtRejected):
    row_key = "subject_jwt_malformed"


class SubjectJwtAlgorithmRefused(SubjectJwtRejected):
    row_key = "subject_jwt_algorithm"


class SubjectJwtUnknownKid(SubjectJwtRejected):
    row_key = "subject_jwt_unknown_kid"


class SubjectJwtSignatureInvalid(SubjectJwtRejected):
    row_key = "subject_jwt_signature"


class SubjectJwtClaimInvalid(SubjectJwtRejected):
    row_key = "subject_jwt_claim_invalid"


class SubjectJwtExpired(SubjectJwtRejected):
    row_key = "subject_jwt_expired"


class SubjectJwtNotYetValid(SubjectJwtRejected):
    row_key = "subject_jwt_not_yet_valid"


class SubjectJwtAudienceMismatch(SubjectJwtRejected):
    row_key = "subject_jwt_audience"


class SubjectJwtIssuerMismatch(SubjectJwtRejected):
    row_key = "subject_jwt_issuer"


class SubjectJwtEmailMissing(SubjectJwtRejected):
    row_key = "subject_jwt_email_missing"


class PartnerJwksUnreachable(SimulatorError):
    row_key = "partner_jwks_unreachable"


class PartnerJwksTimeout(SimulatorError):
    row_key = "partner_jwks_timeout"


class PartnerJwksMalformed(SimulatorError):
    row_key = "partner_jwks_malformed"


class PartnerKeyConflict(SimulatorError):
    row_key = "partner_key_conflict"


class PartnerKeyNotFound(SimulatorError):
    row_key = "partner_key_not_found"


class ApiNotAuthenticated(SimulatorError):
    """RFC 6750 §3: a 401 from a Bearer-protected resource carries a Bearer challenge."""

    row_key = "api_not_authenticated"

    def __init__(self, message: str, **more: Any) -> None:
        more.setdefault("headers", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        super().__init__(message, **more)


class ApiForbidden(SimulatorError):
    row_key = "api_forbidden"


# -- embed: the stand-in for Spotnana's embedded app (core/embed.py, server/embed.py)

class EmbedTokenInvalid(SimulatorError):
    """``reason`` is one of the ``REASON_*`` constants of ``spotnana_sim.core.embed``; also sent as errorParameter."""

    row_key = "embed_token_invalid"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, parameters=(ErrorParameter(name="reason", value=reason),))
        self.reason = reason


class EmbedMessageMalformed(SimulatorError):
    """``problems`` names each mistake; the message joins them."""

    row_key = "embed_message_malformed"

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__(". ".join(problems), parameters=(ErrorParameter(name="reason", value="malformed"),))
        self.problems = problems


class FaultAnswer(SimulatorError):
    """A fault rule's forced error answer: its status and code are the rule's, not a table row's."""

    row_key = "fault"

    def __init__(self, status: int, error_code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message, headers=headers)
        self.row = ErrorRow("fault", "a fault rule's answer", status, error_code, status, error_code.lower(), "")

