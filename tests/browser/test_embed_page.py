"""The stand-in embedded app in Chromium: handshake, origins, token checks, error and timeout states, renewal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from spotnana_sim.core.settings import DEMO_CLIENT_ID
from spotnana_sim.core.tokens import subject_for

from ..serve_process import ServeProcess
from .partners import Case, ScriptedPartner
from .playwright_api import Page, expect
from .stack import Stack, embed_stack, reference_partner

pytestmark = pytest.mark.e2e

ADA = "ada@example.com"


def embed_body(page: Page) -> Any:
    return page.frame_locator("#spotnana-embed").locator("body")


def errors_received(page: Page) -> list[dict[str, Any]]:
    """The TOKEN_EXCHANGE_ERROR messages the scripted partner page got, once there is one."""
    page.wait_for_function("window.received.some(m => m && m.type === 'TOKEN_EXCHANGE_ERROR')")
    received = page.evaluate("window.received")
    return [m for m in received if isinstance(m, dict) and m.get("type") == "TOKEN_EXCHANGE_ERROR"]


def open_case(page: Page, stack: Stack, partner: ScriptedPartner, case: Case, name: str = "case") -> None:
    partner.cases[name] = case
    page.goto(f"{stack.partner.url}/case/{name}")


def test_the_reference_partner_app_signs_the_user_in(page: Page, tmp_path: Path) -> None:
    with embed_stack(reference_partner) as stack:
        page.goto(f"{stack.partner.url}/login?user={ADA}")
        embed = page.frame_locator("#spotnana-embed")
        expect(embed.locator("body")).to_have_attribute("data-state", "signed-in")
        expect(embed.locator("#email")).to_have_text(ADA)
        expect(embed.locator("#org")).to_have_text(stack.org_id)
        page.screenshot(path=tmp_path / "signed-in.png", full_page=True)
        assert (tmp_path / "signed-in.png").stat().st_size > 0

        accepted = stack.wait_for("response_accepted")
        assert (accepted["email"], accepted["client_id"], accepted["origin"]) == (ADA, DEMO_CLIENT_ID, stack.partner.url)
        assert [e["step"] for e in stack.entries()][:2] == ["page_served", "request_sent"]
        # Tokens appear redacted only.
        tokens = stack.simulator.journal.entries(kind="token", status=200)
        assert accepted["access_token"].startswith("…") and len(accepted["access_token"]) <= 5
        assert tokens, "the partner backend exchanged a token at the simulator"


def test_make_run_shows_the_whole_flow_on_a_separate_embed_origin(page: Page, tmp_path: Path) -> None:
    """What `make run` starts (`serve --with-partner-app`), with the embedded app on a port of its own."""
    server = ServeProcess(["--with-partner-app", "--partner-app-port", "0", "--embed-port", "0"], tmp_path / "serve.log")
    try:
        assert server.partner_url is not None
        page.goto(f"{server.partner_url}/login?user={ADA}")  # http://localhost:PORT, as the banner says
        embed = page.frame_locator("#spotnana-embed")
        expect(embed.locator("body")).to_have_attribute("data-state", "signed-in")
        expect(embed.locator("#email")).to_have_text(ADA)
        assert page.locator("#spotnana-embed").get_attribute("src", timeout=1000).startswith(server.embed_url + "/embed/")
    finally:
        assert server.stop() == 0


def test_a_message_from_an_origin_that_is_not_allowed_is_ignored_and_journaled(page: Page) -> None:
    with embed_stack(reference_partner, allow_partner=False, handshake_timeout=0.5) as stack:
        page.goto(f"{stack.partner.url}/login?user={ADA}")
        expect(embed_body(page)).to_have_attribute("data-state", "timeout")
        rejected = stack.wait_for("message_rejected")
        assert rejected["origin"] == stack.partner.url
        assert rejected["message"] is None and rejected["detail"]["reason"] == "origin not allowed"
        assert not stack.entries("response_accepted")
        expect(page.frame_locator("#spotnana-embed").locator("#message")).to_contain_text(stack.partner.url)


MALFORMED = [
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"access_token": "a", "refreshToken": "r"}},
     "payload.accessToken is missing; found access_token — the embed protocol uses camelCase"),
    ({"type": "TOKEN_EXCHANGE_RESPONSE_V2", "payload": {"accessToken": "a", "refreshToken": "r"}},
     'type is "TOKEN_EXCHANGE_RESPONSE_V2"; it must be exactly "TOKEN_EXCHANGE_RESPONSE"'),
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": '{"accessToken": "a", "refreshToken": "r"}'},
     "payload is a string; it must be an object"),
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"accessToken": "a"}}, "payload.refreshToken is missing"),
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"accessToken": 42, "refreshToken": "r"}},
     "payload.accessToken must be a string, got a number"),
]


@pytest.mark.parametrize(("reply", "explanation"), MALFORMED, ids=["snake_case", "type", "string", "refresh", "number"])
def test_a_malformed_answer_is_explained_to_the_user_and_the_parent(page: Page, reply: Any, explanation: str) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner) as stack:
        open_case(page, stack, partner, Case(reply=reply))
        expect(embed_body(page)).to_have_attribute("data-state", "error")
        expect(page.frame_locator("#spotnana-embed").locator("#message")).to_contain_text(explanation)
        [error] = errors_received(page)
        assert error["from"] == "spotnana-embed" and error["payload"]["errorCode"] == "INVALID_TOKEN"
        assert explanation in error["payload"]["errorMessage"]
        assert explanation in stack.wait_for("response_malformed")["message"]
        stack.wait_for("error_posted")


def test_an_invalid_token_makes_the_parent_receive_token_exchange_error(page: Page) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner) as stack:
        reply = {"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"accessToken": "not-a-token", "refreshToken": "nope"}}
        open_case(page, stack, partner, Case(reply=reply))
        [error] = errors_received(page)
        assert error["payload"]["errorCode"] == "INVALID_TOKEN"
        assert "not a JWT" in error["payload"]["errorMessage"]
        expect(embed_body(page)).to_have_attribute("data-state", "error")
        assert stack.wait_for("token_refused")["reason"] == "malformed"


def test_an_expired_token_makes_the_parent_receive_token_exchange_error(page: Page) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner) as stack:
        issuer = stack.simulator.issuer
        now = stack.simulator.clock.now()
        access = issuer.issue_access_token(client_id=DEMO_CLIENT_ID, subject=subject_for(ADA), email=ADA,
                                           scope="openid", issued_at=now - 7200)
        refresh = issuer.issue_refresh_token(client_id=DEMO_CLIENT_ID, subject=subject_for(ADA), email=ADA, scope="openid")
        reply = {"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"accessToken": access.token, "refreshToken": refresh}}
        open_case(page, stack, partner, Case(reply=reply))
        [error] = errors_received(page)
        assert error["payload"]["errorCode"] == "INVALID_TOKEN"
        assert "expired" in error["payload"]["errorMessage"]
        refused = stack.wait_for("token_refused")
        assert refused["reason"] == "expired" and access.token not in json.dumps(stack.entries())


def test_a_token_for_another_org_is_refused(page: Page) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner) as stack:
        tokens = stack.exchange()
        reply = {"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"accessToken": tokens.access_token,
                                                                "refreshToken": tokens.refresh_token}}
        open_case(page, stack, partner, Case(reply=reply, iframe_query="idp=token-exchange-auth&orgId=someone-else"))
        [error] = errors_received(page)
        assert "orgId=someone-else" in error["payload"]["errorMessage"]
        assert stack.wait_for("token_refused")["reason"] == "wrong_org"


def test_no_answer_ends_in_the_timeout_state(page: Page) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner, handshake_timeout=0.5) as stack:
        open_case(page, stack, partner, Case(answer=False))
        expect(embed_body(page)).to_have_attribute("data-state", "timeout")
        expect(page.frame_locator("#spotnana-embed").locator("#message")).to_contain_text("No TOKEN_EXCHANGE_RESPONSE within 0.5 s")
        assert stack.wait_for("timeout")["detail"]["seconds"] == 0.5


def test_an_expired_token_is_renewed_with_a_new_request(page: Page) -> None:
    with embed_stack(reference_partner, token_check_interval=0.2) as stack:
        page.goto(f"{stack.partner.url}/login?user={ADA}")
        expect(embed_body(page)).to_have_attribute("data-state", "signed-in")
        first = stack.wait_for("response_accepted")

        httpx.post(f"{stack.sim.url}/_sim/clock", json={"advance": 3700}).raise_for_status()

        assert stack.wait_for("token_expired")["reason"] == "expired"
        stack.wait_for("request_sent", lambda e: e["detail"]["renewal"] is True)
        renewed = stack.wait_for("response_accepted", lambda e: e["detail"]["renewal"] is True)
        assert renewed["access_token"] != first["access_token"] and renewed["email"] == ADA
        expect(embed_body(page)).to_have_attribute("data-state", "signed-in")


def test_fault_request_twice_is_answered_twice_and_the_second_answer_ignored(page: Page) -> None:
    twice = {"id": "twice", "target": "embed", "embed": "request_twice", "delay": 0.2}
    with embed_stack(reference_partner, faults=(twice,)) as stack:
        page.goto(f"{stack.partner.url}/login?user={ADA}")
        expect(embed_body(page)).to_have_attribute("data-state", "signed-in")
        assert stack.wait_for("page_served")["fault_id"] == "twice"
        assert stack.wait_for("request_sent")["detail"]["count"] == 2
        stack.wait_for("message_ignored", lambda e: e["detail"].get("state") == "signed-in")


def test_fault_refuse_token_refuses_a_valid_token(page: Page) -> None:
    refuse = {"id": "refuse", "target": "embed", "embed": "refuse_token", "match": {"client_id": DEMO_CLIENT_ID}}
    with embed_stack(reference_partner, faults=(refuse,)) as stack:
        page.goto(f"{stack.partner.url}/login?user={ADA}")
        expect(embed_body(page)).to_have_attribute("data-state", "error")
        refused = stack.wait_for("token_refused")
        assert (refused["reason"], refused["fault_id"]) == ("refused", "refuse")
        expect(page.locator("#partner-status")).to_contain_text("INVALID_TOKEN")


def test_the_page_renders_hostile_query_values_as_text(page: Page) -> None:
    partner = ScriptedPartner()
    hostile = '</script><img src=x onerror="window.parent.pwned=1">"\'&'
    with embed_stack(partner, handshake_timeout=0.3) as stack:
        query = str(httpx.QueryParams({"idp": "token-exchange-auth", "orgId": hostile}))
        open_case(page, stack, partner, Case(answer=False, iframe_query=query))
        embed = page.frame_locator("#spotnana-embed")
        expect(embed.locator("body")).to_have_attribute("data-state", "timeout")
        expect(embed.locator("#org")).to_have_text(hostile)
        assert embed.locator("img").count() == 0
        assert page.evaluate("window.pwned") is None


def test_a_wrong_idp_is_explained_without_a_request(page: Page) -> None:
    partner = ScriptedPartner()
    with embed_stack(partner) as stack:
        open_case(page, stack, partner, Case(answer=False, iframe_query=f"idp=saml&orgId={stack.org_id}"))
        embed = page.frame_locator("#spotnana-embed")
        expect(embed.locator("body")).to_have_attribute("data-state", "error")
        expect(embed.locator("#message")).to_contain_text("idp=token-exchange-auth")
        served = stack.wait_for("page_served")
        assert served["outcome"] == "error" and not stack.entries("request_sent")


def test_the_request_can_be_addressed_to_the_allowed_origins_only(page: Page) -> None:
    with embed_stack(reference_partner, request_target="allowed-origins") as stack:
        page.goto(f"{stack.partner.url}/login?user={ADA}")
        expect(embed_body(page)).to_have_attribute("data-state", "signed-in")
        assert stack.wait_for("request_sent")["detail"]["target"] == "allowed-origins"
