"""Test helpers with no pytest in them: a simulator on a real loopback port, and a handle to drive it.

The pytest plugin (``simulator.pytest_plugin``) wraps these as fixtures; any other test runner can
use them directly::

    with SimulatorServer.start_with(Settings()) as server:
        sim = server.handle
        ... point your backend at sim.token_url ...
        sim.assert_exchanges(email="ada@example.com", count=1)

The handle acts on the simulator object itself (same process), which is what the admin API does
too; the journal is locked for readers in other threads, and the rest is only changed between
requests (set-up before the test's requests, reset after).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from typing import Any

from spotnana_sim.core.config_file import client_from_table
from spotnana_sim.core.errors import DIALECTS
from spotnana_sim.core.fault_rules import check_rules
from spotnana_sim.core.overrides import apply_overrides
from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH, TOKEN_EXCHANGE_GRANT
from spotnana_sim.core.settings import JWT_IDENTITY, ClientConfig, ConfigError, Settings
from spotnana_sim.core.validators import did_you_mean
from spotnana_sim.harness.journal_entry import JournalEntry
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.kit.client_grader import GraderPolicy, grade_journal
from spotnana_sim.kit.report import Report
from spotnana_sim.reference.partner_idp import JWKS_PATH, PartnerIdentityProvider, create_partner_idp_app
from spotnana_sim.server.app import create_app
from spotnana_sim.server.served import AppServer, bind_socket, build_served_simulator, socket_url

_OVERRIDE_KEYS = ("user_detail_url", "email_field", "clients", "profiles", "errors")
_SETTINGS_KEYS = tuple(f.name for f in fields(Settings))
_DEFAULT_SETTINGS = Settings()


class SimulatorAssertionError(AssertionError):
    """An expectation about the journal did not hold; the message lists what did happen."""


def settings_with(base: Settings, **changes: Any) -> Settings:
    """``base`` with changes given as CLI-style overrides or Settings fields.

    ``user_detail_url``, ``email_field``, ``errors``, ``profiles`` (emails) and ``clients`` as
    ``"ID:SECRET"`` strings go through the same checks as the command-line flags; any other
    Settings field (``journal_size``, ``faults``, ``tokens``, ``clients`` as ClientConfig…) is
    replaced as given, once its type is checked. Raises :class:`ConfigError` naming the key, with a
    "did you mean" for a misspelt key or dialect.
    """
    overrides: dict[str, Any] = {}
    direct: dict[str, Any] = {}
    for key, value in changes.items():
        if key in ("clients", "profiles") and isinstance(value, str):
            value = [value]  # one client or profile, written without the list
        if key == "clients" and not all(isinstance(c, str) for c in value):
            direct[key] = tuple(value)
        elif key in _OVERRIDE_KEYS:
            if key == "errors" and value not in DIALECTS:
                choices = ", ".join(map(repr, DIALECTS))
                raise ConfigError(key, f"must be one of {choices}, got {value!r}{did_you_mean(str(value), DIALECTS)}",
                                  "spotnana_sim")
            overrides[key] = list(value) if key in ("clients", "profiles") else value
        elif key in _SETTINGS_KEYS:
            direct[key] = _typed_field(key, value)
        else:
            accepted = sorted(set(_OVERRIDE_KEYS + _SETTINGS_KEYS))
            raise ConfigError(key, f"not a simulator setting{did_you_mean(key, accepted)}; accepted: {', '.join(accepted)}",
                              "spotnana_sim")
    settings = replace(base, **direct) if direct else base
    # Keys are named as written here (errors=, profiles=), not as the command-line flags.
    return apply_overrides(settings, name=lambda argument: argument, **overrides) if overrides else settings


def _typed_field(key: str, value: Any) -> Any:
    """``value`` when it has the type of the Settings field ``key`` (fields whose default is None: any)."""
    default = getattr(_DEFAULT_SETTINGS, key)
    if default is None:
        return value
    expected: tuple[type, ...] = (list, tuple) if isinstance(default, tuple) else (type(default),)
    if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, expected):
        wanted = "a list" if isinstance(default, tuple) else f"of type {type(default).__name__}"
        raise ConfigError(key, f"must be {wanted} (as the Settings field), got {type(value).__name__} {value!r}",
                          "spotnana_sim")
    if isinstance(value, (list, tuple)):
        if key == "faults":
            check_rules(list(value))  # a bad rule is named now (faults[1].times: ...), not when a server starts
        return tuple(value)
    return value


def describe_entry(entry: Mapping[str, Any]) -> str:
    """One journal entry in one line: id, time, grant, client, user, outcome."""
    grant = "token-exchange" if entry.get("grant_type") == TOKEN_EXCHANGE_GRANT else entry.get("grant_type")
    outcome = entry.get("connection_fault") or entry.get("status")
    code = f" {entry['error_code']}" if entry.get("error_code") else ""
    who = f" email={entry['email']}" if entry.get("email") else ""
    fault = f" fault={entry['fault_id']}" if entry.get("fault_id") else ""
    return (f"#{entry.get('id')} {entry.get('time')} {entry.get('method')} {grant} "
            f"client={entry.get('client_id')}{who} -> {outcome}{code}{fault}")


class SimulatorHandle:
    """Drives one simulator from a test: URLs, runtime clients and profiles, faults, clock, journal."""

    def __init__(self, simulator: Simulator, url: str, app: Any = None) -> None:
        self.simulator = simulator
        self.url = url.rstrip("/")
        self._app = app

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_ENDPOINT_PATH

    @property
    def jwks_url(self) -> str:
        return self.url + "/.well-known/jwks.json"

    @property
    def user_detail_url(self) -> str:
        """The embedded reference user-detail API (served when a client has no URL of its own)."""
        return self.simulator.embedded_user_detail_url

    @property
    def clients(self) -> list[ClientConfig]:
        return self.simulator.clients.all()

    def reset(self) -> None:
        """Back to the state at start: journal, faults, clock, keys, runtime clients, profiles and users."""
        self.simulator.reset()
        directory = self._user_directory()
        if directory is not None:
            directory.reset()

    # ------------------------------------------------------------------ set-up

    def add_client(
        self,
        client_id: str,
        secret: str,
        *,
        user_detail_url: str | None = None,
        email_field: str | None = None,
        timeout: float | None = None,
        grants: Iterable[str] | None = None,
    ) -> ClientConfig:
        changes: dict[str, Any] = {"user_detail_url": user_detail_url}
        if email_field is not None:
            changes["email_field"] = email_field
        if timeout is not None:
            changes["timeout"] = timeout
        if grants is not None:
            changes["grants"] = frozenset(grants)
        client = ClientConfig(client_id, secret, **changes)
        self.simulator.clients.put(client)
        return client

    def add_jwt_client(
        self,
        client_id: str,
        secret: str,
        *,
        jwks_url: str | None = None,
        keys: Iterable[Mapping[str, Any]] = (),
        audience: str | None = None,
        issuer: str | None = None,
        email_claim: str | None = None,
        grants: Iterable[str] | None = None,
    ) -> ClientConfig:
        """A client on identity model B: subject tokens are JWTs its partner signed, verified against
        the JWKS at ``jwks_url`` and/or ``keys`` (public JWKs, registered for its company now).
        Every value is checked as a ``[[clients]]`` table's is."""
        table: dict[str, Any] = {"id": client_id, "secret": secret, "identity": JWT_IDENTITY}
        for key, value in (("jwks_url", jwks_url), ("audience", audience), ("issuer", issuer),
                           ("email_claim", email_claim)):
            if value is not None:
                table[key] = value
        if grants is not None:
            table["grants"] = list(grants)
        table["keys"] = [dict(jwk) for jwk in keys]
        client = client_from_table(table, source="add_jwt_client")
        self.simulator.clients.put(client)
        self.simulator.register_configured_keys()
        return client

    def register_partner_key(self, client_id: str, jwk: Mapping[str, Any]) -> dict[str, str]:
        """Register a public JWK for the client's company, as ``POST …/partner-public-keys`` does (same
        checks); returns the key's record (``id``, ``orgId``, ``kid``, ``status``, ``thumbprint``…)."""
        from spotnana_sim.core.errors import SimulatorError

        client = self._client(client_id)
        try:
            record = self.simulator.partner_keys.register(client.org_id, {"keyType": "JWKS", "jwks": {"keys": [dict(jwk)]}})
        except SimulatorError as exc:
            raise ValueError(f"partner key: {exc.message}") from None
        return record.as_dict()

    def use_user_detail(
        self, url: str, *, client_id: str | None = None, email_field: str | None = None, timeout: float | None = None
    ) -> ClientConfig:
        """Point a client (the only one, when there is one) at a user-detail URL."""
        client = self._client(client_id)
        changes: dict[str, Any] = {"user_detail_url": url}
        if email_field is not None:
            changes["email_field"] = email_field
        if timeout is not None:
            changes["timeout"] = timeout
        return self.simulator.clients.update(client.client_id, **changes)

    def add_profile(self, email: str) -> str:
        """Give Spotnana a profile for ``email``; returns the profile's stable user id (the token's ``sub``)."""
        return self.simulator.profiles.add(email).user_id

    def add_user(self, subject_token: str, email: str) -> None:
        """A user of the embedded reference user-detail API (token → email), with a Spotnana profile."""
        directory = self._user_directory()
        if directory is None:
            raise RuntimeError("no embedded user-detail API in this simulator: every client has its own user_detail_url")
        directory.add(subject_token, email)
        if not self.simulator.profiles.accepts_every_email:
            self.simulator.profiles.add(email)

    def arm_fault(self, rule: Mapping[str, Any]) -> dict[str, Any]:
        """Arm a fault rule (the JSON format of ``POST /_sim/faults``); returns it with its id."""
        from spotnana_sim.harness.faults import FaultRuleError

        try:
            return self.simulator.faults.arm(dict(rule))
        except FaultRuleError as exc:
            raise ValueError(f"fault rule: {exc}") from None

    def advance_clock(self, seconds: float) -> float:
        """Move the simulator's clock forward (tokens expire, journal times move); returns the new time."""
        self.simulator.clock.advance(seconds)
        return self.simulator.clock.now()

    # ------------------------------------------------------------------ journal and assertions

    def journal(self) -> list[JournalEntry]:
        return self.simulator.journal.entries()

    def exchanges(
        self, *, email: str | None = None, client_id: str | None = None, status: int | None = None,
        grant_type: str | None = None,
    ) -> list[JournalEntry]:
        """Token-endpoint requests so far, oldest first, narrowed by each filter given (entries read like dicts)."""
        found = []
        for entry in self.simulator.journal.entries(client_id=client_id, status=status):
            if email is not None and str(entry.get("email") or "").casefold() != email.casefold():
                continue
            if grant_type is not None and entry.get("grant_type") != grant_type:
                continue
            found.append(entry)
        return found

    def assert_exchanges(
        self, *, email: str | None = None, client_id: str | None = None, status: int | None = 200, count: int = 1,
        grant_type: str | None = None,
    ) -> list[JournalEntry]:
        """Exactly ``count`` requests match (default: successful ones); else fail listing every request made."""
        __tracebackhide__ = True  # pytest shows the caller's line, not this one
        found = self.exchanges(email=email, client_id=client_id, status=status, grant_type=grant_type)
        if len(found) != count:
            wanted = ", ".join(f"{k}={v}" for k, v in
                               (("email", email), ("client_id", client_id), ("status", status), ("grant_type", grant_type))
                               if v is not None) or "any request"
            raise SimulatorAssertionError(
                f"expected {count} token-endpoint request(s) matching {wanted}, found {len(found)}.\n"
                + self.describe_journal()
            )
        return found

    def assert_no_exchange(self, **filters: Any) -> None:
        self.assert_exchanges(count=0, **{"status": None, **filters})

    def describe_journal(self) -> str:
        entries = self.journal()
        if not entries:
            return "The simulator received no token-endpoint request at all (is your client pointed at " + self.token_url + "?)"
        return "Requests the simulator received:\n" + "\n".join("  " + describe_entry(e) for e in entries)

    def grade_client(self, *, client_id: str | None = None, policy: GraderPolicy = GraderPolicy()) -> Report:
        """The client grader's report over this simulator's journal (``report.failed`` tells)."""
        entries = self.simulator.journal.entries(client_id=client_id)
        return grade_journal(entries, dropped=self.simulator.journal.dropped, policy=policy, source=self.url,
                             token_url=self.token_url)

    def assert_client_conforms(self, *, client_id: str | None = None, policy: GraderPolicy = GraderPolicy()) -> Report:
        __tracebackhide__ = True
        report = self.grade_client(client_id=client_id, policy=policy)
        if report.failed:
            raise SimulatorAssertionError("the token client does not conform:\n" + report.to_table())
        return report

    # ------------------------------------------------------------------ internals

    def _client(self, client_id: str | None) -> ClientConfig:
        clients = self.simulator.clients.all()
        if client_id is None:
            if len(clients) != 1:
                raise ValueError(f"name the client_id: there are {len(clients)} clients ({', '.join(c.client_id for c in clients)})")
            return clients[0]
        client = self.simulator.clients.get(client_id)
        if client is None:
            raise ValueError(f"no client {client_id!r}; the clients are {', '.join(c.client_id for c in clients)}")
        return client

    def _user_directory(self) -> Any:
        """The embedded reference API's directory, found among the app's mounts (None when not mounted)."""
        app = getattr(self._app, "app", self._app)  # under RawSendMiddleware
        for route in getattr(app, "routes", ()):
            users = getattr(getattr(getattr(route, "app", None), "state", None), "users", None)
            if users is not None:
                return users
        return None


class SimulatorServer(AppServer):
    """A simulator on a real loopback port; ``handle`` drives it."""

    def __init__(self, settings: Settings, *, host: str = "127.0.0.1") -> None:
        sock = bind_socket(host, 0)
        url = socket_url(sock, host)
        simulator = build_served_simulator(settings, base_url=url)
        app = create_app(simulator)
        super().__init__(app, host=host, sock=sock, forwarded_allow_ips=settings.forwarded_allow_ips)
        self.handle = SimulatorHandle(simulator, url, app)

    @classmethod
    def start_with(cls, settings: Settings | None = None) -> SimulatorServer:
        server = cls(settings or Settings())
        server.start()
        return server


class ServedPartnerIdp(PartnerIdentityProvider):
    """A partner identity provider (identity model B) with its JWKS on a free loopback port.

    It is the reference provider (``sign(email, **claims)``, ``jwks()``, ``kid``, ``rotate()``…) plus
    ``jwks_url``, where a model-B client fetches its keys. Use it as a context manager, or
    ``start()`` and ``stop()``.
    """

    def __init__(self, *, host: str = "127.0.0.1", **provider: Any) -> None:
        super().__init__(**provider)
        self.server = AppServer(create_partner_idp_app(self), host=host)
        self.url = self.server.url
        self.jwks_url = self.url + JWKS_PATH

    def start(self) -> ServedPartnerIdp:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> ServedPartnerIdp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class InProcessHandle(SimulatorHandle):
    """The same handle over an in-process simulator: ``client()`` talks to it with no socket."""

    def __init__(self, in_process: Any) -> None:
        from spotnana_sim.server.inprocess import IN_PROCESS_BASE_URL

        super().__init__(in_process.simulator, IN_PROCESS_BASE_URL, in_process.app)
        self.in_process = in_process

    def client(self) -> Any:
        """An ``httpx.AsyncClient`` bound to the in-process app (use ``async with``)."""
        return self.in_process.client()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request from a plain (sync) test, no pytest-asyncio needed: an ``httpx.Response``.

        Runs its own event loop, so it cannot be called from async code: there, use ``client()``.
        ``kwargs`` are httpx's (``data=``, ``json=``, ``headers=``…).
        """
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("request() is for sync tests; in async code use: async with handle.client() as http")

        async def send() -> Any:
            async with self.client() as http:
                return await http.request(method, path, **kwargs)

        return asyncio.run(send())

    def post(self, path: str, **kwargs: Any) -> Any:
        """``request("POST", path, ...)``, e.g. ``post("/v2/auth/oauth2-token", data=form)``."""
        return self.request("POST", path, **kwargs)

    @property
    def app(self) -> Any:
        """The ASGI app, for ``httpx.ASGITransport(app=...)`` or any other ASGI client."""
        return self.in_process.app

    async def aclose(self) -> None:
        await self.in_process.aclose()


def start_in_process(settings: Settings | None = None) -> InProcessHandle:
    """An in-process simulator (no socket) behind the same handle as the real server."""
    from spotnana_sim.server.inprocess import build_in_process

    return InProcessHandle(build_in_process(settings or Settings()))
