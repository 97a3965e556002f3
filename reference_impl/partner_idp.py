"""A reference partner identity provider for Spotnana's identity model B. Copy it, then adapt it.

In model B the partner does not answer a user-detail callback. Instead it signs a short-lived JWT
that says who the user is and sends it to Spotnana as the ``subject_token`` of the token exchange.
Spotnana verifies it with the partner's public keys, which the partner publishes as a JWKS
(or registers through the partner-public-keys API). What Spotnana documents:

* the JWT is signed with RS256, and its header ``kid`` names a key of the JWKS;
* the JWKS is served over HTTPS without authentication, with a ``kid`` on every key;
* the payload carries the user's email, e.g.
  ``{"email", "iss": "https://auth.customer.com", "sub", "aud": "spotnana", "iat", "exp"}``
  with ``exp`` one hour after ``iat``.

This module needs only PyJWT, cryptography and Starlette (and the demo users of the reference
user-detail API beside it); it does not import the simulator.

    idp = PartnerIdentityProvider(issuer="https://auth.example.com")
    token = idp.sign("ada@example.com")       # -> the subject_token for the token exchange
    app = create_partner_idp_app(idp)          # serves /.well-known/jwks.json and a demo /token

In production the private key lives in a KMS or secret store, never in code or in the JWKS, and
``/token`` is replaced by your login: only a user who has signed in gets a JWT with their email.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from spotnana_sim.reference.user_detail import DEMO_USERS

__all__ = [
    "AUDIENCE",
    "DEMO_ISSUER",
    "JWKS_PATH",
    "TOKEN_LIFETIME",
    "TOKEN_PATH",
    "PartnerIdentityProvider",
    "create_partner_idp_app",
    "demo_emails",
]

JWKS_PATH = "/.well-known/jwks.json"
TOKEN_PATH = "/token"
AUDIENCE = "spotnana"  # the aud of Spotnana's example payload
TOKEN_LIFETIME = 3600  # seconds; Spotnana's example has exp - iat = 3600
DEMO_ISSUER = "https://auth.example.com"
JWKS_MAX_AGE = 300  # tell verifiers how long to cache the JWKS; a rotated-in key appears within this


def demo_emails() -> dict[str, str]:
    """The reference API's demo users by short name: {"ada": "ada@example.com", ...}."""
    return {email.partition("@")[0]: email for email in DEMO_USERS.values()}


class _SigningKey:
    """An RSA private key and its public JWK. The kid is the key's RFC 7638 thumbprint, so it is
    stable for a given key and different for every other one."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self.private_key = private_key
        public: dict[str, Any] = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        # RFC 7638: SHA-256 over the required members (e, kty, n), sorted, without whitespace
        required = json.dumps({m: public[m] for m in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
        digest = hashlib.sha256(required.encode("ascii")).digest()
        self.kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        # Only public members: kty, n, e, plus what verifiers match on. Never d, p, q, dp, dq, qi.
        self.public_jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                           "n": public["n"], "e": public["e"]}


def _new_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)  # RS256 needs >= 2048 bits


class PartnerIdentityProvider:
    """Signs model-B subject JWTs and publishes the JWKS to verify them.

    ``rotate()`` starts signing with a new key and keeps the previous one in the JWKS, so tokens
    already handed out still verify until they expire.
    """

    def __init__(
        self,
        *,
        issuer: str = DEMO_ISSUER,
        audience: str = AUDIENCE,
        lifetime: int = TOKEN_LIFETIME,
        private_key: rsa.RSAPrivateKey | None = None,
        users: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self.users = dict(demo_emails() if users is None else users)  # short name -> email
        self.clock = clock
        self._keys = [_SigningKey(private_key or _new_private_key())]  # newest first
        self._lock = threading.Lock()

    @property
    def kid(self) -> str:
        """The kid of the key that signs new tokens."""
        return self._keys[0].kid

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        return self._keys[0].private_key

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set to serve at /.well-known/jwks.json (current key first)."""
        with self._lock:
            return {"keys": [dict(key.public_jwk) for key in self._keys]}

    def rotate(self, private_key: rsa.RSAPrivateKey | None = None, keep: int = 1) -> str:
        """Sign with a new key from now on; keep ``keep`` previous keys published. Returns the new kid."""
        with self._lock:
            self._keys = [_SigningKey(private_key or _new_private_key()), *self._keys[:keep]]
            return self._keys[0].kid

    def sign(self, email: str, /, *, subject: str | None = None, **overrides: Any) -> str:
        """A subject JWT for ``email``. ``overrides`` replace or add claims, and ``None`` removes one
        (tests use them to make broken tokens, e.g. ``aud="someone-else"``, ``exp=0`` or ``iss=None``)."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "email": email,
            "iss": self.issuer,
            "sub": subject or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.issuer}#{email}")),  # stable per user
            "aud": self.audience,
            "iat": now,
            "exp": now + self.lifetime,
        }
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})

    def sign_for(self, user: str) -> str:
        """A subject JWT for a known user, by short name ("ada") or email."""
        email = self.users.get(user) or (user if user in self.users.values() else None)
        if email is None:
            raise KeyError(f"unknown user {user!r}; known: {', '.join(sorted(self.users))}")
        return self.sign(email)


def create_partner_idp_app(idp: PartnerIdentityProvider | None = None) -> Starlette:
    """The identity provider's HTTP face. ``app.state.idp`` is the provider.

    * ``GET /.well-known/jwks.json``: the public keys, cacheable for ``JWKS_MAX_AGE`` seconds.
    * ``GET /token?user=ada``: a subject JWT for a demo user. A DEMO ONLY stand-in for your login:
      it hands a token to anyone who asks, so never deploy it.
    """
    provider = idp or PartnerIdentityProvider()

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(provider.jwks(), headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"},
                            media_type="application/jwk-set+json")

    async def token(request: Request) -> JSONResponse:
        user = request.query_params.get("user", "")
        try:
            subject_token = provider.sign_for(user)
        except KeyError:
            return JSONResponse(
                {"error": "unknown_user", "error_description": f"user must be one of {', '.join(sorted(provider.users))}"},
                status_code=404,
            )
        return JSONResponse(
            {"subject_token": subject_token, "expires_in": provider.lifetime, "kid": provider.kid},
            headers={"Cache-Control": "no-store"},  # a token is a credential: never cached
        )

    app = Starlette(routes=[Route(JWKS_PATH, jwks, methods=["GET"]), Route(TOKEN_PATH, token, methods=["GET"])])
    app.state.idp = provider
    return app
