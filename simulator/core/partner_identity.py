"""Who is the user behind a subject token, identity model B: a JWT the partner signed (FACTS §3).

The key that must have signed it is looked up first among the keys registered for the client's
company (``POST /v2/companies/{companyId}/partner-public-keys``), then in the partner's JWKS when the
client names one (``jwks_url``). Everything the token must satisfy is checked by
:mod:`spotnana_sim.core.partner_jwt`; this module only picks the keys and keeps the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from spotnana_sim.core.errors import SubjectJwtRejected
from spotnana_sim.core.partner_jwks import JwksCache, JwksFetchRecord
from spotnana_sim.core.partner_jwt import JwtExpectations, PartnerKey, averify_partner_jwt
from spotnana_sim.core.partner_keys import PartnerKeyRegistry
from spotnana_sim.core.settings import ClientConfig


class _Clock(Protocol):
    def now(self) -> float: ...


@dataclass
class PartnerJwtRecord:
    """What the journal keeps of one model-B identity check."""

    token: dict[str, Any] | None = None  # header, claims, redacted signature, the key that verified it
    fetches: list[JwksFetchRecord] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "jwks_fetches": [fetch.as_dict() for fetch in self.fetches],
            "error": self.error,
        }


class PartnerJwtVerifier:
    """Turns a partner-signed subject JWT into an email, or raises the error that says what is wrong."""

    def __init__(self, jwks: JwksCache, registry: PartnerKeyRegistry, clock: _Clock) -> None:
        self.jwks = jwks
        self.registry = registry
        self.clock = clock

    async def email_for(self, client: ClientConfig, token: str, record: PartnerJwtRecord) -> str:
        async def key_for(kid: str) -> PartnerKey | None:
            registered = self.registry.find_active(client.org_id, kid)
            if registered is not None or not client.jwks_url:
                return registered
            return await self.jwks.key_for(client.jwks_url, kid, record.fetches)

        expect = JwtExpectations(
            audience=client.audience, issuer=client.jwt_issuer, email_claim=client.email_claim,
            leeway=client.jwt_leeway,
        )
        try:
            verified = await averify_partner_jwt(token, key_for, expect, self.clock)
        except SubjectJwtRejected as exc:
            record.token = exc.token_view
            record.error = exc.message
            raise
        except Exception as exc:  # the JWKS could not be had: the fetch record says why
            record.error = getattr(exc, "message", str(exc))
            raise
        record.token = verified.view()
        return verified.email
