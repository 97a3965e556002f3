"""A reference partner-backend client for Spotnana's token endpoint (``POST /v2/auth/oauth2-token``).

Copy this into your backend. It does what Spotnana asks of partners (S6, S10 on developer.spotnana.com):

* sends the RFC 8693 token-exchange form exactly as documented (``application/x-www-form-urlencoded``,
  credentials in the body, ``scope=openid``);
* reuses tokens until they are about to expire (one cache entry per user, keyed by *your* user id);
* backs off exponentially, with jitter, on ``429`` and ``5xx`` (and on network errors), honouring
  ``Retry-After``; any other ``4xx`` fails at once, because retrying will not fix it.

Errors surface as :class:`TokenExchangeError`, parsed from Spotnana's error envelope
(``{"debugIdentifier", "errorMessages": [{"errorCode", "message"}]}``) or from an RFC 6749
``{"error", "error_description"}`` body. Error messages never contain the client secret or any token.

Example::

    client = SpotnanaTokenClient(
        "https://api-ext-sboxmeta.partners.spotnana.com/v2/auth/oauth2-token",
        client_id=os.environ["SPOTNANA_CLIENT_ID"],
        client_secret=os.environ["SPOTNANA_CLIENT_SECRET"],
    )
    tokens = client.tokens_for(user.id, subject_token=user.access_token)
    # hand tokens.access_token / tokens.refresh_token to the embedded iframe
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "CLIENT_CREDENTIALS_GRANT",
    "TOKEN_EXCHANGE_GRANT",
    "SpotnanaTokenClient",
    "SpotnanaTokens",
    "TokenExchangeError",
]

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
CLIENT_CREDENTIALS_GRANT = "client_credentials"

_REDACTED = "[redacted]"


@dataclass(frozen=True)
class SpotnanaTokens:
    """Tokens returned by Spotnana.

    ``expires_at`` is an absolute time on the client's clock (``clock()`` when the request was
    sent + ``expires_in``). ``refresh_token`` is ``None`` for ``client_credentials``. The tokens are
    left out of ``repr()`` so that logging this object does not leak them.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    scope: str | None


class TokenExchangeError(Exception):
    """The token endpoint refused, failed, or answered something unusable.

    Attributes:
        status: HTTP status of the last answer, or ``None`` if no answer arrived (network error).
        error_code: Spotnana ``errorCode`` (e.g. ``TOO_MANY_REQUESTS``) or RFC 6749 ``error``.
        body: the parsed JSON body (or raw text) of the last answer, for debugging.
        debug_identifier: Spotnana's ``debugIdentifier``, worth quoting to Spotnana support.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        body: Any = None,
        debug_identifier: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.body = body
        self.debug_identifier = debug_identifier


class SpotnanaTokenClient:
    """Exchanges your users' tokens for Spotnana tokens, with caching and polite retries.

    Args:
        token_url: full URL of ``/v2/auth/oauth2-token``.
        client_id, client_secret: the API credentials Spotnana gave you. Keep the secret on the backend.
        http: an ``httpx.Client`` to use (not closed by :meth:`close`); by default one is created.
        clock: returns the current time in seconds (injectable for tests).
        sleep: sleeps for the given seconds between retries (injectable for tests).
        refresh_margin: a cached token is replaced once ``clock() >= expires_at - refresh_margin``.
        max_attempts: total number of requests per call, the first one included.
        base_backoff, max_backoff: the n-th retry waits a jittered ``min(max_backoff,
            base_backoff * 2 ** (n - 1))`` seconds, uniformly between half of that and all of it.
        rng: source of jitter (injectable for tests).

    The cache is thread-safe, and concurrent calls for the same key share one request.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        refresh_margin: float = 60.0,
        max_attempts: int = 5,
        base_backoff: float = 0.5,
        max_backoff: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if base_backoff < 0 or max_backoff < 0 or refresh_margin < 0:
            raise ValueError("backoffs and refresh_margin must not be negative")
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=10.0)
        self._clock = clock
        self._sleep = sleep
        self._refresh_margin = refresh_margin
        self._max_attempts = max_attempts
        self._base_backoff = base_backoff
        self._max_backoff = max_backoff
        self._rng = rng if rng is not None else random.Random()
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], SpotnanaTokens] = {}
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}

    # -- public API -------------------------------------------------------------------------

    def tokens_for(self, cache_key: str, subject_token: str) -> SpotnanaTokens:
        """Return Spotnana tokens for one of your users.

        ``cache_key`` identifies the user on your side (e.g. your user id); ``subject_token`` is the
        user's token that Spotnana will present to your get-user-detail API. Cached tokens are
        returned while still fresh, whatever ``subject_token`` is passed; call :meth:`forget` when
        the user logs out.
        """
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "scope": "openid",
        }
        return self._cached(("token-exchange", cache_key), form, "token exchange")

    def client_credentials(self) -> SpotnanaTokens:
        """Return an API-user token (``grant_type=client_credentials``), cached like user tokens."""
        form = {
            "grant_type": CLIENT_CREDENTIALS_GRANT,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        return self._cached(("client-credentials", ""), form, "client_credentials request")

    def forget(self, cache_key: str) -> None:
        """Drop the cached tokens for ``cache_key`` (e.g. on logout); the next call fetches anew."""
        with self._lock:
            self._cache.pop(("token-exchange", cache_key), None)

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> SpotnanaTokenClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- caching ------------------------------------------------------------------------------

    def _fresh(self, tokens: SpotnanaTokens) -> bool:
        return self._clock() < tokens.expires_at - self._refresh_margin

    def _cached(self, key: tuple[str, str], form: Mapping[str, str], what: str) -> SpotnanaTokens:
        with self._lock:
            tokens = self._cache.get(key)
            if tokens is not None and self._fresh(tokens):
                return tokens
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one request per key at a time; latecomers reuse its result
            with self._lock:
                tokens = self._cache.get(key)
                if tokens is not None and self._fresh(tokens):
                    return tokens
            tokens = self._request_with_retries(form, what)
            with self._lock:
                self._cache[key] = tokens
            return tokens

    # -- HTTP ---------------------------------------------------------------------------------

    def _request_with_retries(self, form: Mapping[str, str], what: str) -> SpotnanaTokens:
        hidden = [v for k, v in form.items() if k in ("client_secret", "subject_token") and v]
        for attempt in range(1, self._max_attempts + 1):
            sent_at = self._clock()
            try:
                response = self._http.post(
                    self._token_url, data=dict(form), headers={"Accept": "application/json"}
                )
            except httpx.TransportError as exc:
                failure = TokenExchangeError(
                    _redact(f"{what} failed: {type(exc).__name__}: {exc}", hidden)
                )
                if attempt == self._max_attempts:
                    raise _gave_up(failure, attempt) from exc
                self._sleep(self._backoff(attempt))
                continue

            if response.status_code == 200:
                return _parse_tokens(response, sent_at, what)

            failure = _error_from(response, what, hidden)
            retryable = response.status_code == 429 or response.status_code >= 500
            if not retryable:
                raise failure
            if attempt == self._max_attempts:
                raise _gave_up(failure, attempt)
            delay = self._backoff(attempt)
            retry_after = _retry_after_seconds(response, self._clock)
            if retry_after is not None:
                if retry_after > self._max_backoff:
                    raise TokenExchangeError(
                        f"{failure} (server asked to retry after {retry_after:g}s, "
                        f"more than max_backoff={self._max_backoff:g}s)",
                        status=failure.status,
                        error_code=failure.error_code,
                        body=failure.body,
                        debug_identifier=failure.debug_identifier,
                    )
                delay = max(delay, retry_after)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        """Jittered exponential delay before retry number ``attempt`` (1-based)."""
        ceiling = min(self._max_backoff, self._base_backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


def _gave_up(failure: TokenExchangeError, attempts: int) -> TokenExchangeError:
    return TokenExchangeError(
        f"{failure} (gave up after {attempts} attempts)",
        status=failure.status,
        error_code=failure.error_code,
        body=failure.body,
        debug_identifier=failure.debug_identifier,
    )


def _redact(text: str, hidden: list[str]) -> str:
    for secret in hidden:
        text = text.replace(secret, _REDACTED)
    return text


def _body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _error_from(response: httpx.Response, what: str, hidden: list[str]) -> TokenExchangeError:
    """Build an error from Spotnana's envelope or an RFC 6749 error body."""
    body = _body_of(response)
    code: str | None = None
    detail: str | None = None
    debug_id: str | None = None
    if isinstance(body, dict):
        messages = body.get("errorMessages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            code = _str_or_none(messages[0].get("errorCode"))
            detail = _str_or_none(messages[0].get("message"))
            debug_id = _str_or_none(body.get("debugIdentifier"))
        elif "error" in body:
            code = _str_or_none(body.get("error"))
            detail = _str_or_none(body.get("error_description"))
    message = f"{what} failed: HTTP {response.status_code}"
    if code:
        message += f" {code}"
    if detail:
        message += f": {detail}"
    return TokenExchangeError(
        _redact(message, hidden),
        status=response.status_code,
        error_code=code,
        body=body,
        debug_identifier=debug_id,
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _parse_tokens(response: httpx.Response, sent_at: float, what: str) -> SpotnanaTokens:
    """Turn a 200 answer into :class:`SpotnanaTokens`, or raise if it is unusable.

    Without ``expires_in`` the lifetime is unknown, so the tokens are treated as already stale
    (returned, but not reused).
    """
    body = _body_of(response)
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise TokenExchangeError(
            f"{what} failed: HTTP 200 without an access_token", status=200, body=None
        )
    token_type = body.get("token_type")
    if isinstance(token_type, str) and token_type.lower() != "bearer":
        raise TokenExchangeError(
            f"{what} failed: unsupported token_type {token_type!r}", status=200, body=None
        )
    expires_in = body.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        expires_in = 0
    return SpotnanaTokens(
        access_token=body["access_token"],
        refresh_token=_str_or_none(body.get("refresh_token")),
        expires_at=sent_at + float(expires_in),
        scope=_str_or_none(body.get("scope")),
    )


def _retry_after_seconds(response: httpx.Response, clock: Callable[[], float]) -> float | None:
    """Parse ``Retry-After`` as delta-seconds or an HTTP-date; ``None`` if absent or invalid."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - clock())
