"""A reference partner "get user detail" API, the endpoint Spotnana calls during token exchange.

Spotnana's backend-setup page (S1) says: when a partner backend exchanges a user's token
(``subject_token``) at ``POST /v2/auth/oauth2-token``, Spotnana calls

    GET <partner>/v1/user-detail
    Authorization: Bearer <subject_token>

and expects ``{"user": {"email": "user@yourcompany.com"}}`` back. This module is a small, runnable
version of that endpoint: a Starlette app over an in-memory token → email directory.

Authentication failures follow RFC 6750 §3 and always answer ``401`` with a JSON body
``{"error": "invalid_token", "error_description": ...}`` plus a ``WWW-Authenticate`` challenge:

* no ``Authorization`` header at all → ``WWW-Authenticate: Bearer realm="user-detail"``
  (RFC 6750 §3.1: a request with no credentials should get a challenge without an error code);
* a header with another scheme (e.g. ``Basic``), an empty bearer token, a malformed header or a
  token nobody owns → ``WWW-Authenticate: Bearer error="invalid_token"``.

The scheme is matched case-insensitively (``bearer`` works). A token in the query string
(``?access_token=...``, RFC 6750 §2.3) is deliberately *not* accepted: it leaks into logs.
The token is never logged and never echoed in a response.

All routes are relative, so the app can be mounted under a prefix, e.g.
``Mount("/partner", app=create_user_detail_app())`` serves ``/partner/v1/user-detail``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from spotnana_sim.reference.demo_users import DEMO_SUBJECT_TOKEN, DEMO_USERS

__all__ = [
    "DEMO_SUBJECT_TOKEN",
    "DEMO_USERS",
    "HEALTH_PATH",
    "USER_DETAIL_PATH",
    "UserDirectory",
    "create_user_detail_app",
]

USER_DETAIL_PATH = "/v1/user-detail"
"""Path of the user-detail endpoint, relative to wherever the app is mounted."""

HEALTH_PATH = "/health"
"""Liveness probe path, relative to wherever the app is mounted."""

"""The demo user's token (what ``make run`` prints as a ready-to-use ``subject_token``)."""

REALM = "user-detail"

_MISSING_CHALLENGE = f'Bearer realm="{REALM}"'
_INVALID_CHALLENGE = 'Bearer error="invalid_token"'


class UserDirectory:
    """A thread-safe, mutable token → email mapping that remembers its initial contents.

    Exposed as ``app.state.users`` so tests and the simulator can add or remove users at run time
    and put everything back with :meth:`reset`.
    """

    def __init__(self, initial: Mapping[str, str]) -> None:
        for token, email in initial.items():
            _check_entry(token, email)
        self._initial: dict[str, str] = dict(initial)
        self._users: dict[str, str] = dict(initial)
        self._lock = threading.Lock()

    def add(self, token: str, email: str) -> None:
        """Register (or re-point) ``token`` so it resolves to ``email``."""
        _check_entry(token, email)
        with self._lock:
            self._users[token] = email

    def remove(self, token: str) -> None:
        """Forget ``token``; removing an unknown token is a no-op."""
        with self._lock:
            self._users.pop(token, None)

    def reset(self) -> None:
        """Restore the mapping the directory was created with."""
        with self._lock:
            self._users = dict(self._initial)

    def email_for(self, token: str) -> str | None:
        """Return the email for ``token``, or ``None`` if the token is unknown."""
        with self._lock:
            return self._users.get(token)

    def snapshot(self) -> dict[str, str]:
        """Return a copy of the current mapping."""
        with self._lock:
            return dict(self._users)

    def __contains__(self, token: object) -> bool:
        with self._lock:
            return token in self._users

    def __len__(self) -> int:
        with self._lock:
            return len(self._users)


def _check_entry(token: str, email: str) -> None:
    if not token or any(ch.isspace() for ch in token):
        raise ValueError("token must be non-empty and contain no whitespace")
    if not email:
        raise ValueError("email must be non-empty")


def _unauthorized(challenge: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_token", "error_description": description},
        status_code=401,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )


def _bearer_token(request: Request) -> str | JSONResponse:
    """Extract the bearer token from the Authorization header, or build the 401 to send."""
    header = request.headers.get("authorization")
    if header is None:
        return _unauthorized(_MISSING_CHALLENGE, "missing Authorization header")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return _unauthorized(_INVALID_CHALLENGE, "Authorization scheme must be Bearer")
    token = token.strip()
    if not token:
        return _unauthorized(_INVALID_CHALLENGE, "empty bearer token")
    if any(ch.isspace() for ch in token):
        return _unauthorized(_INVALID_CHALLENGE, "malformed bearer token")
    return token


def create_user_detail_app(users: Mapping[str, str] | None = None) -> Starlette:
    """Build the user-detail app.

    ``users`` maps bearer token → email and defaults to :data:`DEMO_USERS`. The live directory
    is ``app.state.users`` (a :class:`UserDirectory`).

    Routes (relative, so the app can be mounted under any prefix):

    * ``GET /v1/user-detail`` → ``200 {"user": {"email": ...}}`` for a known bearer token,
      otherwise ``401`` (see the module docstring); other methods → ``405``.
    * ``GET /health`` → ``200 {"status": "ok"}``.
    """
    directory = UserDirectory(DEMO_USERS if users is None else users)

    async def user_detail(request: Request) -> JSONResponse:
        token = _bearer_token(request)
        if isinstance(token, JSONResponse):
            return token
        email = directory.email_for(token)
        if email is None:
            return _unauthorized(_INVALID_CHALLENGE, "unknown or expired token")
        return JSONResponse({"user": {"email": email}}, headers={"Cache-Control": "no-store"})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route(USER_DETAIL_PATH, user_detail, methods=["GET"]),
            Route(HEALTH_PATH, health, methods=["GET"]),
        ]
    )
    app.state.users = directory
    return app
