"""The rule that every end-to-end test says so: ``pytestmark = pytest.mark.e2e`` (or the decorator).

A test is end-to-end when, while it runs (its fixtures included), this process listens on a socket
(uvicorn, aiohttp, a raw or stdlib server: anything that serves on loopback) or starts
``spotnana-sim serve`` / ``reference`` in a subprocess; and every test under ``tests/e2e/`` and
``tests/browser/`` is one. The rule watches what a test does rather than which helper it names, so a
new helper cannot hide a server: ``socket.socket.listen`` and ``subprocess.Popen`` are wrapped for
the session. A fixture that served once (module or session scope) counts for every test that uses it.
A test that serves without the marker fails, naming what it started.

tests/conftest.py registers :class:`E2eRule` for the suite; tests/test_e2e_rule.py shows it at work.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
E2E_FOLDERS = (TESTS / "e2e", TESTS / "browser")
SERVER_COMMANDS = frozenset({"serve", "reference"})  # the spotnana-sim subcommands that listen


def starts_a_server(args: Any) -> bool:
    """Whether a subprocess's argv runs ``spotnana-sim serve`` or ``reference`` (also as ``-m spotnana_sim``)."""
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        return False
    words = [str(a) for a in args]
    runs_us = any(Path(w).name == "spotnana-sim" or w == "spotnana_sim" for w in words)
    return runs_us and any(w in SERVER_COMMANDS for w in words)


class E2eRule:
    """A pytest plugin: wraps the two ways a test can start a server, and fails unmarked tests that did."""

    def __init__(self, e2e_folders: Sequence[Path] = E2E_FOLDERS) -> None:
        self.e2e_folders = tuple(e2e_folders)
        self._running: list[pytest.Item] = []  # the test being run (setup, call, teardown)
        self._fixtures: list[pytest.FixtureDef[Any]] = []  # the fixtures being set up, innermost last
        self._served: dict[str, list[str]] = {}  # node id -> what it started
        self._serving_fixtures: dict[pytest.FixtureDef[Any], str] = {}  # a fixture that started a server -> what
        self._originals: tuple[Callable[..., Any], Callable[..., Any]] | None = None

    def _note(self, what: str) -> None:
        for fixturedef in self._fixtures:
            self._serving_fixtures.setdefault(fixturedef, what)
        if self._running and not self._fixtures:
            self._served.setdefault(self._running[-1].nodeid, []).append(what)

    # -- the watch, for one session ----------------------------------------------------------------

    def pytest_sessionstart(self) -> None:
        listen, popen = socket.socket.listen, subprocess.Popen.__init__
        self._originals = (listen, popen)
        note = self._note

        def watched_listen(sock: socket.socket, *args: Any) -> Any:
            try:
                where = sock.getsockname()
            except OSError:
                where = "?"
            note(f"a server listening on {where}")
            return listen(sock, *args)

        def watched_popen(process: subprocess.Popen[Any], args: Any, *more: Any, **options: Any) -> None:
            if starts_a_server(args):
                note(f"a subprocess {' '.join(map(str, args))}")
            popen(process, args, *more, **options)

        socket.socket.listen = watched_listen  # type: ignore[assignment, method-assign]
        subprocess.Popen.__init__ = watched_popen  # type: ignore[assignment, method-assign]

    def pytest_sessionfinish(self) -> None:
        if self._originals is not None:
            socket.socket.listen, subprocess.Popen.__init__ = self._originals  # type: ignore[method-assign]
            self._originals = None

    # -- who is running ----------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        self._running.append(item)
        try:
            return (yield)
        finally:
            self._running.pop()

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> Generator[None, object, object]:
        self._fixtures.append(fixturedef)
        try:
            return (yield)
        finally:
            self._fixtures.pop()

    # -- the verdict -------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
            None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when == "call" and report.passed:
            reason = self.verdict(item)
            if reason:
                report.outcome = "failed"
                report.longrepr = reason
        return report

    def verdict(self, item: pytest.Item) -> str | None:
        """Why this test breaks the rule, or None."""
        started = self._served.pop(item.nodeid, []) + self._serving_fixtures_of(item)
        if item.get_closest_marker("e2e") is not None:
            return None
        folder = next((f for f in self.e2e_folders if f in item.path.parents), None)
        if folder is not None:
            return (f"{item.nodeid} is in {folder.name}/, the end-to-end tests, without the e2e marker: "
                    "add pytestmark = pytest.mark.e2e to the module")
        if started:
            return (f"{item.nodeid} starts {'; '.join(dict.fromkeys(started))} without the e2e marker: "
                    "add pytestmark = pytest.mark.e2e to the module (or @pytest.mark.e2e to the test), "
                    "or drive the simulator in-process (the in_process / sim_client fixtures)")
        return None

    def _serving_fixtures_of(self, item: pytest.Item) -> list[str]:
        info = getattr(item, "_fixtureinfo", None)  # which definition of each fixture name this test uses
        found = []
        for name in getattr(item, "fixturenames", ()):
            for fixturedef in getattr(info, "name2fixturedefs", {}).get(name, ()):
                if fixturedef in self._serving_fixtures:
                    found.append(f"{self._serving_fixtures[fixturedef]} (fixture {name})")
        return found
