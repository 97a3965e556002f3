"""Partner public keys registered through Spotnana's Company Partner Public Keys API (identity model B).

Documented (FACTS.md §3, S8): ``POST /v2/companies/{companyId}/partner-public-keys`` with
``{"keyType": "JWKS", "jwks": {"keys": [{kty, use, alg, kid, n, e}]}}`` registers one RSA/sig/RS256
key; ``GET`` lists them; ``DELETE …/{kid}`` revokes one. A key is answered as
``{id, orgId, kid, status: ACTIVE|REVOKED, createdAt, thumbprint}`` with the RFC 7638 SHA-256
thumbprint. *Modeled*: a ``kid`` already ACTIVE for the company is a conflict (409); revoking a kid
with no ACTIVE key is not found (404); a revoked kid may be registered again.

This is the domain only: the HTTP routes authenticate the caller and map the errors raised here
(``ValidationFailed`` 400, ``PartnerKeyConflict`` 409, ``PartnerKeyNotFound`` 404). Private key
members are refused before anything is kept, and never appear in a message.
"""

from __future__ import annotations

import builtins
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from spotnana_sim.core.errors import PartnerKeyConflict, PartnerKeyNotFound, ValidationFailed
from spotnana_sim.core.partner_jwt import PRIVATE_JWK_MEMBERS, PUBLIC_RSA_MEMBERS, PartnerKey, jwk_problems
from spotnana_sim.core.redaction import shorten

__all__ = ["ACTIVE", "KEY_TYPE", "REVOKED", "STATUSES", "PartnerKeyRecord", "PartnerKeyRegistry"]

ACTIVE = "ACTIVE"
REVOKED = "REVOKED"
STATUSES = (ACTIVE, REVOKED)
KEY_TYPE = "JWKS"
MAX_KID_LENGTH = 256  # modeled: a kid is an identifier, not a document

_BODY_EXAMPLE = '{"keyType": "JWKS", "jwks": {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "...", "n": "...", "e": "AQAB"}]}}'


class _Clock(Protocol):
    def now(self) -> float: ...


@dataclass(frozen=True)
class PartnerKeyRecord:
    """One registered key, as the API answers it (``as_dict``) plus the parsed key for verification."""

    id: str
    org_id: str
    kid: str
    status: str
    created_at: str  # ISO 8601, UTC
    thumbprint: str
    key: PartnerKey = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "orgId": self.org_id, "kid": self.kid, "status": self.status,
                "createdAt": self.created_at, "thumbprint": self.thumbprint}


class PartnerKeyRegistry:
    """Keys per company (org id). Thread-safe; survives until :meth:`reset`."""

    def __init__(self, clock: _Clock, *, new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.clock = clock
        self.new_id = new_id
        self._records: dict[str, builtins.list[PartnerKeyRecord]] = {}
        self._lock = threading.Lock()

    def register(self, org_id: str, body: Any) -> PartnerKeyRecord:
        """Validate a POST body and keep its key as ACTIVE; the API answers ``{"keys": [record]}``."""
        jwk = _the_one_key(body)
        with self._lock:
            records = self._records.setdefault(org_id, [])
            if any(r.kid == jwk["kid"] and r.status == ACTIVE for r in records):
                raise PartnerKeyConflict(
                    f"kid {shorten(jwk['kid'])!r} is already ACTIVE for company {shorten(org_id)}; "
                    "revoke it first (DELETE …/partner-public-keys/{kid}) or register the new key under another kid"
                )
            record_id = self.new_id()
            key = PartnerKey.from_jwk(jwk, f"registered {record_id}", strict=True)
            record = PartnerKeyRecord(id=record_id, org_id=org_id, kid=key.kid, status=ACTIVE,
                                      created_at=self._timestamp(), thumbprint=key.thumbprint, key=key)
            records.append(record)
            return record

    def list(self, org_id: str, status: str = ACTIVE) -> builtins.list[PartnerKeyRecord]:
        """The company's keys with ``status`` (``ACTIVE`` or ``REVOKED``), oldest first."""
        if status not in STATUSES:
            raise ValidationFailed("status", f"must be one of {', '.join(STATUSES)}", accepted=", ".join(STATUSES),
                                   received=shorten(str(status)))
        with self._lock:
            return [r for r in self._records.get(org_id, []) if r.status == status]

    def revoke(self, org_id: str, kid: str) -> PartnerKeyRecord:
        """Mark the ACTIVE key ``kid`` REVOKED: from now on it verifies nothing. Returns the new record."""
        with self._lock:
            records = self._records.get(org_id, [])
            for index, record in enumerate(records):
                if record.kid == kid and record.status == ACTIVE:
                    revoked = PartnerKeyRecord(id=record.id, org_id=org_id, kid=kid, status=REVOKED,
                                               created_at=record.created_at, thumbprint=record.thumbprint,
                                               key=record.key)
                    records[index] = revoked
                    return revoked
            already = any(r.kid == kid for r in records)
        detail = "it is already REVOKED" if already else "no key with that kid was registered"
        raise PartnerKeyNotFound(f"company {shorten(org_id)} has no ACTIVE key with kid {shorten(kid)!r}: {detail}")

    def find_active(self, org_id: str, kid: str) -> PartnerKey | None:
        """The ACTIVE key ``kid`` of the company, for verifying a subject JWT."""
        with self._lock:
            for record in self._records.get(org_id, []):
                if record.kid == kid and record.status == ACTIVE:
                    return record.key
        return None

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def _timestamp(self) -> str:
        moment = datetime.fromtimestamp(self.clock.now(), tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _the_one_key(body: Any) -> dict[str, Any]:
    """The single JWK of a valid POST body, or ``ValidationFailed`` naming the field."""
    if not isinstance(body, dict):
        raise ValidationFailed("body", "must be a JSON object", accepted=_BODY_EXAMPLE)
    key_type = body.get("keyType")
    if key_type != KEY_TYPE:
        raise ValidationFailed("keyType", f"must be {KEY_TYPE!r}", accepted=KEY_TYPE, received=_received(key_type))
    jwks = body.get("jwks")
    if not isinstance(jwks, dict):
        raise ValidationFailed("jwks", 'must be a JWK Set object {"keys": [...]}', accepted=_BODY_EXAMPLE)
    keys = jwks.get("keys")
    if not isinstance(keys, builtins.list):
        raise ValidationFailed("jwks.keys", "must be an array holding one key", accepted=_BODY_EXAMPLE)
    if len(keys) != 1:
        raise ValidationFailed("jwks.keys", f"must hold exactly one key, got {len(keys)}",
                               accepted="one RSA/sig/RS256 key per request", received=str(len(keys)))
    jwk = keys[0]
    if not isinstance(jwk, dict):
        raise ValidationFailed("jwks.keys[0]", "must be a JWK object", accepted=_BODY_EXAMPLE)
    leaked = [m for m in PRIVATE_JWK_MEMBERS if m in jwk]
    if leaked:  # the values are never looked at again, stored or echoed
        raise ValidationFailed(
            "jwks.keys[0]", f"carries private key members ({', '.join(leaked)}): register the public key only, "
            "and treat this key pair as compromised", accepted=", ".join(PUBLIC_RSA_MEMBERS),
        )
    problems = jwk_problems(jwk, strict=True)
    if problems:
        member, problem = problems[0]
        name = f"jwks.keys[0].{member}" if member else "jwks.keys[0]"
        shown = None if member in ("n", "") else _received(jwk.get(member))
        raise ValidationFailed(name, problem, accepted=_ACCEPTED.get(member), received=shown)
    if len(jwk["kid"]) > MAX_KID_LENGTH:
        raise ValidationFailed("jwks.keys[0].kid", f"must be at most {MAX_KID_LENGTH} characters (modeled)",
                               received=shorten(jwk["kid"]))
    return jwk


_ACCEPTED = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "a non-empty string naming the key",
             "n": "the RSA modulus, base64url, 2048 bits or more", "e": "the RSA exponent, base64url (usually AQAB)"}


def _received(value: Any) -> str:
    return "" if value is None else shorten(str(value))
