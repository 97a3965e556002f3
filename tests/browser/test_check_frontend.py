"""``check frontend`` (the engine) against the reference partner app and against broken partner pages."""

from __future__ import annotations

from typing import Any

import pytest

from spotnana_sim.core.settings import DEMO_CLIENT_SECRET
from spotnana_sim.kit.frontend_check import (
    CHECK_NAMES,
    FrontendCheckOptions,
    run_frontend_check,
)
from spotnana_sim.kit.report import FAIL, PASS, Report

from .partners import Case, ScriptedPartner
from .playwright_api import Browser
from .stack import Stack, embed_stack, reference_partner

pytestmark = pytest.mark.e2e

ADA = "ada@example.com"
FAST = FrontendCheckOptions(answer_deadline=1.0, iframe_wait=1.0, settle=0.5)


def statuses(report: Report) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


def valid_reply(stack: Stack) -> dict[str, Any]:
    tokens = stack.exchange()
    return {"type": "TOKEN_EXCHANGE_RESPONSE",
            "payload": {"accessToken": tokens.access_token, "refreshToken": tokens.refresh_token}}


def check_case(browser: Browser, stack: Stack, partner: ScriptedPartner, case: Case, **options: Any) -> Report:
    partner.cases["case"] = case
    chosen = FrontendCheckOptions(**{**FAST.__dict__, **options})
    return run_frontend_check(f"{stack.partner.url}/case/case", options=chosen, browser=browser)


def test_the_reference_partner_app_passes_every_check(browser: Browser) -> None:
    with embed_stack(reference_partner) as stack:
        report = run_frontend_check(f"{stack.partner.url}/login?user={ADA}", expect_email=ADA, browser=browser)
    assert statuses(report) == {name: PASS for name in CHECK_NAMES}, report.to_table()
    assert ADA in report.result("tokens-valid").summary
    assert report.exit_status == 0


def test_the_wrong_user_fails_tokens_valid(browser: Browser) -> None:
    with embed_stack(reference_partner) as stack:
        report = run_frontend_check(f"{stack.partner.url}/login?user=grace@example.com", expect_email=ADA,
                                    browser=browser, options=FAST)
    result = report.result("tokens-valid")
    assert result.status == FAIL and "grace@example.com" in result.summary and report.exit_status == 1


def test_a_snake_case_payload_is_explained(browser: Browser) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner) as stack:
        tokens = stack.exchange()
        reply = {"type": "TOKEN_EXCHANGE_RESPONSE",
                 "payload": {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}}
        report = check_case(browser, stack, partner, Case(reply=reply))
    shape = report.result("answer-shape")
    assert shape.status == FAIL
    assert shape.summary == "payload.accessToken is missing; found access_token — the embed protocol uses camelCase"
    assert "camelCase" in shape.fix
    assert statuses(report)["answer-in-time"] == PASS and statuses(report)["tokens-valid"] == FAIL


def test_the_wrong_type_is_explained(browser: Browser) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner) as stack:
        reply = {**valid_reply(stack), "type": "token_exchange_response"}
        report = check_case(browser, stack, partner, Case(reply=reply))
    shape = report.result("answer-shape")
    assert shape.status == FAIL and shape.summary.startswith('type is "token_exchange_response"')
    assert "TOKEN_EXCHANGE_RESPONSE" in shape.fix


def test_an_origin_that_is_not_allowed_is_explained(browser: Browser) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner, allow_partner=False) as stack:
        report = check_case(browser, stack, partner, Case(reply=valid_reply(stack)))
        origin = stack.partner.url
    result = report.result("answer-origin")
    assert result.status == FAIL and origin in result.summary
    assert f"--embed-origin {origin}" in result.fix
    assert statuses(report)["answer-shape"] == PASS


def test_a_slow_answer_is_explained(browser: Browser) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner) as stack:
        report = check_case(browser, stack, partner, Case(reply=valid_reply(stack), delay_ms=800), answer_deadline=0.4)
    result = report.result("answer-in-time")
    assert result.status == FAIL and result.summary.startswith("answered after") and "reuse tokens" in result.fix
    assert statuses(report)["tokens-valid"] == PASS  # slow, but it works: only the timing fails


def test_a_client_secret_in_the_page_is_a_critical_failure(browser: Browser) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner) as stack:
        report = check_case(browser, stack, partner, Case(reply=valid_reply(stack), leak=DEMO_CLIENT_SECRET))
    result = report.result("no-client-secret-in-browser")
    assert (result.status, result.critical) == (FAIL, True)
    assert "demo-client" in result.summary and DEMO_CLIENT_SECRET not in report.to_json()
    assert any("response body of" in d and "/case/case" in d for d in result.details)
    assert statuses(report)["tokens-valid"] == PASS


def test_a_page_without_the_iframe_has_nothing_to_judge_and_fails(browser: Browser) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner) as stack:
        report = check_case(browser, stack, partner, Case(iframe=False))
    assert set(statuses(report).values()) == {FAIL}
    assert "no iframe" in report.result("iframe-url").summary
    assert "nothing to judge" in report.result("no-client-secret-in-browser").summary


def test_a_page_that_never_answers_fails_with_how_to_listen(browser: Browser) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner, handshake_timeout=0.5) as stack:
        report = check_case(browser, stack, partner, Case(answer=False), answer_deadline=0.5)
    result = report.result("answer-in-time")
    assert result.status == FAIL and result.summary.startswith("no answer") and "TOKEN_EXCHANGE_REQUEST" in result.fix
