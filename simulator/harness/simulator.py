"""One simulator built from settings: every long-lived collaborator, wired once, resettable together.

The outbound HTTP client is passed in (the server layer owns aiohttp, in-process mode uses httpx),
so nothing here knows how a user-detail call travels.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from spotnana_sim.core.clients import ClientRegistry
from spotnana_sim.core.clock import Clock
from spotnana_sim.core.error_rendering import ErrorTable
from spotnana_sim.core.partner_identity import PartnerJwtVerifier
from spotnana_sim.core.partner_jwks import JwksCache, JwksFetch
from spotnana_sim.core.partner_keys import PartnerKeyRegistry
from spotnana_sim.core.profiles import ProfileDirectory
from spotnana_sim.core.rate_limit import RateLimiter
from spotnana_sim.core.settings import DEFAULT_TIMEOUT, Settings
from spotnana_sim.core.tokens import KeySet, TokenIssuer
from spotnana_sim.core.user_detail import UserDetailHttp, UserDetailResponse, UserDetailVerifier
from spotnana_sim.harness.endpoint import TokenEndpoint
from spotnana_sim.harness.faults import FaultBook
from spotnana_sim.harness.journal import Journal

EMBEDDED_USER_DETAIL_PREFIX = "/partner"  # where the reference user-detail API is mounted


class OwnedHttpClient(UserDetailHttp, Protocol):
    """An HTTP client the simulator opens with the server and closes with it."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class Simulator:
    settings: Settings
    base_url: str
    clock: Clock
    keys: KeySet
    issuer: TokenIssuer
    clients: ClientRegistry
    profiles: ProfileDirectory
    journal: Journal
    faults: FaultBook
    verifier: UserDetailVerifier
    endpoint: TokenEndpoint
    http_client: OwnedHttpClient | None  # opened by start(), closed by aclose(); None when the caller owns it
    partner_keys: PartnerKeyRegistry  # model B: keys registered through the partner-public-keys API
    jwks: JwksCache  # model B: partners' JWKS, fetched and cached per URL

    @property
    def embedded_user_detail_url(self) -> str:
        return self.endpoint.embedded_user_detail_url

    def reset(self) -> None:
        """Back to the state at start: journal, faults, clock, keys and runtime client/profile changes."""
        self.journal.clear()
        self.faults.reset()
        self.clients.reset()
        self.profiles.reset()
        self.clock.reset()
        self.keys.reset()
        self.jwks.reset()
        self.partner_keys.reset()
        self.register_configured_keys()
        if self.endpoint.rate_limiter is not None:
            self.endpoint.rate_limiter.reset()

    def register_configured_keys(self) -> None:
        """Keys a [[clients]] table lists (keys, jwks_file) are registered for its company at start."""
        for client in self.clients.all():
            for jwk in client.keys:
                if self.partner_keys.find_active(client.org_id, str(jwk["kid"])) is None:
                    self.partner_keys.register(client.org_id, {"keyType": "JWKS", "jwks": {"keys": [dict(jwk)]}})

    async def start(self) -> None:
        if self.http_client is not None:
            await self.http_client.start()

    async def aclose(self) -> None:
        if self.http_client is not None:
            await self.http_client.aclose()


def default_profiles(settings: Settings) -> tuple[str, ...] | None:
    """Configured profiles; else the embedded reference API's demo users when it serves; else none."""
    if settings.profiles is not None:
        return settings.profiles
    if settings.uses_embedded_user_detail():
        from spotnana_sim.reference.demo_users import DEMO_USERS

        return tuple(DEMO_USERS.values())
    return None


def build_simulator(
    settings: Settings,
    *,
    base_url: str,
    clock: Clock | None = None,
    keys: KeySet | None = None,
    http: UserDetailHttp,
    owns_http: bool = False,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Simulator:
    """``base_url`` is where the simulator itself answers; the embedded user-detail URL derives from it.

    With ``owns_http`` the simulator opens and closes ``http`` (which then has ``start``/``aclose``).
    """
    clock = clock or Clock()
    if keys is None:
        token_settings = settings.tokens
        keys = (
            KeySet.load_or_create(token_settings.key_file, token_settings.algorithm)
            if token_settings.key_file
            else KeySet.generate(token_settings.algorithm)
        )
    issuer = TokenIssuer(
        keys,
        clock,
        issuer=settings.tokens.issuer or base_url,
        issuer_is_fixed=settings.tokens.issuer is not None,
        access_lifetime=settings.tokens.lifetime,
        refresh_lifetime=settings.tokens.refresh_lifetime,
    )
    clients = ClientRegistry(settings.effective_clients())
    profiles = ProfileDirectory(default_profiles(settings), case_sensitive=settings.user_detail.email_match == "exact")
    journal = Journal(settings.journal_size)
    faults = FaultBook(settings.faults, sleep=sleep)
    verifier = UserDetailVerifier(
        http,
        interceptor=faults.intercept_user_detail,
        max_body_bytes=settings.user_detail.max_body_bytes,
        rejecting_statuses=settings.user_detail.rejecting_statuses,
    )
    partner_keys = PartnerKeyRegistry(clock)
    jwks = JwksCache(fetch=_jwks_fetcher(http, clients, faults, settings.user_detail.max_body_bytes), clock=clock)
    partner_verifier = PartnerJwtVerifier(jwks, partner_keys, clock)
    endpoint = TokenEndpoint(
        clients=clients,
        profiles=profiles,
        verifier=verifier,
        issuer=issuer,
        journal=journal,
        faults=faults,
        errors=ErrorTable(settings.error_overrides),
        dialect=settings.errors,
        clock=clock,
        embedded_user_detail_url=base_url.rstrip("/") + EMBEDDED_USER_DETAIL_PREFIX + "/v1/user-detail",
        base_url=base_url,
        sleep=sleep,
        rate_limiter=(
            RateLimiter(settings.rate_limit.requests, settings.rate_limit.per_seconds, clock)
            if settings.rate_limit else None
        ),
        verifies_tls=settings.user_detail.verify_tls,
        partner_verifier=partner_verifier,
    )
    simulator = Simulator(
        settings=settings,
        base_url=base_url,
        clock=clock,
        keys=keys,
        issuer=issuer,
        clients=clients,
        profiles=profiles,
        journal=journal,
        faults=faults,
        verifier=verifier,
        endpoint=endpoint,
        http_client=http if owns_http else None,  # type: ignore[arg-type]
        partner_keys=partner_keys,
        jwks=jwks,
    )
    simulator.register_configured_keys()
    return simulator


def _jwks_fetcher(http: UserDetailHttp, clients: ClientRegistry, faults: FaultBook, max_bytes: int) -> JwksFetch:
    """A partner's JWKS is fetched with the user-detail HTTP client, with the timeout and CA file of a
    client that names the URL; fault rules of target partner-jwks may answer instead."""

    async def fetch(url: str) -> UserDetailResponse:
        client = next((c for c in clients.all() if c.jwks_url == url), None)
        timeout = client.timeout if client else DEFAULT_TIMEOUT
        forced = await faults.intercept_partner_jwks(url, timeout, max_bytes)
        if forced is not None:
            return forced
        ca_file = str(client.ca_file) if client and client.ca_file else None
        return await http.get(url, {"Accept": "application/json"}, timeout, max_bytes, ca_file=ca_file)

    return fetch
