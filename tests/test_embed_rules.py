"""The embedded app's rules without a browser: origins, message shapes, token checks, secret scanning, routes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from spotnana_sim.core.clock import Clock
from spotnana_sim.core.embed import (
    EmbedConfig,
    check_embed_token,
    embed_journal_entry,
    normalize_origin,
    org_id_for_client,
)
from spotnana_sim.core.embed_message import (
    RESPONSE_MALFORMED,
    RESPONSE_OK,
    UNRELATED,
    classify_exchange_message,
    message_view,
)
from spotnana_sim.core.error_rendering import ErrorTable
from spotnana_sim.core.errors import EmbedTokenInvalid
from spotnana_sim.core.secret_scan import clients_whose_secret_occurs
from spotnana_sim.core.settings import ClientConfig, Settings
from spotnana_sim.core.tokens import KeySet, TokenIssuer
from spotnana_sim.server.embed import embed_routes
from spotnana_sim.server.served import build_served_simulator

from .helpers import shared_keys

ORG = org_id_for_client("demo-client")


# -- origins and config ----------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "origin"), [
    ("http://localhost:3000", "http://localhost:3000"),
    ("HTTP://LocalHost:3000/", "http://localhost:3000"),
    ("https://app.example.com:443", "https://app.example.com"),
    ("http://[::1]:8080", "http://[::1]:8080"),
])
def test_origins_are_normalized_as_browsers_write_them(given: str, origin: str) -> None:
    assert normalize_origin(given) == origin


@pytest.mark.parametrize(("given", "problem"), [
    ("*", "wildcards"), ("localhost:3000", "http:// or https://"), ("http://a.com/path", "no path"),
    ("http://u:p@a.com", "user name"), ("http://a.com:99999", "port"), ("", "non-empty"),
])
def test_bad_origins_are_refused_with_the_reason(given: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        normalize_origin(given)


def test_config_defaults_follow_spotnana_and_modeled_values_are_checked() -> None:
    config = EmbedConfig()
    assert config.allowed_origins == ("http://localhost:3000",) and config.handshake_timeout == 10.0
    assert EmbedConfig(allowed_origins=("http://A.com/", "http://a.com")).allowed_origins == ("http://a.com",)
    with pytest.raises(ValueError, match="handshake_timeout"):
        EmbedConfig(handshake_timeout=0)
    with pytest.raises(ValueError, match="not one string"):
        EmbedConfig(allowed_origins="http://a.com")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="request_target"):
        EmbedConfig(request_target="http://a.com")


def test_the_org_of_a_client_is_a_stable_uuid() -> None:
    assert org_id_for_client("demo-client") == org_id_for_client("demo-client") != org_id_for_client("other")


# -- message shapes --------------------------------------------------------------------------------

GOOD = {"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"accessToken": "a.b.c", "refreshToken": "r"}}


@pytest.mark.parametrize(("message", "problem"), [
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"access_token": "a", "refresh_token": "r"}},
     "payload.accessToken is missing; found access_token — the embed protocol uses camelCase"),
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"AccessToken": "a", "refreshToken": "r"}},
     "payload.accessToken is missing; found AccessToken — the names are case-sensitive: use accessToken"),
    ({"type": "token_exchange_response", "payload": GOOD["payload"]},
     'type is "token_exchange_response"; it must be exactly "TOKEN_EXCHANGE_RESPONSE" (upper case, underscores)'),
    ({"type": "TOKEN_EXCHANGE_REQUEST", "payload": GOOD["payload"]}, 'type is "TOKEN_EXCHANGE_REQUEST", the iframe'),
    ({"payload": GOOD["payload"]}, "type is missing"),
    ({"type": 7, "payload": GOOD["payload"]}, "type must be the string"),
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "accessToken": "a", "refreshToken": "r"},
     "payload is missing; found accessToken at the top level"),
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": json.dumps(GOOD["payload"])}, "payload is a string"),
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": ["a", "r"]}, "payload must be an object"),
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"accessToken": "a"}}, "payload.refreshToken is missing"),
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"accessToken": None, "refreshToken": "r"}},
     "payload.accessToken must be a string, got null"),
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"accessToken": "Bearer a", "refreshToken": "r"}}, 'starts with "Bearer "'),
    ({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"accessToken": " ", "refreshToken": "r"}}, "payload.accessToken is empty"),
    (json.dumps(GOOD), "the message is a string; postMessage the object itself"),
])
def test_each_mistake_in_an_answer_is_named(message: Any, problem: str) -> None:
    verdict = classify_exchange_message(message)
    assert verdict.kind == RESPONSE_MALFORMED
    assert problem in verdict.explanation


@pytest.mark.parametrize("message", [None, 3, [1], "hello", {"type": "resize", "height": 300},
                                     {"type": "TOKEN_EXCHANGE_REQUEST", "from": "spotnana-embed"}])
def test_other_messages_are_not_answers(message: Any) -> None:
    assert classify_exchange_message(message).kind == UNRELATED


def test_the_documented_answer_is_accepted_and_extra_keys_noted() -> None:
    verdict = classify_exchange_message({**GOOD, "from": "partner"})
    assert (verdict.kind, verdict.access_token, verdict.refresh_token) == (RESPONSE_OK, "a.b.c", "r")
    assert verdict.extra_keys == ("from",) and "a.b.c" not in repr(verdict)


def test_the_journal_keeps_the_shape_of_a_message_never_its_tokens() -> None:
    view = message_view({"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"access_token": "secret-token-value"}})
    assert view == {"type": "TOKEN_EXCHANGE_RESPONSE", "payload": {"access_token": "…alue"}}
    entry = embed_journal_entry("response_accepted", 0.0, outcome="ok", access_token="eyJ.long.token-abcd")
    assert entry["kind"] == "embed" and entry["access_token"] == "…abcd"
    with pytest.raises(ValueError):
        embed_journal_entry("no_such_step", 0.0, outcome="ok")


# -- tokens ----------------------------------------------------------------------------------------


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(shared_keys(), Clock(), issuer="http://sim")


def issue(issuer: TokenIssuer, *, org: str | None = ORG, email: str | None = "ada@example.com", **more: Any) -> str:
    return issuer.issue_access_token(client_id="demo-client", subject="s-1", email=email, org_id=org, **more).token


def test_a_valid_token_gives_the_session(issuer: TokenIssuer) -> None:
    refresh = issuer.issue_refresh_token(client_id="demo-client", subject="s-1", email="ada@example.com", scope="openid")
    session = check_embed_token(issuer, issue(issuer), ORG.upper(), issuer.clock.now(), refresh_token=refresh)
    assert (session.email, session.org_id, session.client_id) == ("ada@example.com", ORG, "demo-client")


@pytest.mark.parametrize(("make", "org", "reason", "words"), [
    (lambda i: issue(i, issued_at=i.clock.now() - 7200), ORG, "expired", "expired at"),
    (lambda i: issue(i), "other-org", "wrong_org", "orgId=other-org"),
    (lambda i: issue(i, org=None), ORG, "no_org", "no org_id claim"),
    (lambda i: issue(i, email=None), ORG, "no_user", "client_credentials"),
    (lambda i: issue(i)[:-4] + "AAAA", ORG, "signature", "signature"),
    (lambda i: "not-a-token", ORG, "malformed", "not a JWT"),
    (lambda i: i.issue_refresh_token(client_id="c", subject="s", email=None, scope=None), ORG, "malformed", "refresh token"),
    (lambda i: issue(i), None, "no_org", "no orgId"),
])
def test_each_invalid_token_is_refused_with_its_reason(issuer: TokenIssuer, make: Any, org: str | None,
                                                      reason: str, words: str) -> None:
    with pytest.raises(EmbedTokenInvalid) as caught:
        check_embed_token(issuer, make(issuer), org, issuer.clock.now())
    assert caught.value.reason == reason and words in caught.value.message


def test_a_token_of_another_simulator_is_refused(issuer: TokenIssuer) -> None:
    other = TokenIssuer(KeySet.generate("ES256"), Clock(), issuer="http://sim")
    with pytest.raises(EmbedTokenInvalid) as caught:
        check_embed_token(issuer, issue(other), ORG, issuer.clock.now())
    assert caught.value.reason == "signature"


@pytest.mark.parametrize(("refresh", "words"), [
    ("access", "holds an access token"), ("junk", "not a refresh token"), ("other-user", "another user"),
])
def test_the_refresh_token_must_go_with_the_access_token(issuer: TokenIssuer, refresh: str, words: str) -> None:
    access = issue(issuer)
    token = {"access": access, "junk": "a.b.c.d.e",
             "other-user": issuer.issue_refresh_token(client_id="demo-client", subject="s-2", email=None, scope=None)}[refresh]
    with pytest.raises(EmbedTokenInvalid) as caught:
        check_embed_token(issuer, access, ORG, issuer.clock.now(), refresh_token=token)
    assert caught.value.reason == "refresh_token" and words in caught.value.message


def test_the_new_error_rows_answer_invalid_token() -> None:
    rendered = ErrorTable().render(EmbedTokenInvalid("expired", reason="expired"), "spotnana")
    assert rendered.status == 401 and rendered.body["errorMessages"][0]["errorCode"] == "INVALID_TOKEN"
    assert rendered.body["errorMessages"][0]["errorParameters"] == [{"name": "reason", "value": "expired"}]


# -- secret scanning -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "const secret = 's3cr3t/value+1';", "client_secret=s3cr3t%2Fvalue%2B1", "Authorization: Basic Y2xpZW50OnMzY3IzdC92YWx1ZSsx",
    '{"s":"s3cr3t/value+1"}', "czNjcjN0L3ZhbHVlKzE",
])
def test_a_secret_is_found_in_the_forms_it_takes_in_pages(text: str) -> None:
    clients = [ClientConfig("client", "s3cr3t/value+1"), ClientConfig("other", "another-secret")]
    assert clients_whose_secret_occurs([text], clients) == ["client"]


def test_no_secret_no_client() -> None:
    assert clients_whose_secret_occurs(["nothing here", ""], [ClientConfig("client", "s3cr3t/value+1")]) == []


# -- the routes, in process ------------------------------------------------------------------------


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    simulator = build_served_simulator(Settings(), base_url="http://testserver", keys=shared_keys())
    app = Starlette(routes=embed_routes(simulator, EmbedConfig()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as test_client:
        test_client.simulator = simulator  # type: ignore[attr-defined]
        yield test_client


async def test_the_page_can_be_framed_by_anyone_and_embeds_its_config_safely(client: httpx.AsyncClient) -> None:
    response = await client.get("/embed/trips", params={"idp": "token-exchange-auth", "orgId": "</script><b>"})
    assert response.status_code == 200 and "x-frame-options" not in response.headers
    assert "frame-ancestors" not in response.headers["content-security-policy"]
    assert "</script><b>" not in response.text and "\\u003c/script\\u003e\\u003cb\\u003e" in response.text
    [entry] = client.simulator.journal.entries(kind="embed")  # type: ignore[attr-defined]
    assert (entry.method, entry.path) == ("GET", "/embed/trips")
    assert entry.embed is not None and (entry.embed["step"], entry.embed["outcome"]) == ("page_served", "ok")


@pytest.mark.parametrize(("path", "body", "status", "words"), [
    ("/_embed/handshake", {"page": "unknown"}, 400, "not a page this simulator served"),
    ("/_embed/events", {"page": "unknown", "step": "timeout"}, 400, "not a page"),
    ("/_embed/token-status", [], 400, "not a JSON object"),
])
async def test_bad_calls_get_a_clear_error(client: httpx.AsyncClient, path: str, body: Any, status: int, words: str) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == status and words in response.json()["errorMessages"][0]["message"]


async def test_calls_are_tied_to_a_served_page(client: httpx.AsyncClient) -> None:
    page = (await client.get("/embed/", params={"idp": "token-exchange-auth", "orgId": ORG})).text
    page_id = json.loads(page.split('id="embed-config">')[1].split("</script>")[0])["page"]
    assert (await client.post("/_embed/events", json={"page": page_id, "step": "no_such"})).status_code == 400
    assert (await client.post("/_embed/events", json={"page": page_id, "step": "timeout", "seconds": 10})).status_code == 204
    answer = await client.post("/_embed/handshake", json={"page": page_id, "origin": "http://evil.example", "message": GOOD})
    assert answer.status_code == 400 and "allowed origin" in answer.json()["errorMessages"][0]["message"]
    other = {"page": page_id, "origin": "http://localhost:3000", "message": {"type": "x"}}
    assert (await client.post("/_embed/handshake", json=other)).json() == {"outcome": "ignored"}
    assert (await client.post("/_embed/handshake", content=b"x" * 70_000)).status_code == 400
    assert (await client.get("/_embed/static/nope.js")).status_code == 404


@pytest.mark.parametrize(("url", "sim"), [("localhost:3000", None), ("http://localhost:3000", "ftp://sim")])
def test_check_frontend_refuses_urls_it_cannot_open(url: str, sim: str | None) -> None:
    from spotnana_sim.kit.frontend_check import FrontendCheckError, run_frontend_check

    with pytest.raises(FrontendCheckError, match="http"):
        run_frontend_check(url, sim_url=sim)
