"""The live dashboard at /_sim/ui in Chromium, against a real served simulator on loopback."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Settings
from spotnana_sim.harness.journal_entry import JournalEntry
from spotnana_sim.reference.demo_users import DEMO_SUBJECT_TOKEN

from .dashboard_stack import Dashboard, dashboard
from .playwright_api import Page, expect

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "test-artifacts"
DOCS_SCREENSHOT = ROOT / "docs" / "assets" / "dashboard.png"


def open_dashboard(page: Page, stack: Dashboard) -> None:
    page.goto(stack.page_url)
    expect(page.locator("#connection")).to_have_text("live")


def entry(page: Page, entry_id: int) -> Any:
    return page.locator(f".entry[data-id='{entry_id}']")


def test_the_page_loads_with_no_console_errors(page: Page) -> None:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    with dashboard() as stack:
        stack.exchange()
        open_dashboard(page, stack)
        expect(page.locator(".entry")).to_have_count(1)
        expect(page.locator("#chart-legend")).to_contain_text("success: 1")
        expect(page.locator("#scenario-name option")).not_to_have_count(0)
        expect(page.locator("#key-list li")).to_have_count(1)
        page.wait_for_timeout(300)  # let the first round of every poll finish
    assert problems == []


def test_an_exchange_made_after_load_appears_with_its_client_and_status(page: Page) -> None:
    with dashboard() as stack:
        open_dashboard(page, stack)
        expect(page.locator("#journal-empty")).to_be_visible()
        assert stack.exchange(client_secret="wrong-secret").status_code == 403
        assert stack.exchange().status_code == 200
        refused, accepted = stack.last_id() - 1, stack.last_id()
        expect(entry(page, accepted).locator(".client")).to_have_text(DEMO_CLIENT_ID)
        expect(entry(page, accepted).locator(".answer")).to_have_text("200")
        expect(entry(page, accepted).locator(".user")).to_have_text("ada@example.com")
        expect(entry(page, refused).locator(".answer")).to_have_text("403 INVALID_CLIENT_CREDENTIALS")
        # Newest on top; the filters narrow what is shown.
        assert page.locator(".entry").first.get_attribute("data-id") == str(accepted)
        page.select_option("#filter-status", "403")
        expect(page.locator(".entry:visible")).to_have_count(1)
        page.select_option("#filter-status", "")
        page.fill("#filter-error", "client_cred")
        expect(page.locator(".entry:visible")).to_have_count(1)
        expect(page.locator("#journal-count")).to_contain_text("Showing 1 of 2")


def test_a_503_armed_from_the_form_answers_the_next_exchange_and_its_entry_shows_the_fault(page: Page) -> None:
    with dashboard() as stack:
        open_dashboard(page, stack)
        page.select_option("#fault-target", "token-endpoint")
        page.select_option("#fault-effect", "response")
        page.fill("#fault-status", "503")
        page.fill("#fault-times", "1")
        shown = json.loads(page.locator("#fault-json").inner_text())
        assert shown == {"target": "token-endpoint", "times": 1, "response": {"status": 503}}
        page.click("#fault-arm")
        expect(page.locator("#fault-rows tr")).to_have_count(1)
        [armed] = stack.simulator.faults.rules()
        assert {key: armed[key] for key in shown} == {**shown, "response": {"status": 503, "headers": {}}}

        response = stack.exchange()
        assert response.status_code == 503
        row = entry(page, stack.last_id())
        expect(row.locator(".answer")).to_have_text("503 SERVICE_UNAVAILABLE")
        expect(row.locator(".fault")).to_have_text(armed["id"])
        expect(page.locator("#fault-rows .fired")).to_have_text("1")
        assert stack.exchange().status_code == 200  # times 1: the next one is answered normally

        page.click(f"button[aria-label='Disarm rule {armed['id']}']")
        expect(page.locator("#faults-empty")).to_be_visible()
        assert stack.simulator.faults.rules() == []


def test_a_user_detail_timeout_preset_arms_for_three_requests(page: Page) -> None:
    with dashboard() as stack:
        open_dashboard(page, stack)
        page.get_by_role("button", name="User-detail times out ×3").click()
        assert json.loads(page.locator("#fault-json").inner_text()) == {
            "target": "user-detail", "times": 3, "user_detail": "timeout",
        }
        page.click("#fault-arm")
        expect(page.locator("#fault-rows tr")).to_have_count(1)
        assert [stack.exchange().status_code for _ in range(4)] == [504, 504, 504, 200]
        expect(entry(page, stack.last_id() - 1).locator(".answer")).to_have_text("504 USER_DETAIL_TIMEOUT")
        page.click("#faults-disarm-all")
        expect(page.locator("#faults-empty")).to_be_visible()


def test_an_expanded_entry_shows_no_whole_secret_or_token(page: Page) -> None:
    with dashboard() as stack:
        tokens = stack.exchange().json()
        secrets = [DEMO_CLIENT_SECRET, DEMO_SUBJECT_TOKEN, tokens["access_token"], tokens["refresh_token"]]
        open_dashboard(page, stack)
        row = entry(page, stack.last_id())
        row.locator("summary").focus()
        page.keyboard.press("Enter")  # keyboard: a summary opens its entry
        detail = row.locator(".detail")
        expect(detail).to_contain_text("client_secret")
        expect(detail).to_contain_text("jti")
        text = detail.inner_text()
        assert "…ada" in text  # the subject token, redacted as everywhere else
        everything = page.content() + page.locator("body").inner_text()
        assert not [secret for secret in secrets if secret in text or secret in everything]


def test_the_clock_control_moves_the_time_new_tokens_carry(page: Page) -> None:
    with dashboard() as stack:
        open_dashboard(page, stack)
        page.fill("#clock-amount", "2")
        page.select_option("#clock-unit", "3600")
        page.click("#clock-forward")
        expect(page.locator("#clock-offset")).to_have_text("(+2h from real time)")
        claims = jwt.decode(stack.exchange().json()["access_token"], options={"verify_signature": False})
        assert abs(claims["iat"] - (time.time() + 7200)) < 60
        page.click("#clock-reset")
        expect(page.locator("#clock-offset")).to_have_text("(real time)")
        assert stack.simulator.clock.offset == 0


def test_off_loopback_without_the_token_the_page_asks_for_it_and_the_api_refuses(page: Page) -> None:
    token = "dashboard-admin-token-7f3a9c"
    with dashboard(Settings(admin_token=token)) as stack:
        for path in ("/_sim/ui/api/journal", "/_sim/ui/api/meta", "/_sim/journal"):
            assert httpx.get(stack.url + path).status_code == 403
        page.goto(stack.page_url)
        expect(page.locator("#login")).to_be_visible()
        expect(page.locator("#main")).to_be_hidden()
        expect(page.locator("#login-why")).to_contain_text("Authorization: Bearer")

        page.fill("#admin-token", "not-the-token")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#login-error")).to_contain_text("Refused")
        assert page.evaluate("sessionStorage.length") == 0

        page.fill("#admin-token", token)
        page.click("#login-form button[type=submit]")
        expect(page.locator("#connection")).to_have_text("live")
        expect(page.locator("#main")).to_be_visible()
        assert page.evaluate("Object.values(sessionStorage)") == [token]
        assert token not in page.url and page.context.cookies() == []
        stack.exchange()
        expect(page.locator(".entry")).to_have_count(1)


def test_a_shipped_scenario_runs_from_the_page_step_by_step(page: Page) -> None:
    with dashboard() as stack:
        stack.arm({"target": "token-endpoint", "response": {"status": 500}})  # the run starts from a clean state
        open_dashboard(page, stack)
        page.select_option("#scenario-name", "spotnana_503")
        expect(page.locator("#scenario-description")).to_contain_text("503")
        page.click("#scenario-run")
        expect(page.locator("#scenario-outcome")).to_have_text("spotnana_503: passed: 2 steps as expected")
        expect(page.locator("#scenario-steps li[data-outcome=passed]")).to_have_count(2)
        expect(page.locator(".entry")).to_have_count(2)  # its requests stay in the journal
        assert stack.simulator.faults.rules() == []  # and it leaves nothing armed


def test_profiles_and_keys_can_be_changed_from_the_page(page: Page) -> None:
    with dashboard() as stack:
        open_dashboard(page, stack)
        expect(page.locator("#client-rows tr")).to_have_count(1)
        expect(page.locator("#client-rows")).to_contain_text("model A")
        expect(page.locator("#client-rows")).not_to_contain_text(DEMO_CLIENT_SECRET)
        page.fill("#profile-email", "zoe@example.com")
        page.keyboard.press("Enter")
        expect(page.locator("#profile-list")).to_contain_text("zoe@example.com")
        assert "zoe@example.com" in (stack.simulator.profiles.emails() or [])

        before = stack.simulator.keys.active.kid
        page.click("#keys-rotate")
        expect(page.locator("#key-list li")).to_have_count(2)
        assert stack.simulator.keys.active.kid != before
        expect(page.locator("#key-list li").first).to_contain_text(stack.simulator.keys.active.kid)


def test_a_full_journal_of_a_thousand_entries_renders_and_keeps_following(page: Page) -> None:
    with dashboard() as stack:
        journal = stack.simulator.journal
        now = stack.simulator.clock.now()
        for i in range(journal.max_entries):
            failed = i % 2 == 1
            journal.record(JournalEntry(
                timestamp=now - 200 + i * 0.2, time="2030-01-01T00:00:00.000+00:00", client_id=f"client-{i % 3}",
                status=503 if failed else 200, error_code="SERVICE_UNAVAILABLE" if failed else None,
            ))
        open_dashboard(page, stack)
        expect(page.locator("#journal-count")).to_contain_text("Showing 1000 of 1000 entries", timeout=15_000)
        page.fill("#filter-error", "service")
        expect(page.locator("#journal-count")).to_contain_text("Showing 500 of 1000")
        page.fill("#filter-error", "")
        stack.exchange()
        newest = entry(page, stack.last_id())
        expect(newest.locator(".client")).to_have_text(DEMO_CLIENT_ID)
        expect(page.locator("#journal-count")).to_contain_text("Showing 1000 of 1000 entries (the journal keeps the newest 1000; 1 older dropped)")
        expect(entry(page, 1)).to_have_count(0)


def test_a_screenshot_of_a_populated_journal(page: Page) -> None:
    with dashboard() as stack:
        clock = stack.simulator.clock
        real = time.time()
        # Traffic spread over the chart's five minutes: the journal records the simulator's clock.
        for seconds_ago in range(295, 0, -5):
            clock.set(real - seconds_ago)
            for _ in range(1 + (seconds_ago // 5) % 3):
                stack.exchange()
            if seconds_ago % 60 == 0:
                stack.exchange(client_secret="wrong-secret")
        clock.set(real - 100)
        stack.arm({"target": "token-endpoint", "times": 2, "response": {"status": 503, "errorCode": "SERVICE_UNAVAILABLE"}})
        stack.exchange(), stack.exchange()
        clock.set(real - 40)
        stack.arm({"target": "user-detail", "times": 1, "user_detail": "timeout"})
        stack.exchange()
        stack.arm({"target": "token-endpoint", "times": 1, "connection": "reset"})
        with pytest.raises(httpx.HTTPError):
            stack.exchange()
        clock.reset()
        stack.exchange(client_id="unknown-client")
        stack.exchange()
        stack.arm({"target": "user-detail", "times": 3, "user_detail": "timeout", "description": "QA: slow partner"})
        page.set_viewport_size({"width": 1400, "height": 1100})
        open_dashboard(page, stack)
        expect(page.locator("#journal-count")).to_contain_text(f"Showing {len(stack.simulator.journal)} of")
        for outcome in ("success", "SERVICE_UNAVAILABLE", "USER_DETAIL_TIMEOUT", "connection:reset"):
            expect(page.locator("#chart-legend")).to_contain_text(outcome)
        expect(page.locator("#scenario-name option[value=spotnana_503]")).to_have_count(1)
        timed_out = page.locator(".entry", has_text="USER_DETAIL_TIMEOUT")
        timed_out.locator("summary").click()
        expect(timed_out.locator(".detail")).to_contain_text("no answer within")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "dashboard.png"
        page.screenshot(path=shot, full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("UPDATE_DOCS_SCREENSHOTS") or not DOCS_SCREENSHOT.exists():
            DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, DOCS_SCREENSHOT)
