"""pytest fixtures for integrators (entry point ``pytest11``); the engine never imports pytest.

Fixtures:

* ``spotnana_sim``: a real simulator on a free loopback port, started once per session (on first
  use) and reset before each test; a :class:`spotnana_sim.kit.testing.SimulatorHandle`.
* ``spotnana_sim_app``: the same, in-process (``httpx.ASGITransport``), built per test.
* ``spotnana_sim_settings``: session-scoped :class:`spotnana_sim.core.settings.Settings`; override it in
  ``conftest.py``. ``@pytest.mark.spotnana_sim(errors="rfc6749", ...)`` changes settings for one
  test (that test gets a simulator of its own).
* ``spotnana_partner_idp``: a partner identity provider (identity model B) whose JWKS is served on a
  free loopback port for the test; a :class:`spotnana_sim.kit.testing.ServedPartnerIdp`
  (``.sign(email)``, ``.jwks_url``, ``.jwks()``). Pair it with ``spotnana_sim.add_jwt_client``.

``pytest --spotnana-user-detail-url URL --spotnana-token T --spotnana-email E`` adds one test item
per user-detail check (select them alone with ``-m spotnana_user_detail``).

This module is loaded in every pytest session where the package is installed, so it imports
nothing heavy at import time and does nothing until a fixture or option asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from spotnana_sim.core.settings import Settings
    from spotnana_sim.kit.report import CheckResult
    from spotnana_sim.kit.testing import InProcessHandle, ServedPartnerIdp, SimulatorHandle, SimulatorServer
    from spotnana_sim.kit.user_detail_checks import UserDetailProbe

MARKER = "spotnana_sim"
CHECK_MARKER = "spotnana_user_detail"
_PROBE_KEY = pytest.StashKey["UserDetailProbe"]()
_WARNINGS_KEY = pytest.StashKey[list["CheckResult"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spotnana-sim", "Spotnana simulator: user-detail API conformance checks")
    group.addoption("--spotnana-user-detail-url", metavar="URL", help="run the user-detail checks against this URL")
    group.addoption("--spotnana-token", metavar="TOKEN", help="a valid subject token for the user-detail checks")
    group.addoption("--spotnana-email", metavar="EMAIL", help="the email the user-detail API should answer for it")
    group.addoption("--spotnana-email-field", metavar="PATH", default="user.email",
                    help="dotted path of the email in the answer (default user.email)")
    group.addoption("--spotnana-expired-token", metavar="TOKEN", help="an expired token, checked to be refused")
    group.addoption("--spotnana-timeout", metavar="SECONDS", type=float, default=None,
                    help="callback timeout to judge response time against (default: the simulator's)")
    group.addoption("--spotnana-user-detail-ca", metavar="FILE",
                    help="PEM bundle of the CA that signed the user-detail API's certificate (a private CA)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(**settings): give this test a simulator with these settings "
        "(errors=, profiles=, clients=, user_detail_url=, email_field=, or any Settings field)",
    )
    config.addinivalue_line("markers", f"{CHECK_MARKER}: a user-detail conformance check (--spotnana-user-detail-url)")


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def spotnana_sim_settings() -> Settings:
    """The simulator's settings for the session; override this fixture in your conftest.py."""
    from spotnana_sim.core.settings import Settings

    return Settings()


@pytest.fixture(scope="session")
def spotnana_sim_server(spotnana_sim_settings: Settings) -> Iterator[SimulatorServer]:
    """The session's simulator server, started on first use."""
    from spotnana_sim.kit.testing import SimulatorServer

    server = SimulatorServer.start_with(spotnana_sim_settings)
    yield server
    server.stop()


def _marker_problem(marker: pytest.Mark, base: Settings) -> str | None:
    """What is wrong with a ``spotnana_sim`` marker over ``base`` settings, in one line; None when nothing."""
    from spotnana_sim.core.settings import ConfigError
    from spotnana_sim.kit.testing import settings_with

    if marker.args:
        return f"@pytest.mark.{MARKER} takes keyword arguments only, e.g. errors='rfc6749'"
    try:
        settings_with(base, **marker.kwargs)
    except ConfigError as exc:
        return f"@pytest.mark.{MARKER}: {exc}"
    except (TypeError, ValueError) as exc:  # a value of the wrong type for a Settings field
        return f"@pytest.mark.{MARKER}: {exc}"
    return None


def _marked_settings(request: pytest.FixtureRequest) -> Settings | None:
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return None
    from spotnana_sim.kit.testing import settings_with

    base = request.getfixturevalue("spotnana_sim_settings")
    problem = _marker_problem(marker, base)
    if problem:
        # Collection reports these as a usage error; this covers settings only the fixture's base rejects.
        pytest.fail(problem, pytrace=False)
    return settings_with(base, **marker.kwargs)


@pytest.fixture
def spotnana_sim(request: pytest.FixtureRequest) -> Iterator[SimulatorHandle]:
    """A real simulator on loopback, reset before the test: ``.token_url``, ``.journal()``, ``.assert_exchanges()``…"""
    settings = _marked_settings(request)
    if settings is not None:
        from spotnana_sim.kit.testing import SimulatorServer

        own = SimulatorServer.start_with(settings)
        try:
            yield own.handle
        finally:
            own.stop()
        return
    server: SimulatorServer = request.getfixturevalue("spotnana_sim_server")
    server.handle.reset()
    yield server.handle


@pytest.fixture
def spotnana_sim_app(request: pytest.FixtureRequest) -> Iterator[InProcessHandle]:
    """An in-process simulator for this test only; ``async with spotnana_sim_app.client() as http: ...``."""
    import asyncio

    from spotnana_sim.kit.testing import start_in_process

    settings = _marked_settings(request) or request.getfixturevalue("spotnana_sim_settings")
    handle = start_in_process(settings)
    yield handle
    asyncio.run(handle.aclose())  # sync teardown: the test's event loop, if any, has finished


@pytest.fixture
def spotnana_partner_idp() -> Iterator[ServedPartnerIdp]:
    """A partner identity provider with a fresh key pair, its JWKS on a free loopback port until the
    test ends: ``spotnana_sim.add_jwt_client("acme", "s", jwks_url=spotnana_partner_idp.jwks_url)``,
    then exchange ``spotnana_partner_idp.sign("ada@example.com")``."""
    from spotnana_sim.kit.testing import ServedPartnerIdp

    with ServedPartnerIdp() as idp:
        yield idp


# ------------------------------------------------------------------- user-detail checks as items


def _check_markers(items: list[pytest.Item]) -> None:
    """Every ``spotnana_sim`` marker checked before any test runs: a typo is a usage error, with a "did you mean"."""
    marked = [(item, mark) for item in items for mark in item.iter_markers(MARKER)]
    if not marked:
        return
    from spotnana_sim.core.settings import Settings

    base = Settings()  # the keys and values are checked the same way whatever the session's settings are
    problems = [f"{item.nodeid}: {problem}" for item, mark in marked if (problem := _marker_problem(mark, base))]
    if problems:
        raise pytest.UsageError("\n".join(dict.fromkeys(problems)))


class UserDetailCheckFailed(Exception):
    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.summary)
        self.result = result


class UserDetailCheckItem(pytest.Item):
    """One user-detail check; the probes are shared by every item, each request sent once."""

    def __init__(self, *, check: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.add_marker(CHECK_MARKER)

    def runtest(self) -> None:
        from spotnana_sim.kit.report import FAIL, SKIP, WARN
        from spotnana_sim.kit.user_detail_checks import run_check

        result = run_check(self.check, _probe(self.config))
        self.user_properties.append(("spotnana_check_status", result.status))
        if result.status == FAIL:
            raise UserDetailCheckFailed(result)
        if result.status == SKIP:
            pytest.skip(result.summary)
        if result.status == WARN:
            self.config.stash.setdefault(_WARNINGS_KEY, []).append(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, UserDetailCheckFailed):
            return excinfo.value.result.explain()
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"spotnana user-detail check {self.check}"


class UserDetailChecks(pytest.Collector):
    def collect(self) -> list[pytest.Item]:
        from spotnana_sim.kit.user_detail_checks import check_names

        return [UserDetailCheckItem.from_parent(self, name=name, check=name) for name in check_names()]


def _target(config: pytest.Config) -> Any:
    from spotnana_sim.core.settings import DEFAULT_TIMEOUT
    from spotnana_sim.kit.user_detail_checks import UserDetailTarget, tls_context

    token, email = config.getoption("spotnana_token"), config.getoption("spotnana_email")
    if not token or not email:
        raise pytest.UsageError("--spotnana-user-detail-url needs --spotnana-token and --spotnana-email as well")
    try:
        tls_context(config.getoption("spotnana_user_detail_ca"))
        return UserDetailTarget(
            url=config.getoption("spotnana_user_detail_url"), token=token, expect_email=email,
            email_field=config.getoption("spotnana_email_field"),
            expired_token=config.getoption("spotnana_expired_token"),
            timeout=config.getoption("spotnana_timeout") or DEFAULT_TIMEOUT,
        )
    except ValueError as exc:
        raise pytest.UsageError(f"--spotnana-{exc}") from None


def _probe(config: pytest.Config) -> UserDetailProbe:
    if _PROBE_KEY not in config.stash:
        import httpx

        from spotnana_sim.kit.user_detail_checks import PYTEST_OPTIONS, UserDetailProbe, tls_context

        target = _target(config)
        http = httpx.Client(verify=tls_context(config.getoption("spotnana_user_detail_ca")))
        config.stash[_PROBE_KEY] = UserDetailProbe(target, http, options=PYTEST_OPTIONS)
    return config.stash[_PROBE_KEY]


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so the new items can be selected too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    _check_markers(items)
    if not config.getoption("spotnana_user_detail_url", None):
        return
    _target(config)  # a usage error shows now, not once per item
    checks = UserDetailChecks.from_parent(session, name="spotnana-user-detail", nodeid="spotnana-user-detail")
    items.extend(checks.collect())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    warnings = config.stash.get(_WARNINGS_KEY, [])
    if warnings:
        terminalreporter.section("spotnana user-detail warnings")
        for result in warnings:
            terminalreporter.line(result.explain())


def pytest_unconfigure(config: pytest.Config) -> None:
    probe = config.stash.get(_PROBE_KEY, None)
    if probe is not None:
        probe.http.close()
