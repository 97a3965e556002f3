"""The tokens the simulator hands out (keys and the JWKS live in keys.py).

* **Access tokens** are JWS compact tokens (RS256 by default, ES256 optional) whose protected header is
  exactly ``{"kid","alg","typ":"JWT"}`` with ``kid`` first, like Spotnana's published sample
  (``eyJraWQiOi`` = ``{"kid":``). They verify against :meth:`KeySet.jwks`.
* **Refresh tokens** are compact JWEs (``alg`` ``dir``, ``enc`` ``A256GCM``) whose header starts with
  ``cty`` like Spotnana's sample (``eyJjdHkiOi`` = ``{"cty":``). They are sealed with an AES key derived
  from the signing key, so any process holding the same key file can read them, nobody else can
  forge them, and issuing one costs no asymmetric operation.
* **Keys** come from a PEM file shared by restarts and workers, or are generated in memory.

This module imports neither Starlette nor pytest. Key objects are parsed once and kept; per-key
derived material (encoded headers, AES key) is computed once per key and cached.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import Algorithm, get_default_algorithms

from spotnana_sim.core.clock import Clock
from spotnana_sim.core.keys import (  # re-exported: callers have always found keys here
    MAX_PREVIOUS_KEYS,
    SUPPORTED_ALGORITHMS,
    KeyFileError,
    KeySet,
    SigningKey,
    b64url_encode,
    compact_json,
)

__all__ = [
    "MAX_PREVIOUS_KEYS",
    "SUBJECT_NAMESPACE",
    "SUPPORTED_ALGORITHMS",
    "InvalidRefreshToken",
    "IssuedToken",
    "KeyFileError",
    "KeySet",
    "RefreshGrant",
    "SigningKey",
    "TokenIssuer",
    "subject_for",
]

#: uuid5 namespace for :func:`subject_for` (= uuid5(NAMESPACE_URL, "urn:spotnana-sim:subject")). Never change it:
#: every process, restart and release must map an email to the same subject.
SUBJECT_NAMESPACE = uuid.UUID("0a80cbe2-b020-590f-91bb-2cf390cde134")

REFRESH_KDF_INFO = b"spotnana-sim refresh v1"
#: Anything longer is rejected before any decoding (our refresh tokens are a few hundred characters).
MAX_REFRESH_TOKEN_CHARS = 8192

_GCM_IV_BYTES = 12
_GCM_TAG_BYTES = 16


# --------------------------------------------------------------------------------------------------
# helpers


def _b64d_strict(segment: bytes) -> bytes:
    """Decode base64url without padding, refusing anything that is not the canonical encoding.

    Canonical means re-encoding gives the input back, so stray characters (which the stdlib would
    silently drop) and non-zero unused trailing bits are rejected: every character of a token matters.
    """
    try:
        raw = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if b64url_encode(raw) != segment:
        raise ValueError("not canonical base64url")
    return raw


def _new_jti() -> str:
    return secrets.token_urlsafe(16)


def _require_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _optional_text(value: object, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string or None")
    return value


def _lifetime(value: object, name: str, *, allow_zero: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer number of seconds")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value



def subject_for(email: str) -> str:
    """Stable user id for a profile: uuid5 over the trimmed, lowercased email in :data:`SUBJECT_NAMESPACE`.

    Every process and restart computes the same value, and ``Alice@Example.com`` and
    ``alice@example.com`` are the same user (as email lookup is case-insensitive).
    """
    if not isinstance(email, str):
        raise TypeError("email must be a string")
    return str(uuid.uuid5(SUBJECT_NAMESPACE, email.strip().lower()))


# --------------------------------------------------------------------------------------------------
# tokens


@dataclass(frozen=True)
class IssuedToken:
    """A compact token and the claims it carries (do not mutate ``claims``)."""

    token: str
    claims: dict[str, Any]


class InvalidRefreshToken(Exception):
    """A refresh token was refused. ``reason`` is one of the class constants below; the message adds detail."""

    MALFORMED = "malformed"
    BAD_SEAL = "bad seal"
    EXPIRED = "expired"
    UNKNOWN_KEY = "unknown key"
    WRONG_CLIENT = "wrong client"

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class RefreshGrant:
    """What a refresh token carries (its sealed payload)."""

    client_id: str
    subject: str
    email: str | None
    scope: str | None
    issued_at: int
    expires_at: int
    jti: str

    @classmethod
    def _from_payload(cls, payload: object) -> RefreshGrant:
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
        try:
            grant = cls(
                client_id=payload["client_id"],
                subject=payload["subject"],
                email=payload["email"],
                scope=payload["scope"],
                issued_at=payload["issued_at"],
                expires_at=payload["expires_at"],
                jti=payload["jti"],
            )
        except KeyError as exc:
            raise ValueError(f"payload lacks {exc.args[0]!r}") from None
        for name in ("client_id", "subject", "jti"):
            if not isinstance(getattr(grant, name), str):
                raise ValueError(f"{name} is not a string")
        for name in ("email", "scope"):
            if getattr(grant, name) is not None and not isinstance(getattr(grant, name), str):
                raise ValueError(f"{name} is not a string")
        for name in ("issued_at", "expires_at"):
            value = getattr(grant, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} is not an integer")
        return grant


@dataclass(frozen=True)
class _KeyMaterial:
    """Everything derived from one signing key that token work needs, computed once."""

    jws_header: bytes  # base64url of {"kid","alg","typ"}
    signer: Algorithm
    jwe_header: bytes  # base64url of {"cty","enc","alg","kid"}; also the AES-GCM AAD (RFC 7516 §5.1 step 14)
    aead: AESGCM

    @classmethod
    def build(cls, key: SigningKey) -> _KeyMaterial:
        jws_header = b64url_encode(compact_json({"kid": key.kid, "alg": key.algorithm, "typ": "JWT"}))
        jwe_header = b64url_encode(compact_json({"cty": "JWT", "enc": "A256GCM", "alg": "dir", "kid": key.kid}))
        content_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=REFRESH_KDF_INFO).derive(
            key.private_der()
        )
        return cls(
            jws_header=jws_header,
            signer=get_default_algorithms()[key.algorithm],
            jwe_header=jwe_header,
            aead=AESGCM(content_key),
        )


class TokenIssuer:
    """Issues and checks the simulator's access and refresh tokens with a :class:`KeySet` and a :class:`Clock`."""

    _MATERIAL_CACHE_LIMIT = 16

    def __init__(
        self,
        keys: KeySet,
        clock: Clock,
        *,
        issuer: str,
        issuer_is_fixed: bool = True,
        access_lifetime: int = 3600,
        refresh_lifetime: int = 30 * 24 * 3600,
    ) -> None:
        """``issuer`` is the ``iss`` of tokens issued without one of their own. When it is not fixed
        (no --issuer), callers pass the address each request arrived at instead, so the simulator
        agrees with itself whether reached as localhost, 127.0.0.1 or a container name."""
        self.keys = keys
        self.clock = clock
        self.issuer = _require_text(issuer, "issuer")
        self.issuer_is_fixed = issuer_is_fixed
        self.access_lifetime = _lifetime(access_lifetime, "access_lifetime", allow_zero=False)
        self.refresh_lifetime = _lifetime(refresh_lifetime, "refresh_lifetime", allow_zero=False)
        self._material: dict[str, _KeyMaterial] = {}

    def _material_for(self, key: SigningKey) -> _KeyMaterial:
        material = self._material.get(key.kid)
        if material is None:
            material = _KeyMaterial.build(key)
            cache = self._material
            if len(cache) >= self._MATERIAL_CACHE_LIMIT:  # only after very many rotations
                cache = {}
            cache[key.kid] = material
            self._material = cache
        return material

    # -- access tokens ---------------------------------------------------------------------------

    def issue_access_token(
        self,
        *,
        client_id: str,
        subject: str,
        email: str | None = None,
        scope: str | None = None,
        audience: str | None = None,
        lifetime: int | None = None,
        issued_at: float | None = None,
        org_id: str | None = None,
        generation: int | None = None,
        issuer: str | None = None,
    ) -> IssuedToken:
        """A JWT signed by the active key. Claims: ``iss, sub, client_id, [org_id], [gen], [email], [scope],
        [aud], iat, exp, jti``.

        ``lifetime`` (seconds, default ``access_lifetime``) and ``issued_at`` (default ``clock.now()``)
        let fault rules issue short-lived or already-expired tokens. ``exp - iat == lifetime`` always.
        ``org_id`` (modeled) lets the embedded app and the partner-keys API tell whose token it is;
        ``gen`` is the client's credential generation, so rotating or revoking it retires the token.
        ``issuer`` overrides the configured one (the issuer a request arrived at).
        """
        _require_text(client_id, "client_id")
        _require_text(subject, "subject")
        _optional_text(email, "email")
        _optional_text(scope, "scope")
        _optional_text(audience, "audience")
        seconds = self.access_lifetime if lifetime is None else _lifetime(lifetime, "lifetime", allow_zero=True)
        iat = int(self.clock.now() if issued_at is None else issued_at)

        claims: dict[str, Any] = {"iss": issuer or self.issuer, "sub": subject, "client_id": client_id}
        if org_id is not None:
            claims["org_id"] = org_id
        if generation is not None:
            claims["gen"] = generation
        if email is not None:
            claims["email"] = email
        if scope is not None:
            claims["scope"] = scope
        if audience is not None:
            claims["aud"] = audience
        claims["iat"] = iat
        claims["exp"] = iat + seconds
        claims["jti"] = _new_jti()

        key = self.keys.active
        material = self._material_for(key)
        signing_input = material.jws_header + b"." + b64url_encode(compact_json(claims))
        signature = material.signer.sign(signing_input, key.private_key)
        return IssuedToken(token=(signing_input + b"." + b64url_encode(signature)).decode("ascii"), claims=claims)

    def verify_access_token(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """Claims of a token signed by a published key, issued by us and not expired by the clock.

        Raises ``jwt.InvalidTokenError`` subclasses (``ExpiredSignatureError``, ``InvalidSignatureError``,
        ``DecodeError``, ...). ``aud`` is checked only when ``audience`` is given.
        """
        try:
            header = jwt.get_unverified_header(token)
        except RecursionError:  # absurdly nested header JSON
            raise jwt.DecodeError("Invalid header string") from None
        key = self.keys.find(header.get("kid"))
        if key is None:
            raise jwt.InvalidTokenError("token kid is not a published key")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public_key,
            algorithms=[key.algorithm],
            # Without a fixed issuer each token carries the address it was requested at; the
            # signature is what proves it is ours.
            issuer=self.issuer if self.issuer_is_fixed else None,
            audience=audience,
            options={
                "require": ["iss", "sub", "iat", "exp", "jti"],
                # time comes from the injectable clock, checked below, not from time.time()
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": audience is not None,
            },
        )
        for name in ("iat", "exp"):
            if isinstance(claims[name], bool) or not isinstance(claims[name], int):
                raise jwt.DecodeError(f"{name} must be an integer")
        if claims["exp"] <= self.clock.now():
            raise jwt.ExpiredSignatureError("Signature has expired")
        return claims

    # -- refresh tokens --------------------------------------------------------------------------

    def issue_refresh_token(self, *, client_id: str, subject: str, email: str | None, scope: str | None) -> str:
        """A compact JWE (dir + A256GCM) sealing a :class:`RefreshGrant` valid for ``refresh_lifetime``."""
        _require_text(client_id, "client_id")
        _require_text(subject, "subject")
        _optional_text(email, "email")
        _optional_text(scope, "scope")
        issued_at = int(self.clock.now())
        payload = {
            "client_id": client_id,
            "subject": subject,
            "email": email,
            "scope": scope,
            "issued_at": issued_at,
            "expires_at": issued_at + self.refresh_lifetime,
            "jti": _new_jti(),
        }
        material = self._material_for(self.keys.active)
        iv = os.urandom(_GCM_IV_BYTES)
        sealed = material.aead.encrypt(iv, compact_json(payload), material.jwe_header)
        ciphertext, tag = sealed[:-_GCM_TAG_BYTES], sealed[-_GCM_TAG_BYTES:]
        return b".".join((material.jwe_header, b"", b64url_encode(iv), b64url_encode(ciphertext), b64url_encode(tag))).decode("ascii")

    def read_refresh_token(self, token: str, *, client_id: str | None = None) -> RefreshGrant:
        """The grant sealed in ``token``, after checking the seal, the client (when given) and expiry.

        Raises :class:`InvalidRefreshToken` with ``reason`` malformed / unknown key / bad seal /
        wrong client / expired.
        """
        malformed = InvalidRefreshToken.MALFORMED
        if not isinstance(token, str) or len(token) > MAX_REFRESH_TOKEN_CHARS:
            raise InvalidRefreshToken(malformed, "not a refresh token")
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidRefreshToken(malformed, "non-ASCII characters") from None
        parts = raw.split(b".")
        if len(parts) != 5 or parts[1] != b"":
            raise InvalidRefreshToken(malformed, "expected five segments with an empty encrypted key")
        header_segment, _, iv_segment, ciphertext_segment, tag_segment = parts
        try:
            header = json.loads(_b64d_strict(header_segment))
            iv = _b64d_strict(iv_segment)
            ciphertext = _b64d_strict(ciphertext_segment)
            tag = _b64d_strict(tag_segment)
        except (ValueError, RecursionError):  # ValueError includes JSON and UTF-8 decoding errors
            raise InvalidRefreshToken(malformed, "segments are not base64url / JSON") from None
        if not isinstance(header, dict) or header.get("alg") != "dir" or header.get("enc") != "A256GCM":
            raise InvalidRefreshToken(malformed, "unsupported header")
        if len(iv) != _GCM_IV_BYTES or len(tag) != _GCM_TAG_BYTES:
            raise InvalidRefreshToken(malformed, "wrong IV or tag length")
        key = self.keys.find(header.get("kid"))
        if key is None:
            raise InvalidRefreshToken(InvalidRefreshToken.UNKNOWN_KEY, "sealed with a key that is not published")
        try:
            plaintext = self._material_for(key).aead.decrypt(iv, ciphertext + tag, header_segment)
        except InvalidTag:
            raise InvalidRefreshToken(InvalidRefreshToken.BAD_SEAL, "authentication failed") from None
        try:
            grant = RefreshGrant._from_payload(json.loads(plaintext))
        except ValueError as exc:
            raise InvalidRefreshToken(malformed, f"sealed payload: {exc}") from None
        if client_id is not None and grant.client_id != client_id:
            raise InvalidRefreshToken(InvalidRefreshToken.WRONG_CLIENT, "issued to a different client")
        if self.clock.now() >= grant.expires_at:
            raise InvalidRefreshToken(InvalidRefreshToken.EXPIRED, "refresh token has expired")
        return grant
