"""What many test modules need, in one place: token-request forms, fake time, one shared signing key.

Servers are in tests/servers.py (on top of the shipped ``spotnana_sim.server.served`` and
``spotnana_sim.kit.testing``), scripted raw HTTP servers in tests/hostile_servers.py, and
``spotnana-sim serve`` in a subprocess in tests/serve_process.py.
"""

from __future__ import annotations

from urllib.parse import urlencode

from spotnana_sim.core.protocol import ACCESS_TOKEN_TYPE, CLIENT_CREDENTIALS_GRANT, OPENID_SCOPE, TOKEN_EXCHANGE_GRANT
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from spotnana_sim.core.tokens import KeySet, SigningKey
from spotnana_sim.reference.demo_users import DEMO_SUBJECT_TOKEN

T0 = 1_700_000_000.0  # a fixed "now" for fake clocks: 2023-11-14T22:13:20Z


def exchange_form(
    client_id: str | None = DEMO_CLIENT_ID, client_secret: str | None = DEMO_CLIENT_SECRET,
    subject_token: str | None = DEMO_SUBJECT_TOKEN, **changes: str | None,
) -> dict[str, str]:
    """A token-exchange request as Spotnana documents it (the demo client and user unless changed);
    a field given as None is left out."""
    form: dict[str, str | None] = {
        "grant_type": TOKEN_EXCHANGE_GRANT, "client_id": client_id, "client_secret": client_secret,
        "subject_token": subject_token, "subject_token_type": ACCESS_TOKEN_TYPE, "scope": OPENID_SCOPE, **changes,
    }
    return {name: value for name, value in form.items() if value is not None}


def credentials_form(client_id: str = DEMO_CLIENT_ID, client_secret: str = DEMO_CLIENT_SECRET) -> dict[str, str]:
    """A client_credentials request (the demo client unless changed)."""
    return {"grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": client_id, "client_secret": client_secret}


def encoded(form: dict[str, str]) -> bytes:
    """A form as the body of a request: application/x-www-form-urlencoded bytes."""
    return urlencode(form).encode()


class ManualTime:
    """A wall clock the test sets and moves by hand.

    ``Clock(base=ManualTime(...))`` gives the simulator a time that only moves when the test says so;
    ``sleep`` is a synchronous sleep that records how long it was asked to wait and moves the time by
    that much (for the reference client's ``sleep=``), so nothing really waits.
    """

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeSleep:
    """An asynchronous sleep that records what it was asked to wait and returns at once.

    For ``build_simulator(..., sleep=)``, ``FaultBook(sleep=)`` and a running simulator's
    ``faults.sleep``: fault delays and simulated timeouts without waiting (tests assert outcomes, not time).
    """

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


_SIGNING_KEYS: list[SigningKey] = []
_SHARED: list[KeySet] = []


def _signing_key() -> SigningKey:
    if not _SIGNING_KEYS:
        _SIGNING_KEYS.append(SigningKey.generate("RS256"))
    return _SIGNING_KEYS[0]


def key_set() -> KeySet:
    """A key set of its own (rotate and reset it at will) over the session's one RS256 key: generating
    an RSA key for every simulator a test builds costs more than the rest of most such tests."""
    return KeySet([_signing_key()])


def shared_keys() -> KeySet:
    """One key set for the whole session, for stacks that share it; whoever rotates it resets it
    (``keys.reset()``) when done."""
    if not _SHARED:
        _SHARED.append(key_set())
    return _SHARED[0]
