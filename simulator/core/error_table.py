"""The error table: which status and code every failure gets, in both wire dialects, written once.

Rows marked documented follow Spotnana's public pages; the rest are *modeled* (Spotnana does not
publish them) and can be overridden per row through the ``[errors.modeled]`` config table (the table
in force, with those overrides, is ``spotnana_sim.core.error_rendering.ErrorTable``). The failures
themselves, one exception class per row, are in ``spotnana_sim.core.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SPOTNANA = "spotnana"  # Spotnana's documented error envelope (S11), the default
RFC6749 = "rfc6749"  # RFC 6749 §5.2 errors, an extension for standard OAuth clients
DIALECTS = (SPOTNANA, RFC6749)


@dataclass(frozen=True)
class ErrorRow:
    """One line of the error table: the answer in both dialects, and where it comes from."""

    key: str
    failure: str
    status: int
    error_code: str
    rfc_status: int
    rfc_error: str
    documented: str  # what of the Spotnana answer is documented; "" when the row is modeled

    @property
    def modeled(self) -> bool:
        return not self.documented


def _row(
    key: str, failure: str, status: int, code: str, rfc_status: int, rfc_error: str, documented: str = ""
) -> ErrorRow:
    return ErrorRow(key, failure, status, code, rfc_status, rfc_error, documented)


# fmt: off
ERROR_TABLE: dict[str, ErrorRow] = {row.key: row for row in (
    _row("validation", "form field missing, empty, repeated, too long, or not the accepted value",
         400, "API_VALIDATION_FAILED", 400, "invalid_request", "status and errorCode (S11: body does not match the schema)"),
    _row("content_type", "body not application/x-www-form-urlencoded (JSON, multipart, none)",
         400, "API_VALIDATION_FAILED", 400, "invalid_request", "status and errorCode (S11)"),
    _row("grant_type", "grant_type is not token-exchange or client_credentials",
         400, "API_VALIDATION_FAILED", 400, "unsupported_grant_type", "status and errorCode (S11)"),
    _row("scope", "scope is not openid",
         400, "API_VALIDATION_FAILED", 400, "invalid_scope", "status and errorCode (S11)"),
    # rfc6749 400, not 401: RFC 6749 §5.2 allows it when the client did not authenticate through the
    # Authorization header, and a 401 needs a challenge that would name a scheme Spotnana refuses.
    _row("invalid_client", "unknown client_id or wrong client_secret",
         403, "INVALID_CLIENT_CREDENTIALS", 400, "invalid_client", "status only (S6: 403 is the only declared error)"),
    _row("grant_not_allowed", "the client is not configured for this grant",
         403, "GRANT_NOT_ALLOWED", 400, "unauthorized_client"),
    _row("subject_token_rejected", "user-detail API answered 401 or 403 to the subject token",
         401, "USER_NOT_AUTHENTICATED", 400, "invalid_request", "status and errorCode (S11 sample 401)"),
    _row("user_detail_unreachable", "user-detail API refused the connection or could not be resolved",
         502, "USER_DETAIL_UNREACHABLE", 503, "temporarily_unavailable"),
    _row("user_detail_timeout", "user-detail API did not answer within the client's timeout",
         504, "USER_DETAIL_TIMEOUT", 503, "temporarily_unavailable"),
    _row("user_detail_server_error", "user-detail API answered 5xx",
         502, "USER_DETAIL_SERVER_ERROR", 503, "temporarily_unavailable"),
    _row("user_detail_unexpected_status", "user-detail API answered another non-200 status (404, 3xx redirect, ...)",
         502, "USER_DETAIL_UNEXPECTED_STATUS", 400, "invalid_request"),
    _row("user_detail_not_json", "user-detail API answered 200 with a body that is not JSON",
         502, "USER_DETAIL_INVALID_RESPONSE", 400, "invalid_request"),
    _row("user_detail_email_missing", "user-detail JSON has no email string at the mapped field",
         502, "USER_DETAIL_EMAIL_MISSING", 400, "invalid_request"),
    _row("user_detail_too_large", "user-detail body exceeds the read cap",
         502, "USER_DETAIL_RESPONSE_TOO_LARGE", 400, "invalid_request"),
    _row("user_detail_malformed", "user-detail API sent an answer that is not valid HTTP "
         "(malformed status line or headers, too many or too large headers, a body cut short)",
         502, "USER_DETAIL_MALFORMED_RESPONSE", 503, "temporarily_unavailable"),
    _row("profile_not_found", "the email matches no Spotnana profile",
         403, "USER_NOT_FOUND", 400, "invalid_grant"),
    _row("rate_limited", "rate limit hit",
         429, "TOO_MANY_REQUESTS", 429, "temporarily_unavailable", "status and errorCode (S11)"),
    _row("method_not_allowed", "HTTP method other than POST on the token endpoint",
         405, "METHOD_NOT_ALLOWED", 405, "invalid_request"),
    _row("not_found", "no such route",
         404, "NOT_FOUND", 404, "not_found"),
    _row("request_too_large", "request body over the size cap",
         413, "PAYLOAD_TOO_LARGE", 413, "invalid_request"),
    _row("admin_forbidden", "admin API called without the admin token",
         403, "ADMIN_FORBIDDEN", 403, "access_denied"),
    _row("admin_bad_request", "admin API request body is not valid",
         400, "API_VALIDATION_FAILED", 400, "invalid_request"),
    _row("admin_unsupported_media_type", "admin API request body is not application/json",
         415, "UNSUPPORTED_MEDIA_TYPE", 415, "invalid_request"),
    _row("internal", "unexpected failure inside the simulator (a bug: please report it)",
         500, "INTERNAL_SERVER_ERROR", 500, "server_error"),

    # -- model B: partner-signed subject JWTs, the partner's JWKS, the partner-public-keys API ---------
    # Model-B failures answer 401 in the spotnana dialect and 400 invalid_request in the rfc6749 one
    # (RFC 8693 §2.2.2: an invalid subject_token is an invalid_request). Only USER_NOT_AUTHENTICATED is
    # a documented code here (S11 sample 401); every other status and code in this block is modeled.
    _row("subject_jwt_malformed", "model B: the subject token is not a JWT (three base64url parts, JSON header and payload)",
         401, "SUBJECT_TOKEN_MALFORMED", 400, "invalid_request"),
    _row("subject_jwt_algorithm", "model B: the subject JWT is not signed with RS256 (none, HS256 and others are refused)",
         401, "SUBJECT_TOKEN_ALGORITHM_NOT_ALLOWED", 400, "invalid_request"),
    _row("subject_jwt_unknown_kid", "model B: the subject JWT has no kid, or no ACTIVE partner key has that kid",
         401, "SUBJECT_TOKEN_KEY_UNKNOWN", 400, "invalid_request"),
    _row("subject_jwt_signature", "model B: the subject JWT's signature does not verify with the partner key of its kid",
         401, "SUBJECT_TOKEN_SIGNATURE_INVALID", 400, "invalid_request"),
    _row("subject_jwt_claim_invalid", "model B: the subject JWT has no exp, or exp/iat/nbf is not a number of seconds",
         401, "SUBJECT_TOKEN_CLAIM_INVALID", 400, "invalid_request"),
    _row("subject_jwt_expired", "model B: the subject JWT's exp has passed (beyond the leeway)",
         401, "SUBJECT_TOKEN_EXPIRED", 400, "invalid_request"),
    _row("subject_jwt_not_yet_valid", "model B: the subject JWT's iat or nbf is in the future (beyond the leeway)",
         401, "SUBJECT_TOKEN_NOT_YET_VALID", 400, "invalid_request"),
    _row("subject_jwt_audience", "model B: the subject JWT's aud does not contain the expected audience",
         401, "SUBJECT_TOKEN_AUDIENCE_INVALID", 400, "invalid_request"),
    _row("subject_jwt_issuer", "model B: the subject JWT's iss is not the expected issuer",
         401, "SUBJECT_TOKEN_ISSUER_INVALID", 400, "invalid_request"),
    _row("subject_jwt_email_missing", "model B: the subject JWT has no email at the mapped claim",
         401, "SUBJECT_TOKEN_EMAIL_MISSING", 400, "invalid_request"),
    _row("partner_jwks_unreachable", "model B: the partner's JWKS URL refused the connection, could not be resolved, "
         "or answered other than 200",
         502, "PARTNER_JWKS_UNREACHABLE", 503, "temporarily_unavailable"),
    _row("partner_jwks_timeout", "model B: the partner's JWKS URL did not answer within the client's timeout",
         504, "PARTNER_JWKS_TIMEOUT", 503, "temporarily_unavailable"),
    _row("partner_jwks_malformed", "model B: the partner's JWKS is not JSON, not a JWK Set, too large, publishes "
         "private key material, or has no usable RS256 key",
         502, "PARTNER_JWKS_INVALID", 503, "temporarily_unavailable"),
    _row("partner_key_conflict", "partner-public-keys: the kid is already ACTIVE for this company",
         409, "PARTNER_KEY_ALREADY_EXISTS", 409, "invalid_request"),
    _row("partner_key_not_found", "partner-public-keys: no ACTIVE key with this kid for this company",
         404, "PARTNER_KEY_NOT_FOUND", 404, "not_found"),
    _row("api_not_authenticated", "Bearer-protected API: no access token, or a malformed, expired or revoked one",
         401, "USER_NOT_AUTHENTICATED", 401, "invalid_token", "status and errorCode (S11 sample 401)"),
    _row("api_forbidden", "Bearer-protected API: the access token belongs to another company or lacks the role",
         403, "PERMISSION_DENIED", 403, "insufficient_scope"),

    # -- embed: the stand-in for Spotnana's embedded app (core/embed.py, server/embed.py) -------------
    # These answer the stand-in page's own calls to the simulator. The errorCode is the one Spotnana
    # documents for the iframe's TOKEN_EXCHANGE_ERROR message (S3), which the page forwards to the parent;
    # the HTTP statuses are modeled (the real embedded app's internals are not public).
    _row("embed_token_invalid", "embedded app: the access token handed over is not valid "
         "(signature, expiry, org, user, refresh token)",
         401, "INVALID_TOKEN", 401, "invalid_token", "errorCode (S3: the TOKEN_EXCHANGE_ERROR payload)"),
    _row("embed_message_malformed", "embedded app: the TOKEN_EXCHANGE_RESPONSE message does not have the documented shape",
         400, "INVALID_TOKEN", 400, "invalid_request", "errorCode (S3: the TOKEN_EXCHANGE_ERROR payload)"),
)}
# fmt: on


def error_table_markdown(rows: Mapping[str, ErrorRow] = ERROR_TABLE) -> str:
    """The table as printed in the manual's error reference (tests check the page matches it)."""
    lines = [
        "| failure | key | spotnana dialect | rfc6749 dialect | source |",
        "|---|---|---|---|---|",
    ]
    for row in rows.values():
        source = f"documented: {row.documented}" if row.documented else "modeled"
        lines.append(
            f"| {row.failure} | `{row.key}` | {row.status} `{row.error_code}` | {row.rfc_status} `{row.rfc_error}` | {source} |"
        )
    return "\n".join(lines)
