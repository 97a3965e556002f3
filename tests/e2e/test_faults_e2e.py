"""Every fault kind against a real uvicorn server, through the admin API, seen by a real httpx client."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from spotnana_sim.cli.main import main
from spotnana_sim.core.error_table import ERROR_TABLE
from spotnana_sim.core.protocol import (
    CLIENT_CREDENTIALS_GRANT,
    TOKEN_ENDPOINT_PATH,
)
from spotnana_sim.core.settings import DEFAULT_TIMEOUT, Settings
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.server.app import create_app
from spotnana_sim.server.served import build_served_simulator

from ..helpers import FakeSleep, credentials_form, exchange_form
from ..servers import ServerThread, running_simulator

pytestmark = pytest.mark.e2e

EXCHANGE = exchange_form()
CREDENTIALS = credentials_form()


class Live:
    def __init__(self, server: ServerThread, simulator: Simulator, sleep: FakeSleep) -> None:
        self.url = server.url
        self.simulator = simulator
        self.sleep = sleep
        self.http = httpx.Client(base_url=server.url, timeout=10)

    def arm(self, rule: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post("/_sim/faults", json=rule)
        assert response.status_code == 201, response.text
        return response.json()

    def token(self, form: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(TOKEN_ENDPOINT_PATH, data=form or EXCHANGE)

    def journal(self) -> list[dict[str, Any]]:
        return self.http.get("/_sim/journal").json()["entries"]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ServerThread, Simulator, FakeSleep]]:
    sleep = FakeSleep()
    with running_simulator(Settings(), sleep=sleep) as (thread, simulator):
        yield thread, simulator, sleep


@pytest.fixture
def live(server: tuple[ServerThread, Simulator, FakeSleep]) -> Iterator[Live]:
    thread, simulator, sleep = server
    client = Live(thread, simulator, sleep)
    assert client.http.post("/_sim/reset").status_code == 200
    sleep.calls.clear()
    yield client
    client.http.close()


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errorMessages"][0]["errorCode"])


# ------------------------------------------------------------------------------- token endpoint -------


def test_the_contract_rules_answer_in_order_then_let_requests_through(live: Live) -> None:
    first = live.arm({"target": "token-endpoint", "times": 1, "response": {"status": 503, "errorCode": "SERVICE_UNAVAILABLE"}})
    second = live.arm({"target": "token-endpoint", "times": 2,
                       "response": {"status": 429, "errorCode": "TOO_MANY_REQUESTS", "headers": {"Retry-After": "2"}}})
    answers = [live.token() for _ in range(4)]
    assert [a.status_code for a in answers] == [503, 429, 429, 200]
    assert error_code(answers[0]) == "SERVICE_UNAVAILABLE" and "debugIdentifier" in answers[0].json()
    assert error_code(answers[1]) == "TOO_MANY_REQUESTS" and answers[1].headers["retry-after"] == "2"
    assert answers[1].headers["cache-control"] == "no-store"
    listed = {rule["id"]: rule for rule in live.http.get("/_sim/faults").json()["faults"]}
    assert (listed[first["id"]]["remaining"], listed[second["id"]]["remaining"]) == (0, 0)
    assert [e["fault_id"] for e in live.journal()] == [first["id"], second["id"], second["id"], None]


def test_a_string_body_and_a_success_status_are_sent_as_given(live: Live) -> None:
    live.arm({"target": "token-endpoint", "times": 1, "response": {"status": 502, "body": "<html>bad gateway</html>",
                                                                   "headers": {"Content-Type": "text/html"}}})
    live.arm({"target": "token-endpoint", "times": 1, "response": {"status": 200, "body": {"token_type": "Bearer"}}})
    html, partial = live.token(), live.token()
    assert (html.status_code, html.text, html.headers["content-type"]) == (502, "<html>bad gateway</html>", "text/html")
    assert (partial.status_code, partial.json()) == (200, {"token_type": "Bearer"})


def test_seeded_probability_and_uniform_delay_repeat_exactly(live: Live) -> None:
    rule = live.arm({"target": "token-endpoint", "probability": 0.2, "seed": 7, "delay": {"uniform": [0.1, 0.5]}})
    answers = [live.token(CREDENTIALS) for _ in range(25)]
    assert all(a.status_code == 200 for a in answers)  # a delay alone only slows the answer
    rng, expected_fired, expected_delays = random.Random(7), [], []
    for _ in range(25):
        fires = rng.random() < 0.2
        expected_fired.append(rule["id"] if fires else None)
        if fires:
            expected_delays.append(rng.uniform(0.1, 0.5))
    assert [e["fault_id"] for e in live.journal()] == expected_fired
    assert live.sleep.calls == expected_delays and expected_delays


def test_match_narrows_a_rule_to_one_grant(live: Live) -> None:
    live.arm({"target": "token-endpoint", "match": {"grant_type": CLIENT_CREDENTIALS_GRANT}, "response": {"status": 500}})
    assert live.token(CREDENTIALS).status_code == 500
    assert live.token(EXCHANGE).status_code == 200


def test_token_quirks_expires_in_and_expired(live: Live) -> None:
    live.arm({"target": "token-endpoint", "times": 1, "expires_in": 5})
    live.arm({"target": "token-endpoint", "times": 1, "expired": True})
    short, stale = live.token(), live.token()
    assert short.status_code == stale.status_code == 200
    claims = jwt.decode(short.json()["access_token"], options={"verify_signature": False})
    assert short.json()["expires_in"] == 5 and claims["exp"] - claims["iat"] == 5
    stale_claims = jwt.decode(stale.json()["access_token"], options={"verify_signature": False})
    assert stale_claims["exp"] < time.time()
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(stale.json()["access_token"], options={"verify_signature": False, "verify_exp": True})


@pytest.fixture(scope="module")
def bare_server() -> Iterator[tuple[str, Simulator]]:
    """The simulator under the HTTP protocol it is served with, whose transport the faults reach."""
    simulator = build_served_simulator(Settings(), base_url="http://127.0.0.1:9")  # client_credentials never calls back
    with ServerThread(create_app(simulator)) as thread:
        yield thread.url, simulator


def _broken(url: str, simulator: Simulator, kind: str) -> Exception | httpx.Response:
    simulator.reset()
    simulator.faults.arm({"target": "token-endpoint", "times": 1, "connection": kind})
    with httpx.Client(timeout=5) as client:
        try:
            answer: Exception | httpx.Response = client.post(url + TOKEN_ENDPOINT_PATH, data=CREDENTIALS)
        except httpx.HTTPError as exc:
            answer = exc
        after = client.post(url + TOKEN_ENDPOINT_PATH, data=CREDENTIALS)
    assert after.status_code == 200  # the server is fine and the fault fired once
    entry = simulator.journal.entries()[0]
    assert (entry["status"], entry["connection_fault"], entry["error_code"]) == (None, kind, f"connection:{kind}")
    assert entry["fault_id"] == "f1"
    return answer


def test_reset_is_a_connection_reset(bare_server: tuple[str, Simulator]) -> None:
    answer = _broken(*bare_server, "reset")
    assert isinstance(answer, httpx.ReadError) and "reset" in str(answer).lower()


def test_empty_is_a_disconnect_before_any_byte(bare_server: tuple[str, Simulator]) -> None:
    answer = _broken(*bare_server, "empty")
    assert isinstance(answer, httpx.RemoteProtocolError) and "without sending a response" in str(answer)


def test_truncated_is_an_incomplete_body(bare_server: tuple[str, Simulator]) -> None:
    answer = _broken(*bare_server, "truncated")
    assert isinstance(answer, httpx.RemoteProtocolError) and "complete message body" in str(answer)


def test_malformed_json_is_a_complete_answer_that_does_not_parse(bare_server: tuple[str, Simulator]) -> None:
    answer = _broken(*bare_server, "malformed_json")
    assert isinstance(answer, httpx.Response) and answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        answer.json()


def test_random_bytes_are_not_http(bare_server: tuple[str, Simulator]) -> None:
    answer = _broken(*bare_server, "random_bytes")
    assert isinstance(answer, httpx.RemoteProtocolError) and "illegal status line" in str(answer)


def test_a_delay_then_a_broken_connection(live: Live) -> None:
    live.arm({"target": "token-endpoint", "times": 1, "delay": 1.5, "connection": "empty"})
    with pytest.raises(httpx.RemoteProtocolError):
        live.token(CREDENTIALS)
    assert live.sleep.calls == [1.5]


# ------------------------------------------------------------------------------- user-detail -------


def _row(key: str) -> tuple[int, str]:
    return ERROR_TABLE[key].status, ERROR_TABLE[key].error_code


@pytest.mark.parametrize(
    ("rule", "row"),
    [
        ({"response": {"status": 401}}, "subject_token_rejected"),
        ({"response": {"status": 403, "body": {"error": "nope"}}}, "subject_token_rejected"),
        ({"response": {"status": 404}}, "user_detail_unexpected_status"),
        ({"response": {"status": 500, "body": "boom"}}, "user_detail_server_error"),
        ({"response": {"status": 200, "body": "not json"}}, "user_detail_not_json"),
        ({"user_detail": "timeout"}, "user_detail_timeout"),
        ({"delay": 60}, "user_detail_timeout"),
        ({"user_detail": "unreachable"}, "user_detail_unreachable"),
        ({"user_detail": "no_email"}, "user_detail_email_missing"),
        ({"user_detail": "not_json"}, "user_detail_not_json"),
        ({"user_detail": "html_error"}, "user_detail_server_error"),
        ({"user_detail": {"html_error": 200}}, "user_detail_not_json"),
        ({"user_detail": {"redirect": "http://127.0.0.1:9/login"}}, "user_detail_unexpected_status"),
        ({"user_detail": "oversized"}, "user_detail_too_large"),
        ({"user_detail": {"email": "stranger@nowhere.example"}}, "profile_not_found"),
    ],
)
def test_user_detail_faults_become_the_documented_error(live: Live, rule: dict[str, Any], row: str) -> None:
    armed = live.arm({"target": "user-detail", "times": 1, **rule})
    answer = live.token()
    assert (answer.status_code, error_code(answer)) == _row(row)
    calls = live.journal()[0]["user_detail_calls"]
    assert len(calls) == 1 and calls[0]["fault_id"] == armed["id"]
    assert live.token().status_code == 200  # times: 1, then the embedded user-detail API answers again


def test_a_user_detail_timeout_waits_only_the_client_timeout(live: Live) -> None:
    live.arm({"target": "user-detail", "user_detail": "timeout"})
    answer = live.token()
    assert error_code(answer) == "USER_DETAIL_TIMEOUT"
    assert live.sleep.calls == [DEFAULT_TIMEOUT]
    assert live.journal()[0]["user_detail_calls"][0]["error"].startswith("timeout:")


def test_a_short_user_detail_delay_then_the_real_call(live: Live) -> None:
    armed = live.arm({"target": "user-detail", "delay": {"fixed": 0.05}})
    assert live.token().status_code == 200
    assert live.sleep.calls == [0.05]
    call = live.journal()[0]["user_detail_calls"][0]
    assert (call["status"], call["fault_id"]) == (200, armed["id"])


def test_another_email_of_a_known_profile_signs_in_that_user(live: Live) -> None:
    live.arm({"target": "user-detail", "user_detail": {"email": "grace@example.com"}})
    claims = jwt.decode(live.token().json()["access_token"], options={"verify_signature": False})
    assert claims["email"] == "grace@example.com"


def test_user_detail_rule_for_one_subject_token_only(live: Live) -> None:
    live.arm({"target": "user-detail", "match": {"subject_token": "demo-token-grace"}, "response": {"status": 401}})
    assert live.token().status_code == 200
    grace = live.token({**EXCHANGE, "subject_token": "demo-token-grace"})
    assert (grace.status_code, error_code(grace)) == (401, "USER_NOT_AUTHENTICATED")


def test_no_user_detail_call_means_no_user_detail_fault(live: Live) -> None:
    live.arm({"target": "user-detail", "user_detail": "timeout"})
    wrong = live.token({**EXCHANGE, "client_secret": "wrong-secret"})
    assert wrong.status_code == 403 and live.journal()[0]["user_detail_calls"] == []
    assert live.http.get("/_sim/faults").json()["faults"][0]["matched"] == 0


# ------------------------------------------------------------------------------- admin API -------


def test_admin_lists_removes_and_clears(live: Live) -> None:
    one = live.arm({"target": "token-endpoint", "id": "outage", "times": 3, "response": {"status": 503}})
    live.arm({"target": "token-endpoint", "delay": 0.1})
    assert one["id"] == "outage" and one["remaining"] == 3
    live.token()
    listed = live.http.get("/_sim/faults").json()["faults"]
    assert [(r["id"], r["remaining"], r["fired"]) for r in listed] == [("outage", 2, 1), ("f1", None, 0)]
    assert live.http.delete("/_sim/faults/outage").json() == {"removed": "outage"}
    missing = live.http.delete("/_sim/faults/outage")
    assert (missing.status_code, error_code(missing)) == (404, "NOT_FOUND")
    assert live.http.delete("/_sim/faults").status_code == 200
    assert live.http.get("/_sim/faults").json() == {"faults": []}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"target": "token-endpoint", "times": 0, "response": {"status": 503}}, "times: must be"),
        ({"target": "token-endpoint", "respons": {"status": 503}}, "respons: unknown key (did you mean 'response'?)"),
        ({"target": "user-detail", "user_detail": "slow"}, "user_detail: unknown shorthand 'slow'"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_admin_rejects_a_bad_rule_naming_the_key(live: Live, body: Any, words: str) -> None:
    answer = live.http.post("/_sim/faults", json=body)
    assert (answer.status_code, error_code(answer)) == (400, "API_VALIDATION_FAILED")
    assert words in answer.json()["errorMessages"][0]["message"]
    assert live.http.get("/_sim/faults").json() == {"faults": []}


def test_configured_faults_are_armed_at_start_and_come_back_on_reset() -> None:
    settings = Settings(faults=({"target": "token-endpoint", "times": 1, "response": {"status": 503}},))
    with running_simulator(settings) as (thread, _), httpx.Client(base_url=thread.url) as http:
        assert http.get("/_sim/faults").json()["faults"][0]["id"] == "f1"
        http.post("/_sim/faults", json={"target": "token-endpoint", "delay": 0.01})
        statuses = [http.post(TOKEN_ENDPOINT_PATH, data=CREDENTIALS).status_code for _ in range(2)]
        assert statuses == [503, 200]
        http.post("/_sim/reset")
        assert [(r["id"], r["remaining"]) for r in http.get("/_sim/faults").json()["faults"]] == [("f1", 1)]
        assert http.post(TOKEN_ENDPOINT_PATH, data=CREDENTIALS).status_code == 503


def test_a_bad_fault_in_the_config_file_stops_start_up_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "sim.toml"
    config.write_text('[[faults]]\ntarget = "token-endpoint"\nresponse = { status = 503 }\n\n'
                      '[[faults]]\ntarget = "token-endpoint"\ntimes = 0\nconnection = "reset"\n')
    assert main(["demo", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert "faults[1].times: must be a whole number >= 1" in error and "Traceback" not in error
