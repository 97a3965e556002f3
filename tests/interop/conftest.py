"""Simulators for the interop suite: real servers on loopback, one client with a fresh secret each."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from authlib.deprecate import AuthlibDeprecationWarning

# Authlib's httpx integration now prefers the httpx2 package and warns, once, at import when it finds
# httpx (this project's HTTP client) instead. Import it here, before the tests do, without that warning:
# the suite runs with warnings as errors, and the integration works the same with either package.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "The httpx module is deprecated", AuthlibDeprecationWarning)
    import authlib.integrations.httpx_client  # noqa: F401

from spotnana_sim.core.settings import ClientConfig, Settings
from spotnana_sim.reference.user_detail import DEMO_USERS

from ..servers import running_simulator

SUBJECT_TOKEN = "demo-token-ada"  # a user the embedded reference user-detail API knows...
NO_PROFILE_TOKEN = "demo-token-linus"  # ...and one it knows whose email is left out of the profiles below


@dataclass(frozen=True)
class LiveSimulator:
    """Where a running simulator answers, and the one client it accepts."""

    url: str
    client_id: str
    client_secret: str
    subject_token: str = SUBJECT_TOKEN
    subject_email: str = DEMO_USERS[SUBJECT_TOKEN]
    no_profile_token: str = NO_PROFILE_TOKEN

    @property
    def token_url(self) -> str:
        return self.url + "/v2/auth/oauth2-token"


def _start(dialect: str) -> Iterator[LiveSimulator]:
    client = ClientConfig("interop-client", "interop-" + secrets.token_urlsafe(16))
    profiles = tuple(email for token, email in DEMO_USERS.items() if token != NO_PROFILE_TOKEN)
    settings = Settings(errors=dialect, clients=(client,), profiles=profiles)
    with running_simulator(settings) as (server, _simulator):
        yield LiveSimulator(server.url, client.client_id, client.client_secret)


@pytest.fixture(scope="module")
def rfc6749_simulator() -> Iterator[LiveSimulator]:
    """The generic-OAuth dialect (an extension): RFC 6749 `{"error": ...}` bodies."""
    yield from _start("rfc6749")


@pytest.fixture(scope="module")
def spotnana_simulator() -> Iterator[LiveSimulator]:
    """The default dialect: Spotnana's documented `{"debugIdentifier", "errorMessages"}` envelope."""
    yield from _start("spotnana")
