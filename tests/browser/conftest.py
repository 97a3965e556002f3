"""Browser fixtures: one headless Chromium per test module (Debian's, through Playwright), a fresh context per test.

Module scope, not session scope: Playwright's sync API keeps its event loop set as the thread's running
loop while it is started, which breaks every asyncio test that runs after it (pytest-asyncio cannot
start its own loop). So the browser lives only as long as the module of browser tests using it, and
browser tests stay in modules without asyncio tests.

Playwright is an optional extra: without it (or without Chromium) the browser tests skip, saying why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from spotnana_sim.kit.frontend_check import CHROMIUM_FLAGS, CHROMIUM_PATH


def _unavailable(reason: str) -> None:
    # CI installs Chromium and sets REQUIRE_CHROMIUM: there, a missing browser is a failure, never a skip.
    if os.environ.get("REQUIRE_CHROMIUM"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("the browser tests need Playwright (the [browser] extra)")
    if not os.path.exists(CHROMIUM_PATH):
        _unavailable(f"the browser tests need Chromium at {CHROMIUM_PATH} (Debian package chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=list(CHROMIUM_FLAGS))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()
