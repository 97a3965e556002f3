"""Playwright for the browser tests, or a skip saying why: it is an optional extra (``[browser]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, expect
else:
    _api = pytest.importorskip("playwright.sync_api", reason="the browser tests need Playwright (the [browser] extra)")
    Browser, Page, expect = _api.Browser, _api.Page, _api.expect

__all__ = ["Browser", "Page", "expect"]
