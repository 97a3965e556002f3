"""The stand-in for Spotnana's embedded app, framework-free: its settings, the postMessage protocol,
how the token handed over is checked, and its journal entries (how a message is judged: embed_message.py).

What Spotnana documents (FACTS.md §5, S3/S4) is followed exactly: the iframe URL carries
``idp=token-exchange-auth`` and ``orgId``; the iframe posts ``{"type":"TOKEN_EXCHANGE_REQUEST",
"from":"spotnana-embed"}`` to its parent and waits for ``{"type":"TOKEN_EXCHANGE_RESPONSE","payload":
{"accessToken","refreshToken"}}``; on failure it posts ``{"from":"spotnana-embed","type":
"TOKEN_EXCHANGE_ERROR","payload":{"errorCode":"INVALID_TOKEN","errorMessage"}}``; the partner's origin
must be allowed and ``http://localhost:3000`` is allowed by default. Everything else here is
*modeled* and labelled so where it is defined.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import jwt

from spotnana_sim.core.embed_config import DEFAULT_ALLOWED_ORIGINS, REQUEST_TARGETS, EmbedConfig, normalize_origin
from spotnana_sim.core.errors import EmbedTokenInvalid
from spotnana_sim.core.redaction import redact, shorten
from spotnana_sim.core.settings import org_id_for_client
from spotnana_sim.core.tokens import InvalidRefreshToken, TokenIssuer

__all__ = [
    "DEFAULT_ALLOWED_ORIGINS",
    "EMBED_FROM",
    "EMBED_STEPS",
    "REQUEST_TARGETS",
    "TOKEN_EXCHANGE_AUTH_IDP",
    "EmbedConfig",
    "EmbedFault",
    "EmbedFaults",
    "EmbedSession",
    "check_embed_token",
    "embed_journal_entry",
    "normalize_origin",
    "org_id_for_client",
]

# -- the protocol, as documented (S3) -------------------------------------------------------------
TOKEN_EXCHANGE_AUTH_IDP = "token-exchange-auth"
EMBED_FROM = "spotnana-embed"
REQUEST_TYPE = "TOKEN_EXCHANGE_REQUEST"
RESPONSE_TYPE = "TOKEN_EXCHANGE_RESPONSE"
ERROR_TYPE = "TOKEN_EXCHANGE_ERROR"
INVALID_TOKEN = "INVALID_TOKEN"

# -- modeled ---------------------------------------------------------------------------------------
# The settings ([embed]: allowed origins, timeouts, request target) live in embed_config.py.
MAX_TOKEN_CHARS = 8192  # our tokens are well under 2 KiB; anything longer is not one of them

# Reasons a token is refused (EmbedTokenInvalid.reason, the errorParameter "reason").
REASON_MALFORMED = "malformed"
REASON_EXPIRED = "expired"
REASON_SIGNATURE = "signature"
REASON_ISSUER = "issuer"
REASON_NO_USER = "no_user"
REASON_NO_ORG = "no_org"
REASON_WRONG_ORG = "wrong_org"
REASON_REFRESH_TOKEN = "refresh_token"
REASON_REFUSED = "refused"  # a fault rule made the app refuse a valid token

#: Every step the journal records for the embedded app (entries of kind "embed"): a stable contract.
EMBED_STEPS: dict[str, str] = {
    "page_served": "the simulator served /embed/… (outcome error when idp or orgId is wrong)",
    "request_sent": "the page posted TOKEN_EXCHANGE_REQUEST to its parent (detail.renewal, detail.count)",
    "message_rejected": "a message from an origin that is not allowed, or not from the parent window, was ignored",
    "message_ignored": "a message that is no answer (another type), or an answer the page no longer waited for",
    "response_malformed": "the answer does not have the documented shape; message names the mistake",
    "response_accepted": "the answer's tokens are valid: the page is signed in",
    "token_refused": "the answer's tokens are not valid (reason: expired, signature, wrong_org, ...)",
    "error_posted": "the page posted TOKEN_EXCHANGE_ERROR to its parent",
    "timeout": "no answer within the handshake timeout",
    "late_response": "an answer arrived after the timeout (ignored)",
    "token_expired": "the signed-in token expired by the simulator's clock; the page asks again",
    "not_framed": "the page was opened outside an iframe",
}
PAGE_REPORTED_STEPS = frozenset(
    {"request_sent", "message_rejected", "message_ignored", "timeout", "late_response", "error_posted", "not_framed"}
)


# -- faults (harness.faults.FaultBook implements EmbedFaults for the fault target "embed") ---------


@dataclass(frozen=True)
class EmbedFault:
    """What a fired ``embed`` fault rule changes. Page faults apply at load, token faults at the check."""

    rule_id: str
    refuse_token: bool = False  # the app refuses a token that is valid
    request_delay: float = 0.0  # seconds the page waits before sending TOKEN_EXCHANGE_REQUEST
    request_count: int = 1  # how many TOKEN_EXCHANGE_REQUEST messages it sends (2: twice)


class EmbedFaults(Protocol):
    def for_page(self, org_id: str | None) -> EmbedFault | None:
        """Consulted once per page load (request_delay, request_count)."""

    def for_token(self, org_id: str | None, client_id: str | None) -> EmbedFault | None:
        """Consulted once per valid token in a well-formed answer (refuse_token)."""


# -- checking the token ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbedSession:
    """What a valid access token tells the embedded app."""

    email: str
    subject: str
    client_id: str | None
    org_id: str
    expires_at: int

    def expires_in(self, now: float) -> int:
        return max(0, int(self.expires_at - now))


def _iso(timestamp: float) -> str:
    try:
        return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return f"{timestamp:.0f}"


def _looks_like_refresh_token(token: str) -> bool:
    return token.count(".") == 4 or token.startswith("eyJjdHki")  # a JWE; '{"cty":' header


def check_embed_token(
    issuer: TokenIssuer, token: object, org_id: str | None, now: float, *, refresh_token: object = None
) -> EmbedSession:
    """The session a token hands the embedded app, or :class:`EmbedTokenInvalid` saying what is wrong.

    Valid means: signed by one of this simulator's published keys and issued by it, not expired at
    ``now`` (the simulator's clock), naming a user, and for ``org_id`` by its ``org_id`` claim
    (modeled; a token without the claim does not match). With ``refresh_token`` (modeled), it must be
    a refresh token this simulator issued to the same client for the same user.
    """
    if not isinstance(token, str) or not token.strip():
        raise EmbedTokenInvalid("payload.accessToken is empty", reason=REASON_MALFORMED)
    if len(token) > MAX_TOKEN_CHARS:
        raise EmbedTokenInvalid(f"payload.accessToken is longer than {MAX_TOKEN_CHARS} characters", reason=REASON_MALFORMED)
    if _looks_like_refresh_token(token):
        raise EmbedTokenInvalid(
            "payload.accessToken holds a refresh token (an encrypted JWE); put the access_token of the token response there",
            reason=REASON_MALFORMED,
        )
    try:
        claims = issuer.verify_access_token(token)
    except jwt.ExpiredSignatureError:
        raise EmbedTokenInvalid(_expired_message(token, now), reason=REASON_EXPIRED) from None
    except jwt.InvalidIssuerError:
        raise EmbedTokenInvalid(
            f"the access token was issued by someone else, not this simulator ({issuer.issuer})", reason=REASON_ISSUER
        ) from None
    except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
        raise EmbedTokenInvalid(_signature_message(), reason=REASON_SIGNATURE) from None
    except jwt.DecodeError:
        raise EmbedTokenInvalid(
            "payload.accessToken is not a JWT: pass the access_token of the token response unchanged", reason=REASON_MALFORMED
        ) from None
    except jwt.InvalidTokenError as exc:
        if "kid" in str(exc):
            raise EmbedTokenInvalid(_signature_message(), reason=REASON_SIGNATURE) from None
        raise EmbedTokenInvalid(f"the access token is not valid: {shorten(str(exc))}", reason=REASON_MALFORMED) from None
    if claims["exp"] <= now:
        raise EmbedTokenInvalid(_expired_message(token, now), reason=REASON_EXPIRED)
    email = claims.get("email")
    if not isinstance(email, str) or not email:
        raise EmbedTokenInvalid(
            "the access token names no user (no email): a client_credentials token cannot sign anyone in; "
            "hand over the token from a token exchange for the signed-in user",
            reason=REASON_NO_USER,
        )
    client_id = claims.get("client_id") if isinstance(claims.get("client_id"), str) else None
    token_org = claims.get("org_id")
    if not org_id:
        raise EmbedTokenInvalid("the iframe URL has no orgId, so the token cannot be matched with an org", reason=REASON_NO_ORG)
    if not isinstance(token_org, str) or not token_org:
        raise EmbedTokenInvalid(
            f"the access token carries no org_id claim, so it cannot be for orgId={shorten(org_id, 60)}", reason=REASON_NO_ORG
        )
    if token_org.lower() != org_id.lower():
        raise EmbedTokenInvalid(
            f"the access token is for org {shorten(token_org, 60)} (client {shorten(str(client_id), 60)}), but the iframe URL "
            f"says orgId={shorten(org_id, 60)}: put your client's org id in the iframe URL",
            reason=REASON_WRONG_ORG,
        )
    if refresh_token is not None:
        _check_refresh_token(issuer, refresh_token, client_id, claims["sub"])
    return EmbedSession(email=email, subject=claims["sub"], client_id=client_id, org_id=token_org, expires_at=claims["exp"])


def _signature_message() -> str:
    return (
        "the access token's signature does not verify with this simulator's published keys (/.well-known/jwks.json): "
        "it was issued elsewhere, altered, or signed by a key rotated out"
    )


def _expired_message(token: str, now: float) -> str:
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.InvalidTokenError:
        exp = None
    when = f" at {_iso(exp)}" if isinstance(exp, int) and not isinstance(exp, bool) else ""
    return f"the access token expired{when} (simulator time {_iso(now)}): get a fresh one from your backend"


def _check_refresh_token(issuer: TokenIssuer, token: object, client_id: str | None, subject: str) -> None:
    if not isinstance(token, str) or not token.strip():
        raise EmbedTokenInvalid("payload.refreshToken is empty", reason=REASON_REFRESH_TOKEN)
    if token.count(".") == 2:
        raise EmbedTokenInvalid(
            "payload.refreshToken holds an access token (a signed JWT); put the refresh_token of the token response there",
            reason=REASON_REFRESH_TOKEN,
        )
    try:
        grant = issuer.read_refresh_token(token, client_id=client_id)
    except InvalidRefreshToken as exc:
        raise EmbedTokenInvalid(
            f"payload.refreshToken is not a refresh token this simulator issued with the access token ({exc.reason})",
            reason=REASON_REFRESH_TOKEN,
        ) from None
    if grant.subject != subject:
        raise EmbedTokenInvalid("payload.refreshToken belongs to another user than payload.accessToken", reason=REASON_REFRESH_TOKEN)


# -- the journal -----------------------------------------------------------------------------------

OUTCOMES = ("ok", "rejected", "ignored", "error")


def embed_journal_entry(
    step: str,
    now: float,
    *,
    outcome: str,
    page: str | None = None,
    org_id: str | None = None,
    origin: str | None = None,
    message: str | None = None,
    reason: str | None = None,
    client_id: str | None = None,
    email: str | None = None,
    access_token: str | None = None,
    fault_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One journal entry of kind ``embed``. Tokens appear redacted; page-supplied text is shortened."""
    if step not in EMBED_STEPS:
        raise ValueError(f"unknown embed step {step!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    entry: dict[str, Any] = {
        "kind": "embed",
        "timestamp": now,
        "time": _iso(now),
        "step": step,
        "outcome": outcome,
        "page": page,
        "org_id": shorten(org_id, 80) if org_id is not None else None,
        "origin": shorten(origin, 200) if origin is not None else None,
        "client_id": client_id,
        "email": email,
        "reason": reason,
        "message": shorten(message, 500) if message is not None else None,
        "access_token": redact(access_token) if access_token else None,
        "fault_id": fault_id,
    }
    if detail:
        entry["detail"] = dict(detail)
    return entry
