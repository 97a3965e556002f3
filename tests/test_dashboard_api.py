"""The dashboard's server side without a browser: the journal feed, the chart, the routes and their guard,
the scenario runner. The page itself is tested in Chromium (tests/browser/test_dashboard.py)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from spotnana_sim.cli.serve import banner
from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH
from spotnana_sim.core.settings import Settings
from spotnana_sim.harness.journal import Journal
from spotnana_sim.harness.journal_entry import EMBED, JournalEntry, UserDetailCall
from spotnana_sim.scenarios.live import LiveScenarioRunner
from spotnana_sim.server.dashboard import STATIC_DIR, chart, journal_feed
from spotnana_sim.server.inprocess import build_in_process

from .helpers import exchange_form
from .servers import running_simulator

# A URL with a scheme where a page or script would load or call something: src=, href=, import, url(), fetch().
EXTERNAL_REFERENCE = re.compile(r"""(?:src|href|action)\s*=\s*["']?(?:\w+:)?//|import[^;\n]*["']\w+://|url\(\s*["']?\w+://|"""
                                r"""fetch\(\s*["'`]\w+://""")


def recorded(journal: Journal, count: int, **fields: Any) -> list[JournalEntry]:
    return [journal.record(JournalEntry(**fields)) for _ in range(count)]


# -- the feed ---------------------------------------------------------------------------------------


def test_the_feed_follows_recording_order_so_a_slow_request_is_not_missed() -> None:
    journal = Journal()
    slow, fast = journal.reserve_id(), journal.reserve_id()  # the slow request arrived first
    journal.record(JournalEntry(id=fast))
    first = journal_feed(journal)
    assert [e["id"] for e in first["entries"]] == [fast] and first["position"] == 1
    journal.record(JournalEntry(id=slow))  # recorded later, with the smaller id
    second = journal_feed(journal, first["position"], first["position_id"])
    assert [e["id"] for e in second["entries"]] == [slow] and not second["reset"]
    assert journal_feed(journal, second["position"], second["position_id"])["entries"] == []


def test_the_feed_comes_in_pages_and_says_what_was_dropped() -> None:
    journal = Journal(max_entries=5)
    recorded(journal, 7)
    page = journal_feed(journal, 0, None, limit=3)
    assert [e["id"] for e in page["entries"]] == [3, 4, 5] and page["more"]
    assert (page["first_position"], page["oldest_position"], page["dropped"]) == (3, 3, 2)
    rest = journal_feed(journal, page["position"], page["position_id"], limit=3)
    assert [e["id"] for e in rest["entries"]] == [6, 7] and not rest["more"]
    behind = journal_feed(journal, 1, None)  # a reader that fell behind the drops gets what is left
    assert [e["id"] for e in behind["entries"]] == [3, 4, 5, 6, 7]


def test_a_cleared_journal_starts_the_reader_over() -> None:
    journal = Journal()
    recorded(journal, 3)
    seen = journal_feed(journal)
    journal.clear()
    emptied = journal_feed(journal, seen["position"], seen["position_id"])
    assert emptied["reset"] and emptied["entries"] == [] and emptied["position"] == 0
    recorded(journal, 4)  # more than the reader had seen: only the ids tell the journal was cleared
    refilled = journal_feed(journal, seen["position"], seen["position_id"])
    assert refilled["reset"] and [e["id"] for e in refilled["entries"]] == [4, 5, 6, 7]


# -- the chart --------------------------------------------------------------------------------------


def test_the_chart_counts_outcomes_per_bucket_and_ranks_latency() -> None:
    now = 10_000.0

    def call(ms: float) -> list[UserDetailCall]:
        return [UserDetailCall(url="http://partner", status=200, elapsed_ms=ms)]

    entries = [
        JournalEntry(timestamp=now - 1, status=200, user_detail_calls=call(10)),
        JournalEntry(timestamp=now - 2, status=200, user_detail_calls=call(30)),
        JournalEntry(timestamp=now - 3, status=503, error_code="SERVICE_UNAVAILABLE"),
        JournalEntry(timestamp=now - 4, status=None, connection_fault="reset", error_code="connection:reset"),
        JournalEntry(timestamp=now - 100, status=200, user_detail_calls=call(1000)),
        JournalEntry(timestamp=now - 301, status=200),  # before the window
        JournalEntry(timestamp=now - 1, kind=EMBED, status=None),  # not an exchange
    ]
    shown = chart(entries, now)
    assert shown["totals"] == {"success": 3, "SERVICE_UNAVAILABLE": 1, "connection:reset": 1}
    assert shown["outcomes"] == ["success", "SERVICE_UNAVAILABLE", "connection:reset"]
    assert len(shown["buckets"]) == 60 and shown["window"] == 300
    assert shown["buckets"][-1]["counts"] == {"success": 2, "SERVICE_UNAVAILABLE": 1, "connection:reset": 1}
    assert (shown["buckets"][-1]["p50"], shown["buckets"][-1]["p99"]) == (10, 30)
    assert shown["latency"] == {"p50": 30, "p99": 1000, "calls": 3}
    assert chart([], now)["latency"] == {"p50": None, "p99": None, "calls": 0}


# -- the routes -------------------------------------------------------------------------------------


async def test_the_page_is_served_with_a_strict_policy_and_its_assets() -> None:
    sim = build_in_process(Settings())
    try:
        async with sim.client() as client:
            page = await client.get("/_sim/ui")
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            policy = page.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
            assert page.headers["x-frame-options"] == "DENY"
            assert "/_sim/ui/static/main.js" in page.text
            for asset in STATIC_DIR.iterdir():  # offline: nothing is fetched from anywhere else
                assert not EXTERNAL_REFERENCE.search(asset.read_text()), asset.name
                if asset.name != "index.html":
                    served = await client.get(f"/_sim/ui/static/{asset.name}")
                    assert served.status_code == 200 and served.content == asset.read_bytes()
            assert (await client.get("/_sim/ui/static/index.html")).status_code == 404
            assert (await client.get("/_sim/ui/static/..%2Fdashboard.py")).status_code == 404
    finally:
        await sim.aclose()


async def test_the_dashboard_api_answers_and_checks_its_input(sim_client: httpx.AsyncClient) -> None:
    await sim_client.post(TOKEN_ENDPOINT_PATH, data=exchange_form())
    meta = (await sim_client.get("/_sim/ui/api/meta")).json()
    assert "token-endpoint" in meta["targets"] and "timeout" in meta["user_detail_words"]
    assert "SERVICE_UNAVAILABLE" in meta["error_codes"] and meta["scenarios"] is False
    feed = (await sim_client.get("/_sim/ui/api/journal", params={"after": 0})).json()
    assert [e["status"] for e in feed["entries"]] == [200]
    assert (await sim_client.get("/_sim/ui/api/stats")).json()["totals"] == {"success": 1}
    [client] = (await sim_client.get("/_sim/ui/api/clients")).json()["clients"]
    assert client["identity"] == "user-detail" and client["secret"].startswith("…")
    for query, name in (({"after": "-1"}, "after"), ({"limit": "0"}, "limit"), ({"after_id": "x"}, "after_id")):
        refused = await sim_client.get("/_sim/ui/api/journal", params=query)
        assert refused.status_code == 400 and refused.json()["errorMessages"][0]["message"].startswith(name)
    scenarios = (await sim_client.get("/_sim/ui/api/scenarios")).json()
    assert scenarios["available"] is False and "spotnana-sim serve" in scenarios["why"]
    refused = await sim_client.post("/_sim/ui/api/scenarios/run", json={"name": "spotnana_503"})
    assert refused.status_code == 400


async def test_the_dashboard_api_is_behind_the_admin_guard() -> None:
    sim = build_in_process(Settings(admin_token="the-admin-token-value"))
    try:
        async with sim.client() as client:
            assert (await client.get("/_sim/ui")).status_code == 200  # the page holds no data: it asks for the token
            for path in ("/_sim/ui/api/meta", "/_sim/ui/api/journal", "/_sim/ui/api/stats", "/_sim/ui/api/clients",
                         "/_sim/ui/api/scenarios", "/_sim/ui/api/scenarios/run"):
                assert (await client.get(path)).status_code == 403, path
            allowed = await client.get("/_sim/ui/api/meta", headers={"Authorization": "Bearer the-admin-token-value"})
            assert allowed.status_code == 200
            foreign = await client.get("/_sim/ui/api/meta", headers={"Authorization": "Bearer the-admin-token-value",
                                                                     "Origin": "http://evil.example"})
            assert foreign.status_code == 403
    finally:
        await sim.aclose()


def test_the_banner_prints_the_dashboard() -> None:
    sim = build_in_process(Settings()).simulator
    assert "  dashboard            http://127.0.0.1:8080/_sim/ui" in banner(sim, "http://127.0.0.1:8080")


# -- scenarios against the serving simulator --------------------------------------------------------


@pytest.mark.e2e
async def test_a_scenario_runs_against_the_serving_simulator_and_leaves_nothing_armed() -> None:
    with running_simulator(Settings()) as (server, simulator):
        runner = LiveScenarioRunner(simulator, server.url)
        listed = {item["name"]: item for item in runner.catalogue()}
        assert listed["spotnana_503"]["runnable"] and listed["spotnana_503"]["steps"] == 2
        assert not listed["user_detail_called_with_bearer"]["runnable"]
        assert "in-process" in listed["user_detail_called_with_bearer"]["why"]
        simulator.faults.arm({"target": "token-endpoint", "response": {"status": 500}})
        simulator.clock.advance(3600)
        steps: list[dict[str, Any]] = []
        result = await runner.run("spotnana_503", steps.append)
        assert result == {"outcome": "passed", "why": "2 steps as expected"}
        assert [(s["index"], s["outcome"]) for s in steps] == [(0, "passed"), (1, "passed")]
        assert [e.status for e in simulator.journal.entries()] == [503, 200]  # the journal keeps the run
        assert simulator.faults.rules() == [] and simulator.clock.offset == 0
        skipped = await runner.run("user_detail_called_with_bearer", steps.append)
        assert skipped["outcome"] == "skipped"
