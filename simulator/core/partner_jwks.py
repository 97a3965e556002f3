"""The partner's JWKS (identity model B), fetched and cached per URL.

Spotnana documents that the partner publishes a JWKS (RFC 7517) over HTTPS, without authentication,
with a ``kid`` on every key (FACTS.md §3). How Spotnana caches it is not public; this cache *models*:

* the lifetime of a fetched JWKS is its ``Cache-Control: max-age`` (``no-store``/``no-cache``: 0),
  else ``DEFAULT_MAX_AGE`` (300 s), capped at ``MAX_AGE_CAP`` (one day);
* a token naming a ``kid`` that the cached JWKS lacks triggers a refetch, at most once per
  ``REFETCH_INTERVAL`` (10 s) per URL, so a key the partner just rotated in is found quickly but a
  stream of bogus ``kid``s cannot turn the simulator into a load generator;
* a failed fetch is answered with its own error and never served from a stale copy;
* keys that are not RSA/RS256 signing keys, or have no ``kid``, are skipped (RFC 7517 §5 lets a
  reader ignore keys it cannot use) and listed in the fetch record; a JWKS with no usable key, or
  one that publishes private key material, is refused whole.

The HTTP call is injected (``fetch``): the simulator passes its user-detail HTTP client, so the JWKS
is fetched with the same timeout, TLS options and limits. It raises ``CallbackFailed`` (or its
``CallbackTimedOut``, ``CallbackMalformed``) from :mod:`spotnana_sim.core.user_detail` when no
usable HTTP answer came; time comes from the injected clock.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from spotnana_sim.core.errors import PartnerJwksMalformed, PartnerJwksTimeout, PartnerJwksUnreachable
from spotnana_sim.core.partner_jwt import PRIVATE_JWK_MEMBERS, AsyncKeyLookup, PartnerKey, jwk_problems
from spotnana_sim.core.redaction import redact_url, shorten
from spotnana_sim.core.user_detail import CallbackFailed, CallbackMalformed, CallbackTimedOut, UserDetailResponse

__all__ = [
    "DEFAULT_MAX_AGE",
    "MAX_AGE_CAP",
    "REFETCH_INTERVAL",
    "JwksCache",
    "JwksFetch",
    "JwksFetchRecord",
    "ParsedJwks",
    "cache_lifetime",
    "parse_jwks",
]

DEFAULT_MAX_AGE = 300.0  # modeled: seconds a JWKS is kept when it sends no Cache-Control max-age
MAX_AGE_CAP = 86400.0  # modeled: a longer max-age would hide a revoked key for more than a day
REFETCH_INTERVAL = 10.0  # modeled: at most one refetch per URL this often for an unknown kid

#: GET the URL; answer status, lower-cased headers and body (``truncated`` past the read cap).
JwksFetch = Callable[[str], Awaitable[UserDetailResponse]]

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:[=,]|$)", re.IGNORECASE)


class _Clock(Protocol):
    def now(self) -> float: ...


@dataclass(frozen=True)
class ParsedJwks:
    keys: dict[str, PartnerKey]  # kid → key, usable RS256 keys only
    skipped: tuple[str, ...] = ()  # one line per key left out, and why


@dataclass
class JwksFetchRecord:
    """What the journal keeps of one JWKS fetch."""

    url: str  # redacted (no userinfo, no query values)
    reason: str  # "first use", "expired", "unknown kid"
    status: int | None = None
    error: str | None = None
    keys: tuple[str, ...] = ()  # kids of the usable keys
    skipped: tuple[str, ...] = ()
    max_age: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "reason": self.reason, "status": self.status, "error": self.error,
                "keys": list(self.keys), "skipped": list(self.skipped), "max_age": self.max_age}


def cache_lifetime(headers: Mapping[str, str], default: float = DEFAULT_MAX_AGE, cap: float = MAX_AGE_CAP) -> float:
    """Seconds to keep a JWKS answered with ``headers`` (names lower-cased)."""
    value = headers.get("cache-control", "")
    if _NO_CACHE.search(value):
        return 0.0
    match = _MAX_AGE.search(value)
    if match is None:
        return default
    return min(float(match.group(1)), cap)


def parse_jwks(body: bytes, url: str, *, truncated: bool = False, content_type: str = "") -> ParsedJwks:
    """The usable RS256 keys of a JWKS document, or :class:`PartnerJwksMalformed` saying what is wrong."""
    where = f"the partner's JWKS at {shorten(redact_url(url))}"
    if truncated:
        raise PartnerJwksMalformed(f"{where} is larger than the read cap ({len(body)} bytes read); a JWKS is a few keys")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise PartnerJwksMalformed(
            f"{where} is not JSON ({content_type or 'no Content-Type'}, {len(body)} bytes); "
            'expected a JWK Set {"keys": [...]} (RFC 7517 §5)'
        ) from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise PartnerJwksMalformed(
            f'{where} is JSON but not a JWK Set: expected an object with a "keys" array (RFC 7517 §5)'
        )
    usable: dict[str, PartnerKey] = {}
    skipped: list[str] = []
    for index, jwk in enumerate(keys):
        name = _key_name(index, jwk)
        leaked = [m for m in PRIVATE_JWK_MEMBERS if isinstance(jwk, dict) and m in jwk]
        if leaked:
            raise PartnerJwksMalformed(
                f"{where} publishes private key material ({', '.join(leaked)} in {name}); it is refused "
                "whole. Remove the private members and treat that key as compromised: rotate it"
            )
        problems = jwk_problems(jwk)
        if problems:
            skipped.append(f"{name}: " + "; ".join(f"{m} {p}" if m else p for m, p in problems))
            continue
        kid = str(jwk["kid"])
        if kid in usable:
            skipped.append(f"{name}: duplicate kid (RFC 7517 §4.5: kids in a set should differ); the first is used")
            continue
        usable[kid] = PartnerKey.from_jwk(jwk, f"jwks {redact_url(url)}")
    if not usable:
        why = "its key list is empty" if not keys else "no key in it is an RSA key usable for RS256 with a kid: " + \
            " | ".join(skipped)
        raise PartnerJwksMalformed(f"{where} has nothing to verify with: {shorten(why, 600)}")
    return ParsedJwks(keys=usable, skipped=tuple(skipped))


def _key_name(index: int, jwk: Any) -> str:
    kid = jwk.get("kid") if isinstance(jwk, dict) else None
    return f"keys[{index}] (kid {shorten(kid, 60)!r})" if isinstance(kid, str) else f"keys[{index}]"


@dataclass
class _Entry:
    keys: dict[str, PartnerKey]
    fetched_at: float
    expires_at: float
    last_attempt: float
    skipped: tuple[str, ...] = ()


@dataclass
class JwksCache:
    """Per-URL cache of partners' JWKS. Share one per simulator; ``reset()`` forgets everything."""

    fetch: JwksFetch
    clock: _Clock
    default_max_age: float = DEFAULT_MAX_AGE
    refetch_interval: float = REFETCH_INTERVAL
    max_age_cap: float = MAX_AGE_CAP
    timeout: float | None = None  # seconds; also enforced here when given, and named in the error
    _entries: dict[str, _Entry] = field(default_factory=dict, init=False, repr=False)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict, init=False, repr=False)

    async def key_for(self, url: str, kid: str, records: list[JwksFetchRecord] | None = None) -> PartnerKey | None:
        """The key ``kid`` of the JWKS at ``url``, fetching when the copy is missing or stale, and once
        more (rate limited) when the kid is unknown. ``None``: no such kid. Fetch failures raise."""
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:
            now = self.clock.now()
            entry = self._entries.get(url)
            if entry is None or not entry.fetched_at <= now < entry.expires_at:
                entry = await self._refresh(url, "first use" if entry is None else "expired", records)
            if kid in entry.keys:
                return entry.keys[kid]
            now = self.clock.now()  # a fetch just now counts: no second one for the same unknown kid
            # (now < last_attempt: the simulator's clock was set back, so the interval starts over)
            if now - entry.last_attempt >= self.refetch_interval or now < entry.last_attempt:
                entry = await self._refresh(url, "unknown kid", records)
            return entry.keys.get(kid)

    def lookup(self, url: str, records: list[JwksFetchRecord] | None = None) -> AsyncKeyLookup:
        """``key_for`` bound to ``url``: the ``keys`` argument of ``averify_partner_jwt``."""

        async def key(kid: str) -> PartnerKey | None:
            return await self.key_for(url, kid, records)

        return key

    def cached(self, url: str) -> dict[str, PartnerKey]:
        """The keys held for ``url`` now, fresh or not (for ``/_sim`` views); nothing is fetched."""
        entry = self._entries.get(url)
        return dict(entry.keys) if entry else {}

    def invalidate(self, url: str | None = None) -> None:
        """Forget one URL's JWKS (or all): the next token fetches again."""
        if url is None:
            self._entries.clear()
        else:
            self._entries.pop(url, None)

    def reset(self) -> None:
        self._entries.clear()
        self._locks.clear()

    async def _refresh(self, url: str, reason: str, records: list[JwksFetchRecord] | None) -> _Entry:
        record = JwksFetchRecord(url=redact_url(url), reason=reason)
        if records is not None:
            records.append(record)
        started = self.clock.now()
        previous = self._entries.get(url)
        if previous is not None:  # a failed refetch still counts against the unknown-kid interval
            previous.last_attempt = started
        try:
            parsed, lifetime = await self._fetch_and_parse(url, record)
        except (PartnerJwksUnreachable, PartnerJwksTimeout, PartnerJwksMalformed) as exc:
            record.error = exc.message
            if reason != "unknown kid":  # else the copy is still fresh: keep it for the kids it has
                self._entries.pop(url, None)
            raise
        record.keys, record.skipped, record.max_age = tuple(parsed.keys), parsed.skipped, lifetime
        entry = _Entry(keys=parsed.keys, fetched_at=started, expires_at=started + lifetime,
                       last_attempt=started, skipped=parsed.skipped)
        self._entries[url] = entry
        return entry

    async def _fetch_and_parse(self, url: str, record: JwksFetchRecord) -> tuple[ParsedJwks, float]:
        shown = shorten(redact_url(url))
        within = f" within {self.timeout:g} s" if self.timeout is not None else " in time"
        try:
            if self.timeout is not None:
                async with asyncio.timeout(self.timeout):
                    response = await self.fetch(url)
            else:
                response = await self.fetch(url)
        except (CallbackTimedOut, TimeoutError):
            raise PartnerJwksTimeout(f"the partner's JWKS at {shown} did not answer{within}") from None
        except CallbackMalformed as exc:
            raise PartnerJwksMalformed(
                f"the partner's JWKS at {shown} sent an answer that is not valid HTTP ({shorten(str(exc), 200)})"
            ) from None
        except (CallbackFailed, OSError) as exc:
            raise PartnerJwksUnreachable(
                f"the partner's JWKS at {shown} could not be reached ({shorten(str(exc) or type(exc).__name__, 200)})"
            ) from None
        record.status = response.status
        headers = {k.lower(): v for k, v in response.headers.items()}
        if response.status != 200:
            hint = ""
            if 300 <= response.status < 400:
                hint = f" redirecting to {shorten(redact_url(headers.get('location', '')))!r} (redirects are not followed, modeled)"
            elif response.status in (401, 403):
                hint = " (a JWKS must be published without authentication)"
            raise PartnerJwksUnreachable(
                f"the partner's JWKS at {shown} answered {response.status}{hint}; expected 200 with a JWK Set"
            )
        parsed = parse_jwks(response.body, url, truncated=response.truncated,
                            content_type=headers.get("content-type", ""))
        return parsed, cache_lifetime(headers, self.default_max_age, self.max_age_cap)
