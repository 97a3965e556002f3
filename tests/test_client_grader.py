"""The client grader over journals of good and bad token-exchange clients, on a real simulator server.

Clients "sleep" by moving the simulator's clock, so retry timing is graded without real waiting.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from spotnana_sim.cli import main as cli
from spotnana_sim.core.protocol import TOKEN_EXCHANGE_GRANT
from spotnana_sim.harness.journal_entry import JournalEntry
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.kit.client_grader import (
    GraderPolicy,
    JournalFormatError,
    grade_journal,
    load_journal,
)
from spotnana_sim.kit.report import FAIL, PASS, WARN
from spotnana_sim.reference.client import SpotnanaTokenClient, TokenExchangeError

from .helpers import exchange_form
from .servers import ServerThread

pytestmark = pytest.mark.e2e  # the grader reads the journal of a simulator served on loopback

SECRET = "demo-secret"


@pytest.fixture
def sim(module_simulator: tuple[ServerThread, Simulator]) -> Simulator:
    module_simulator[1].reset()
    return module_simulator[1]


@pytest.fixture
def token_url(module_simulator: tuple[ServerThread, Simulator], sim: Simulator) -> str:
    return module_simulator[0].url + "/v2/auth/oauth2-token"


def reference_client(token_url: str, sim: Simulator) -> SpotnanaTokenClient:
    return SpotnanaTokenClient(token_url, "demo-client", SECRET, sleep=sim.clock.advance, rng=random.Random(7))


def grade(sim: Simulator, **policy: Any) -> dict[str, Any]:
    report = grade_journal(sim.journal.entries(), policy=GraderPolicy(**policy))
    return {r.name: r for r in report.results}


def test_reference_client_passes_through_503s_and_429s(token_url: str, sim: Simulator) -> None:
    sim.faults.arm({"target": "token-endpoint", "times": 3, "response": {"status": 503}})
    with reference_client(token_url, sim) as client:
        for _ in range(3):
            client.tokens_for("user-1", "demo-token-ada")
        client.tokens_for("user-2", "demo-token-grace")
        sim.faults.arm({"target": "token-endpoint", "times": 1,
                        "response": {"status": 429, "errorCode": "TOO_MANY_REQUESTS", "headers": {"Retry-After": "1"}}})
        client.tokens_for("user-3", "demo-token-linus")
        client.client_credentials()
        client.client_credentials()
    results = grade(sim)
    assert {name: r.status for name, r in results.items()} == {
        "journal": PASS, "form-post": PASS, "required-fields": PASS, "secret-not-in-query": PASS,
        "token-reuse": PASS, "retry-timing": PASS,
    }, "\n".join(r.explain() for r in results.values())
    assert "4 retries" in results["retry-timing"].summary


def test_reference_client_refetching_after_expiry_is_reuse(token_url: str, sim: Simulator) -> None:
    with SpotnanaTokenClient(token_url, "demo-client", SECRET, clock=sim.clock.now) as client:
        client.tokens_for("user-1", "demo-token-ada")
        sim.clock.advance(3600 - 30)  # inside the client's refresh margin and the grader's
        client.tokens_for("user-1", "demo-token-ada")
    assert len(sim.journal.entries()) == 2
    assert grade(sim)["token-reuse"].status == PASS


def test_client_that_never_reuses_tokens_is_caught_with_counts(token_url: str, sim: Simulator) -> None:
    for _ in range(4):
        assert httpx.post(token_url, data=exchange_form()).status_code == 200
    assert httpx.post(token_url, data=exchange_form(subject_token="demo-token-grace")).status_code == 200
    reuse = grade(sim)["token-reuse"]
    assert reuse.status == FAIL
    assert reuse.summary.startswith("3 of 5 tokens were fetched while the previous one")
    assert "ada@example.com (client demo-client): 4 tokens issued, 3 needless" in reuse.details
    assert not any("grace" in d for d in reuse.details)


def test_client_retrying_at_once_after_429_is_caught(token_url: str, sim: Simulator) -> None:
    sim.faults.arm({"target": "token-endpoint", "times": 2, "response": {"status": 429, "errorCode": "TOO_MANY_REQUESTS"}})
    for _ in range(3):  # hammering: no wait at all
        if httpx.post(token_url, data=exchange_form()).status_code == 200:
            break
    timing = grade(sim)["retry-timing"]
    assert timing.status == FAIL
    assert "2 retries came too soon" in timing.summary
    assert all("after 429" in d for d in timing.details)


def test_client_retrying_at_a_fixed_interval_does_not_back_off(token_url: str, sim: Simulator) -> None:
    sim.faults.arm({"target": "token-endpoint", "times": 3, "response": {"status": 503}})
    for _ in range(4):
        if httpx.post(token_url, data=exchange_form()).status_code == 200:
            break
        sim.clock.advance(1.0)  # always the same wait
    timing = grade(sim)["retry-timing"]
    assert timing.status == FAIL
    assert "did not back off" in timing.summary


def test_broken_connections_count_as_retryable(token_url: str, sim: Simulator) -> None:
    sim.faults.arm({"target": "token-endpoint", "times": 1, "connection": "reset"})
    with pytest.raises(httpx.TransportError):
        httpx.post(token_url, data=exchange_form())
    httpx.post(token_url, data=exchange_form())
    assert grade(sim)["retry-timing"].status == FAIL
    with reference_client(token_url, sim) as client:
        sim.reset()
        sim.faults.arm({"target": "token-endpoint", "times": 1, "connection": "reset"})
        client.tokens_for("user-1", "demo-token-ada")
    assert grade(sim)["retry-timing"].status == PASS


def test_json_bodies_and_missing_fields_are_caught(token_url: str, sim: Simulator) -> None:
    httpx.post(token_url, json=exchange_form())
    httpx.post(token_url, data=exchange_form(scope=None))
    httpx.post(token_url, data=exchange_form(subject_token_type="urn:ietf:params:oauth:token-type:jwt"))
    httpx.post(token_url, content="grant_type=client_credentials&client_id=demo-client&client_id=demo-client&client_secret=x",
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    results = grade(sim)
    assert results["form-post"].status == FAIL
    assert results["form-post"].summary == "1 of 4 requests were not form POSTs"
    fields = results["required-fields"]
    assert fields.status == FAIL and fields.summary.startswith("3 of 3 requests")
    text = "\n".join(fields.details)
    assert "scope is missing" in text
    assert "subject_token_type is 'urn:ietf:params:oauth:token-type:jwt'" in text
    assert "client_id is sent 2 times" in text


def test_secret_in_the_query_string_is_graded_from_query_fields() -> None:
    """The journal records no query string yet; entries that carry ``query_fields`` are graded."""
    base = {"method": "POST", "content_type": "application/x-www-form-urlencoded", "form": exchange_form(subject_token="…ada"),
            "grant_type": TOKEN_EXCHANGE_GRANT, "client_id": "demo-client", "status": 200}
    leaky = [{**base, "id": 1, "query_fields": {"client_secret": ["…cret"]}}]
    odd = [{**base, "id": 1, "query_fields": {"debug": ["1"]}}]
    clean = [{**base, "id": 1, "query_fields": {}}]
    assert grade_journal(leaky).result("secret-not-in-query").status == FAIL
    assert "client_secret in the query string" in grade_journal(leaky).result("secret-not-in-query").details[0]
    assert grade_journal(odd).result("secret-not-in-query").status == WARN
    assert grade_journal(clean).result("secret-not-in-query").status == PASS
    assert grade_journal([base]).result("secret-not-in-query").status == PASS  # no query string at all


def test_secret_in_the_query_string_against_the_server(token_url: str, sim: Simulator) -> None:
    fields = exchange_form()
    secret = fields.pop("client_secret")
    httpx.post(token_url, params={"client_secret": secret}, data=fields)
    result = grade(sim)["secret-not-in-query"]
    assert result.status == FAIL
    assert secret not in result.explain()
    assert grade(sim)["required-fields"].status == FAIL  # the form lacks the secret either way


def test_retry_after_is_honoured_when_the_journal_records_it() -> None:
    def entry(id: int, at: float, status: int, retry_after: str | None = None) -> dict[str, Any]:
        return {"id": id, "timestamp": at, "elapsed_ms": 1.0, "method": "POST", "status": status,
                "content_type": "application/x-www-form-urlencoded", "client_id": "c", "grant_type": TOKEN_EXCHANGE_GRANT,
                "form": exchange_form(subject_token="…ada"), "retry_after": retry_after}

    early = [entry(1, 100.0, 429, "2"), entry(2, 101.0, 200)]
    patient = [entry(1, 100.0, 429, "2"), entry(2, 102.5, 200)]
    assert grade_journal(early).result("retry-timing").status == FAIL
    assert "Retry-After: 2" in grade_journal(early).result("retry-timing").details[0]
    assert grade_journal(patient).result("retry-timing").status == PASS


def test_load_journal_formats_and_errors(tmp_path: Path) -> None:
    entries = [{"id": 1, "method": "POST"}, {"id": 2, "method": "POST"}]
    typed = [JournalEntry(id=1), JournalEntry(id=2)]
    assert load_journal(json.dumps({"entries": entries, "dropped": 3})) == (typed, 3)
    assert load_journal(json.dumps(entries)) == (typed, 0)
    assert load_journal("\n".join(json.dumps(e) for e in entries)) == (typed, 0)
    with pytest.raises(JournalFormatError, match=r"^line 2: not JSON"):
        load_journal('{"id": 1}\n{nope')
    with pytest.raises(JournalFormatError, match=r"entries\[0\]: expected an object"):
        load_journal("[1]")
    nothing = grade_journal([], dropped=0, token_url="http://127.0.0.1:8080/v2/auth/oauth2-token").result("journal")
    assert nothing.status == FAIL and "no token requests were seen" in nothing.summary  # never a false green
    assert "http://127.0.0.1:8080/v2/auth/oauth2-token" in nothing.fix
    assert grade_journal(entries, dropped=5).result("journal").status == WARN


def test_cli_grades_a_running_simulator_and_a_saved_journal(
    module_simulator: tuple[ServerThread, Simulator], token_url: str, sim: Simulator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    with reference_client(token_url, sim) as client:
        client.tokens_for("user-1", "demo-token-ada")
        client.tokens_for("user-1", "demo-token-ada")
    assert cli.main(["check", "client", "--from", module_simulator[0].url]) == 0
    assert "token-reuse" in capsys.readouterr().out

    httpx.post(token_url, data=exchange_form())  # a second token for the same user: needless
    saved = tmp_path / "journal.json"
    saved.write_text(httpx.get(module_simulator[0].url + "/_sim/journal").text)
    junit = tmp_path / "client.xml"
    assert cli.main(["check", "client", str(saved), "--json", "--junit", str(junit)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {r["name"]: r["status"] for r in report["results"]}["token-reuse"] == FAIL
    assert "<failure" in junit.read_text()
    # Nothing of theirs to grade: a failure, never a green build.
    assert cli.main(["check", "client", str(saved), "--client-id", "someone-else"]) == 1

    assert cli.main(["check", "client", str(tmp_path / "missing.json")]) == 2
    assert "cannot read the journal" in capsys.readouterr().err


def test_reference_client_gives_up_cleanly_and_the_grader_still_reports(token_url: str, sim: Simulator) -> None:
    sim.faults.arm({"target": "token-endpoint", "times": "always", "response": {"status": 503}})
    with SpotnanaTokenClient(token_url, "demo-client", SECRET, sleep=sim.clock.advance, max_attempts=4,
                             rng=random.Random(3)) as client, pytest.raises(TokenExchangeError):
        client.tokens_for("user-1", "demo-token-ada")
    timing = grade(sim)["retry-timing"]
    assert timing.status == PASS and "3 retries" in timing.summary
