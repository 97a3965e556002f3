"""replay --target and record against real uvicorn servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from spotnana_sim.cli import main as cli
from spotnana_sim.core.settings import Settings
from spotnana_sim.kit.report import ERROR, FAIL, PASS, SKIP
from spotnana_sim.scenarios.loader import load_scenario, load_scenarios, shipped_scenarios_dir
from spotnana_sim.scenarios.replay import Credentials, TargetRunner, run_all
from tests.servers import ServerThread, running_simulator

pytestmark = pytest.mark.e2e

TOKEN_URL = "/v2/auth/oauth2-token"
EXCHANGE = {
    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "client_id": "demo-client", "client_secret": "demo-secret",
    "subject_token": "demo-token-ada", "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "openid",
}
IN_PROCESS_ONLY = {"email_of_no_profile_configured", "rfc6749_dialect", "user_detail_called_with_bearer"}


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    with running_simulator() as (server, _):
        yield server.url


async def form_of(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode()))


def bare_token_app() -> Starlette:
    """A token endpoint with no /_sim admin API, like the real sandbox: checks only the required fields."""

    async def token(request: Request) -> Response:
        form = await form_of(request)
        if any(not form.get(f) for f in ("grant_type", "client_id", "client_secret")):
            return JSONResponse({"errorMessages": [{"errorCode": "API_VALIDATION_FAILED", "message": "required"}]}, status_code=400)
        return JSONResponse({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 3600})

    return Starlette(routes=[Route(TOKEN_URL, token, methods=["POST"])])


async def test_the_whole_library_passes_against_a_running_simulator(simulator_url: str) -> None:
    scenarios, _ = load_scenarios([shipped_scenarios_dir()])
    results = await run_all(TargetRunner(simulator_url), scenarios)
    assert [(r.name, r.summary, r.details) for r in results if r.status not in (PASS, SKIP)] == []
    skipped = {r.name for r in results if r.status == SKIP}
    assert skipped == IN_PROCESS_ONLY  # everything else is controllable through the admin API


async def test_the_target_is_reset_after_each_scenario(simulator_url: str) -> None:
    await run_all(TargetRunner(simulator_url), [load_scenario(shipped_scenarios_dir() / "spotnana_503.yaml")])
    async with httpx.AsyncClient(base_url=simulator_url) as http:
        assert (await http.get("/_sim/faults")).json()["faults"] == []


async def test_a_target_without_the_admin_api_skips_what_it_cannot_control_and_runs_the_rest() -> None:
    with ServerThread(bare_token_app()) as bare:
        by_name = {s.name: s for s in load_scenarios([shipped_scenarios_dir()])[0]}
        chosen = [by_name[n] for n in ("missing_client_id", "spotnana_503", "wrong_secret", "repeated_fields", "user_detail_custom_mapping")]
        results = {r.name: r for r in await run_all(TargetRunner(bare.url), chosen)}
    assert results["missing_client_id"].status == PASS
    assert results["spotnana_503"].status == SKIP
    assert results["spotnana_503"].summary == "needs fault rules, but the target has no simulator admin API (GET /_sim/journal answered 404)"
    assert results["wrong_secret"].summary.startswith("needs the journal, but")
    assert results["user_detail_custom_mapping"].summary.startswith("needs fault rules and a client patch, but")
    assert results["repeated_fields"].summary == "modeled outcome (Spotnana does not document it); --include-modeled runs it anyway"


async def test_include_modeled_runs_modeled_scenarios_against_a_bare_target() -> None:
    with ServerThread(bare_token_app()) as bare:
        scenario = load_scenario(shipped_scenarios_dir() / "repeated_fields.yaml")
        [result] = await run_all(TargetRunner(bare.url, include_modeled=True), [scenario])
    assert result.status == FAIL  # the bare app accepts repeated fields: drift is reported, not hidden


async def test_a_target_that_goes_away_is_one_error_and_the_rest_are_not_run() -> None:
    with ServerThread(bare_token_app()) as gone:
        url = gone.url
    library = shipped_scenarios_dir()
    scenarios = [load_scenario(library / f"{name}.yaml") for name in ("missing_scope", "missing_client_id", "wrong_scope")]
    first, *rest = await run_all(TargetRunner(url), scenarios)
    assert first.status == ERROR and "nothing listens at 127.0.0.1:" in first.summary and "connection refused" in first.summary
    assert [r.status for r in rest] == [SKIP, SKIP]
    assert all(r.summary.startswith("not run: ") for r in rest)


def test_replay_against_an_unreachable_target_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with ServerThread(bare_token_app()) as gone:
        url = gone.url
    assert cli.main(["replay", "--target", url]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no table of 51 identical rows
    [line] = captured.err.strip().splitlines()
    assert line.startswith("spotnana-sim: error: --target: ") and "nothing listens at" in line
    assert "spotnana-sim serve" in line

    assert cli.main(["replay", "--target", "http://spotnana-sim-test.invalid:8080"]) == 2
    assert "the name 'spotnana-sim-test.invalid' does not resolve" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", ["/v2/auth/oauth2-token", "/v2/auth/oauth2-token/", "/_sim/journal"])
def test_replay_given_the_token_path_says_to_give_the_base_url(
    suffix: str, simulator_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["replay", "--target", simulator_url + suffix]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.strip().splitlines()
    assert f"--target {simulator_url} " in line and "give the server's base URL" in line


async def test_credentials_from_flags_reach_the_target() -> None:
    seen: list[str] = []

    async def token(request: Request) -> Response:
        form = await form_of(request)
        seen.append(f"{form.get('client_id')}:{form.get('client_secret')}:{form.get('subject_token')}")
        return JSONResponse({"access_token": "a.b.c", "refresh_token": "r", "token_type": "Bearer", "expires_in": 3600, "scope": "openid"})

    with ServerThread(Starlette(routes=[Route(TOKEN_URL, token, methods=["POST"])])) as sandbox:
        runner = TargetRunner(sandbox.url, Credentials("partner-id", "partner-secret", "user-token"))
        [result] = await run_all(runner, [load_scenario(shipped_scenarios_dir() / "token_exchange_happy_path.yaml")])
    assert result.status == PASS
    assert seen == ["partner-id:partner-secret:user-token"]


async def test_an_admin_token_protected_target_needs_admin_token() -> None:
    scenario = load_scenario(shipped_scenarios_dir() / "spotnana_503.yaml")
    with running_simulator(Settings(admin_token="admin-token-1234")) as (server, _):
        [refused] = await run_all(TargetRunner(server.url), [scenario])
        [allowed] = await run_all(TargetRunner(server.url, admin_token="admin-token-1234"), [scenario])
    assert refused.status == SKIP and "pass --admin-token" in refused.summary
    assert allowed.status == PASS


def test_cli_replay_against_a_target_writes_junit(simulator_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "j.xml"
    files = [str(shipped_scenarios_dir() / f"{n}.yaml") for n in ("connection_reset", "user_detail_timeout", "rfc6749_dialect")]
    assert cli.main(["replay", *files, "--target", simulator_url, "--junit", str(junit)]) == 0
    assert "2 passed, 0 failed, 0 error, 1 skipped" in capsys.readouterr().out
    assert 'skipped="1"' in junit.read_text()


def test_record_then_replay_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "recorded.yaml"
    with running_simulator() as (server, _):
        with httpx.Client(base_url=server.url) as http:
            http.post("/_sim/faults", json={"target": "token-endpoint", "times": 1, "after": 6, "response": {"status": 503}})
            answers = [
                http.post(TOKEN_URL, data=EXCHANGE),
                http.post(TOKEN_URL, data={**EXCHANGE, "client_secret": "wrong-secret-9876"}),
                http.post(TOKEN_URL, data={**EXCHANGE, "subject_token": "someone-elses-token"}),
                http.post(TOKEN_URL, data={**EXCHANGE, "scope": ""}),
                http.post(TOKEN_URL, json=EXCHANGE),
                http.post(TOKEN_URL, data={"grant_type": "client_credentials", "client_id": "demo-client", "client_secret": "demo-secret"}),
                http.post(TOKEN_URL, data=EXCHANGE),
            ]
        assert [a.status_code for a in answers] == [200, 403, 401, 400, 400, 200, 503]
        assert cli.main(["record", "--from", server.url, "--out", str(out)]) == 0
    text = out.read_text()
    for secret in ("demo-secret", "demo-token-ada", "wrong-secret-9876", "someone-elses-token"):
        assert secret not in text
    assert "${client_secret}" in text and "${subject_token}" in text
    capsys.readouterr()
    assert cli.main(["replay", str(out)]) == 0  # a fresh in-process simulator
    assert "recorded  PASSED  7 steps as expected" in capsys.readouterr().out
    with running_simulator() as (fresh, _):
        assert cli.main(["replay", str(out), "--target", fresh.url]) == 0  # a fresh real simulator


def test_record_refuses_to_overwrite_and_explains_a_missing_admin_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "x.yaml"
    existing.write_text("keep me")
    assert cli.main(["record", "--from", "http://127.0.0.1:9", "--out", str(existing)]) == 2
    assert "pass --force" in capsys.readouterr().err
    with ServerThread(bare_token_app()) as bare:
        assert cli.main(["record", "--from", bare.url, "--out", str(tmp_path / "y.yaml")]) == 2
    assert "has no simulator admin API (GET /_sim/journal answered 404)" in capsys.readouterr().err
    assert existing.read_text() == "keep me"


def test_record_keeps_each_users_token_distinct_and_checks_whose_token_was_issued(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "two-users.yaml"
    with running_simulator() as (server, _):
        with httpx.Client(base_url=server.url) as http:
            answers = [http.post(TOKEN_URL, data={**EXCHANGE, "subject_token": token})
                       for token in ("demo-token-ada", "demo-token-grace", "demo-token-ada")]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert cli.main(["record", "--from", server.url, "--out", str(out)]) == 0
    text = out.read_text()
    scenario = load_scenario(out)
    forms = [dict(step.request.form or ()) for step in scenario.steps]
    assert [form["subject_token"] for form in forms] == ["${subject_token}", "${subject_token_2}", "${subject_token}"]
    assert [dict(step.expect.claims)["email"] for step in scenario.steps] == [
        {"matches": r"^(?i:ada@example\.com)$"}, {"matches": r"^(?i:grace@example\.com)$"}, {"matches": r"^(?i:ada@example\.com)$"},
    ]
    assert "# note: ${subject_token} is the token of ada@example.com" in text
    assert "# note: ${subject_token_2} is the token of grace@example.com" in text
    assert "demo-token" not in text
    capsys.readouterr()

    # In-process, unfilled user tokens are the demo users in order (ada, grace): the same users again.
    assert cli.main(["replay", str(out)]) == 0
    # Given in the same order: passes; swapped, each step authenticates the other user and fails on the email claim.
    assert cli.main(["replay", str(out), "--subject-token", "demo-token-ada", "--subject-token", "demo-token-grace"]) == 0
    capsys.readouterr()
    assert cli.main(["replay", str(out), "--subject-token", "demo-token-grace", "--subject-token", "demo-token-ada"]) == 1
    table = capsys.readouterr().out
    assert "claim email: expected to match /^(?i:ada@example\\.com)$/, got 'grace@example.com'" in table
    # One token given for two users: the second is not guessed.
    assert cli.main(["replay", str(out), "--subject-token", "demo-token-ada"]) == 1
    assert "uses ${subject_token_2}, which nothing fills: pass --subject-token once per user (2 times" in capsys.readouterr().out
