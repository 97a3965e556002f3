"""The stand-in embedded app wired into the simulator: ``[embed]`` settings and flags, the ``embed`` fault
target, ``POST /_sim/scan-secrets`` behind the admin guard, the journal's ``kind`` filter, and the exit
statuses of ``check frontend`` when it cannot run. The browser side is in tests/browser."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from spotnana_sim.cli.main import build_parser, main
from spotnana_sim.core.config_file import load_settings, settings_from_document
from spotnana_sim.core.embed import EmbedConfig
from spotnana_sim.core.fault_rules import FaultRuleError, validate_rule
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ConfigError, Settings, org_id_for_client
from spotnana_sim.harness.faults import FaultBook
from spotnana_sim.server.inprocess import InProcessSimulator, build_in_process
from spotnana_sim.server.openapi import openapi_document

ORG = org_id_for_client(DEMO_CLIENT_ID)
EMBED_QUERY = {"idp": "token-exchange-auth", "orgId": ORG}


def _embed_config(page: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(page.split('id="embed-config">')[1].split("</script>")[0])
    return config


# -- [embed] in a config file ----------------------------------------------------------------------


def test_the_embed_table_configures_the_embedded_app(tmp_path: Path) -> None:
    config = tmp_path / "sim.toml"
    config.write_text(
        '[embed]\nallowed_origins = ["HTTPS://App.Example.com:443/", "http://localhost:3000"]\nport = 8081\n'
        'handshake_timeout = 2.5\ntoken_check_interval = 5\nrequest_target = "allowed-origins"\n'
        "check_refresh_token = false\n",
        encoding="utf-8",
    )
    assert load_settings(config).embed == EmbedConfig(
        allowed_origins=("https://app.example.com", "http://localhost:3000"), port=8081, handshake_timeout=2.5,
        token_check_interval=5.0, request_target="allowed-origins", check_refresh_token=False,
    )


def test_without_an_embed_table_localhost_3000_is_allowed_as_spotnana_documents() -> None:
    embed = settings_from_document({}, "doc").embed
    assert embed.allowed_origins == ("http://localhost:3000",) and embed.port is None
    assert embed.handshake_timeout == 10.0


@pytest.mark.parametrize(("table", "key", "words"), [
    ('allowed_origins = ["localhost:3000"]', "embed.allowed_origins", "item 0: 'localhost:3000' is not an origin"),
    ('allowed_origins = ["https://*.example.com"]', "embed.allowed_origins", "wildcards are not allowed"),
    ('allowed_origins = "http://localhost:3000"', "embed.allowed_origins", "must be a list of origins"),
    ('allowed_origins = ["http://a.example/app"]', "embed.allowed_origins", "no path"),
    ("port = 70000", "embed.port", "0 to 65535"),
    ("handshake_timeout = 0", "embed.handshake_timeout", "from 0.05 to 300"),
    ('token_check_interval = "30"', "embed.token_check_interval", "number of seconds"),
    ('request_target = "http://localhost:3000"', "embed.request_target", "'*', 'allowed-origins'"),
    ('check_refresh_token = "yes"', "embed.check_refresh_token", "true or false"),
    ('allowed_origin = ["http://localhost:3000"]', "embed.allowed_origin", "did you mean 'allowed_origins'"),
])
def test_a_bad_embed_value_names_the_key_and_what_is_accepted(table: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as failure:
        settings_from_document(tomllib.loads(f"[embed]\n{table}\n"), "sim.toml")
    assert failure.value.key == key and words in failure.value.problem, str(failure.value)


# -- flags ---------------------------------------------------------------------------------------------


def _settings_of(*argv: str, environ: dict[str, str] | None = None) -> Settings:
    from spotnana_sim.cli.common import settings_from_args

    return settings_from_args(build_parser().parse_args(["serve", *argv]), environ or {})


def test_embed_origin_flags_add_to_the_configured_origins(tmp_path: Path) -> None:
    assert _settings_of("--embed-origin", "http://127.0.0.1:5173/", "--embed-origin", "http://localhost:3000",
                        "--embed-port", "0").embed == EmbedConfig(
        allowed_origins=("http://localhost:3000", "http://127.0.0.1:5173"), port=0)
    config = tmp_path / "sim.toml"
    config.write_text('[embed]\nallowed_origins = ["https://app.example.com"]\nport = 9000\n', encoding="utf-8")
    embed = _settings_of("--config", str(config), "--embed-origin", "https://admin.example.com").embed
    assert embed.allowed_origins == ("https://app.example.com", "https://admin.example.com") and embed.port == 9000


@pytest.mark.parametrize(("argv", "words"), [
    (["--embed-origin", "app.example.com"], "--embed-origin: 'app.example.com' is not an origin"),
    (["--embed-port", "70000"], "--embed-port: must be a whole number from 0 to 65535"),
    (["--port", "18080", "--embed-port", "18080"], "--embed-port 18080 is the simulator's --port"),
])
def test_a_bad_embed_flag_stops_serve_with_one_clear_line(argv: list[str], words: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *argv]) == 2
    error = capsys.readouterr().err
    assert words in error and "Traceback" not in error


def test_with_partner_app_needs_a_client_the_reference_user_detail_api_knows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--with-partner-app", "--user-detail-url", "http://127.0.0.1:9/v1/user-detail"]) == 2
    assert "--with-partner-app signs in the demo users" in capsys.readouterr().err


def test_the_banner_says_where_the_embedded_app_and_the_partner_app_are() -> None:
    from spotnana_sim.cli.serve import banner
    from spotnana_sim.server.served import build_served_simulator

    simulator = build_served_simulator(Settings(), base_url="http://127.0.0.1:8080")
    text = banner(simulator, "http://127.0.0.1:8080", embed_url="http://127.0.0.1:8081",
                  partner_url="http://localhost:3000")
    assert f"GET  http://127.0.0.1:8081/embed/?idp=token-exchange-auth&orgId={ORG}" in text
    assert "embed origins   http://localhost:3000" in text
    assert text.endswith("partner app: open http://localhost:3000 to watch the whole flow "
                         "(login, exchange, iframe signed in)")


# -- the fault target embed ----------------------------------------------------------------------------


@pytest.mark.parametrize("rule", [
    {"target": "embed", "embed": "refuse_token", "match": {"org_id": ORG, "client_id": DEMO_CLIENT_ID}, "times": 1},
    {"target": "embed", "embed": "request_late", "delay": 12},
    {"target": "embed", "embed": "request_twice"},
    {"target": "embed", "embed": "request_twice", "delay": {"uniform": [0.1, 0.5]}, "seed": 3, "match": {"org_id": ORG}},
])
def test_embed_rules_validate(rule: dict[str, Any]) -> None:
    assert validate_rule(rule)["embed"] == rule["embed"]


@pytest.mark.parametrize(("rule", "path", "words"), [
    ({"target": "embed"}, "embed", "is required for target embed; one of refuse_token, request_late, request_twice"),
    ({"target": "embed", "embed": "slow"}, "embed", "unknown behaviour 'slow'"),
    ({"target": "embed", "embed": "request_late"}, "delay", "is required with embed: request_late"),
    ({"target": "embed", "embed": "refuse_token", "delay": 1}, "delay", "not to refuse_token"),
    ({"target": "embed", "embed": "request_twice", "match": {"client_id": "c"}}, "match.client_id", "org_id only"),
    ({"target": "embed", "embed": "refuse_token", "match": {"email": "a@b"}}, "match.email", "accepted: org_id, client_id"),
    ({"target": "embed", "embed": "refuse_token", "response": {"status": 500}}, "response", "not 'embed'"),
    ({"target": "token-endpoint", "embed": "refuse_token"}, "embed", "applies to target 'embed' only"),
])
def test_a_bad_embed_rule_names_the_key(rule: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(FaultRuleError) as failure:
        validate_rule(rule)
    assert failure.value.path == path and words in failure.value.problem, str(failure.value)


def test_the_fault_book_serves_page_faults_at_load_and_token_faults_at_the_check() -> None:
    book = FaultBook([
        {"id": "late", "target": "embed", "embed": "request_late", "delay": 3, "match": {"org_id": ORG}, "times": 1},
        {"id": "twice", "target": "embed", "embed": "request_twice"},
        {"id": "refuse", "target": "embed", "embed": "refuse_token", "match": {"client_id": DEMO_CLIENT_ID}},
    ])
    first, second = book.for_page(ORG), book.for_page(ORG)
    assert first is not None and (first.rule_id, first.request_delay, first.request_count) == ("late", 3.0, 1)
    assert second is not None and (second.rule_id, second.request_count, second.refuse_token) == ("twice", 2, False)
    assert book.for_token(ORG, "someone-else") is None
    refused = book.for_token(ORG, DEMO_CLIENT_ID)
    assert refused is not None and (refused.rule_id, refused.refuse_token) == ("refuse", True)
    assert {rule["id"]: rule["fired"] for rule in book.rules()} == {"late": 1, "twice": 1, "refuse": 1}


# -- the app, in process ---------------------------------------------------------------------------------


async def test_every_entry_point_serves_the_embedded_app_with_its_settings_and_faults() -> None:
    sim = build_in_process(Settings(embed=EmbedConfig(allowed_origins=("http://app.test",), handshake_timeout=3)))
    try:
        async with sim.client() as http:
            armed = await http.post("/_sim/faults", json={"id": "twice", "target": "embed", "embed": "request_twice",
                                                           "delay": 0.5})
            assert armed.status_code == 201, armed.text
            page = await http.get("/embed/trips", params=EMBED_QUERY)
            assert page.status_code == 200
            config = _embed_config(page.text)
            assert config["allowedOrigins"] == ["http://app.test"] and config["handshakeTimeoutMs"] == 3000
            assert (config["requestCount"], config["requestDelayMs"]) == (2, 500)
            journal = (await http.get("/_sim/journal", params={"kind": "embed"})).json()["entries"]
            assert [(e["kind"], e["embed"]["step"], e["fault_id"]) for e in journal] == [("embed", "page_served", "twice")]
            assert (await http.get("/_sim/journal", params={"kind": "token"})).json()["entries"] == []
            bad = await http.get("/_sim/journal", params={"kind": "other"})
            assert bad.status_code == 400 and "kind must be one of token, embed" in bad.text
    finally:
        await sim.aclose()


async def test_a_refuse_token_rule_refuses_a_valid_token_at_the_handshake(in_process: InProcessSimulator) -> None:
    async with in_process.client() as http:
        await http.post("/_sim/faults", json={"id": "no", "target": "embed", "embed": "refuse_token"})
        page_id = _embed_config((await http.get("/embed/", params=EMBED_QUERY)).text)["page"]
        tokens = (await http.post("/v2/auth/oauth2-token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET, "subject_token": "demo-token-ada",
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "openid",
        })).json()
        answer = await http.post("/_embed/handshake", json={
            "page": page_id, "origin": "http://localhost:3000",
            "message": {"type": "TOKEN_EXCHANGE_RESPONSE",
                        "payload": {"accessToken": tokens["access_token"], "refreshToken": tokens["refresh_token"]}},
        })
    assert answer.status_code == 401 and answer.json()["errorMessages"][0]["errorCode"] == "INVALID_TOKEN"
    assert "refused a valid token (fault rule no)" in answer.text


# -- POST /_sim/scan-secrets -----------------------------------------------------------------------------


async def test_scan_secrets_names_the_clients_whose_secret_occurs_never_the_secret(sim_client: httpx.AsyncClient) -> None:
    basic = base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()
    found = await sim_client.post("/_sim/scan-secrets", json={"texts": ["<p>nothing</p>", f"Authorization: Basic {basic}"]})
    assert found.status_code == 200 and found.json() == {"clients": [DEMO_CLIENT_ID]}
    assert DEMO_CLIENT_SECRET not in found.text
    clean = await sim_client.post("/_sim/scan-secrets", json={"texts": ["accessToken eyJ…"]})
    assert clean.json() == {"clients": []}


@pytest.mark.parametrize(("body", "words"), [
    ({"texts": "demo-secret"}, "texts: must be a list of strings"),
    ({"texts": [1]}, "texts: must be a list of strings"),
    ({"texts": [], "more": 1}, "unknown key 'more'"),
    ({}, "texts: must be a list of strings"),
])
async def test_scan_secrets_refuses_bad_bodies(sim_client: httpx.AsyncClient, body: Any, words: str) -> None:
    answer = await sim_client.post("/_sim/scan-secrets", json=body)
    assert answer.status_code == 400 and words in answer.json()["errorMessages"][0]["message"]


async def test_scan_secrets_refuses_more_text_than_its_limit(sim_client: httpx.AsyncClient,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from spotnana_sim.server import admin_api

    monkeypatch.setattr(admin_api, "MAX_SCAN_CHARS", 10)
    too_much = await sim_client.post("/_sim/scan-secrets", json={"texts": ["123456", "78901"]})
    assert too_much.status_code == 400 and "11 characters in all, more than 10" in too_much.text
    monkeypatch.setattr(admin_api, "MAX_SCAN_BODY_BYTES", 100)
    too_big = await sim_client.post("/_sim/scan-secrets", json={"texts": ["x" * 200]})
    assert too_big.status_code == 400 and "larger than 100 bytes" in too_big.text


async def test_scan_secrets_is_behind_the_admin_guard() -> None:
    sim = build_in_process(Settings(admin_token="admin-token-for-the-scan"))
    try:
        async with sim.client() as http:
            body = {"texts": [DEMO_CLIENT_SECRET]}
            assert (await http.post("/_sim/scan-secrets", json=body)).status_code == 403
            wrong = {"Authorization": "Bearer nope"}
            assert (await http.post("/_sim/scan-secrets", json=body, headers=wrong)).status_code == 403
            right = {"Authorization": "Bearer admin-token-for-the-scan"}
            answer = await http.post("/_sim/scan-secrets", json=body, headers=right)
            assert answer.json() == {"clients": [DEMO_CLIENT_ID]}
            # The embedded app's own calls stay public: the page in the browser has no admin token.
            assert (await http.get("/embed/", params=EMBED_QUERY)).status_code == 200
    finally:
        await sim.aclose()


def test_the_openapi_document_describes_scan_secrets_and_keeps_embed_errors_off_the_token_endpoint() -> None:
    document = openapi_document()
    scan = document["paths"]["/_sim/scan-secrets"]["post"]
    assert {"200", "400", "403"} <= set(scan["responses"])
    token_failures = json.dumps(document["paths"]["/v2/auth/oauth2-token"]["post"]["responses"])
    assert "embedded app" not in token_failures


# -- check frontend: when it cannot run at all, a usage error (exit 2) ----------------------------------


@pytest.mark.parametrize(("argv", "words"), [
    (["--url", "localhost:3000"], "--url must be an http(s) URL"),
    (["--url", "http://localhost:3000", "--sim", "ftp://sim"], "--sim must be an http(s) URL"),
    (["--url", "http://localhost:3000", "--answer-deadline", "0"], "--answer-deadline: must be more than 0"),
    (["--url", "http://localhost:3000", "--storage-state", "/nonexistent/state.json"], "--storage-state"),
    (["--url", "http://127.0.0.1:9", "--chromium", "/nonexistent/chromium"], "/nonexistent/chromium"),
])
def test_check_frontend_that_cannot_run_is_a_usage_error(argv: list[str], words: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "frontend", *argv]) == 2
    error = capsys.readouterr().err
    assert words in error and "Traceback" not in error


def test_check_frontend_defaults_shown_by_the_parser_are_the_checks_own() -> None:
    from spotnana_sim.cli import check
    from spotnana_sim.kit import frontend_check

    assert check.FRONTEND_ANSWER_DEADLINE == frontend_check.ANSWER_DEADLINE
    assert check.FRONTEND_CHROMIUM == frontend_check.CHROMIUM_PATH


def test_the_frontend_guide_lists_every_journal_step_and_check() -> None:
    from spotnana_sim.core.embed import EMBED_STEPS
    from spotnana_sim.kit.frontend_check import CHECK_NAMES

    page = (Path(__file__).resolve().parent.parent / "docs" / "guides" / "frontend.md").read_text(encoding="utf-8")
    missing = [name for name in (*EMBED_STEPS, *CHECK_NAMES) if f"| `{name}` |" not in page]
    assert not missing, f"docs/guides/frontend.md does not list {missing}"
