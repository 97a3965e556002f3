"""``spotnana-sim check frontend`` as a command: the report formats and exit statuses of the other checks.

The command starts its own Playwright and Chromium, so this module uses no ``browser`` fixture (two
sync Playwright instances cannot share a thread) and holds no asyncio tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from spotnana_sim.cli.main import main
from spotnana_sim.kit.frontend_check import CHECK_NAMES, CHROMIUM_PATH

from .partners import Case, ScriptedPartner
from .stack import embed_stack, reference_partner

pytestmark = pytest.mark.e2e

ADA = "ada@example.com"


@pytest.fixture(autouse=True)
def _needs_a_browser() -> None:
    pytest.importorskip("playwright.sync_api", reason="check frontend needs Playwright (the [browser] extra)")
    if not os.path.exists(CHROMIUM_PATH):
        reason = f"check frontend needs Chromium at {CHROMIUM_PATH} (Debian package chromium)"
        pytest.fail(reason) if os.environ.get("REQUIRE_CHROMIUM") else pytest.skip(reason)


def test_the_reference_partner_app_passes_with_exit_0_json_and_junit(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "frontend.xml"
    with embed_stack(reference_partner) as stack:
        status = main(["check", "frontend", "--url", f"{stack.partner.url}/login?user={ADA}", "--expect-email", ADA,
                       "--json", "--junit", str(junit)])
    report = json.loads(capsys.readouterr().out)
    assert status == 0, report
    assert report["ok"] is True and [r["name"] for r in report["results"]] == list(CHECK_NAMES)
    assert 'failures="0"' in junit.read_text(encoding="utf-8")


def test_a_broken_page_fails_with_exit_1_and_says_how_to_fix_it(capsys: pytest.CaptureFixture[str]) -> None:
    partner = ScriptedPartner()
    partner.cases["snake"] = Case(reply={"type": "TOKEN_EXCHANGE_RESPONSE",
                                         "payload": {"access_token": "a", "refresh_token": "r"}})
    with embed_stack(partner) as stack:
        status = main(["check", "frontend", "--url", f"{stack.partner.url}/case/snake", "--answer-deadline", "2"])
    table = capsys.readouterr().out
    assert status == 1
    assert "answer-shape" in table and "found access_token" in table and "camelCase" in table
