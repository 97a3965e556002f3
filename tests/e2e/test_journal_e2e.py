"""The journal over real HTTP: what an entry holds, filters, bounds, clearing, and that no secret is whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from spotnana_sim.core.protocol import (
    CLIENT_CREDENTIALS_GRANT,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.settings import ClientConfig, Settings

from ..helpers import exchange_form
from ..servers import running_simulator

pytestmark = pytest.mark.e2e

SECRET = "acme-Secret-7Hq2ZpX91vLw"
SUBJECT = "demo-token-grace"  # the embedded reference API's token for grace@example.com
EXCHANGE = exchange_form("acme", SECRET, SUBJECT)
SETTINGS = Settings(clients=(ClientConfig("acme", SECRET), ClientConfig("other", "other-Secret-kk81Zq0aa")))


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_simulator(SETTINGS) as (thread, _):
        yield thread.url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        client.post("/_sim/reset")
        yield client


def journal(http: httpx.Client, **query: Any) -> dict[str, Any]:
    answer = http.get("/_sim/journal", params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_exchange_is_recorded_with_its_callback(http: httpx.Client) -> None:
    assert http.post(TOKEN_ENDPOINT_PATH, data=EXCHANGE).status_code == 200
    listed = journal(http)
    assert (listed["count"], listed["dropped"], listed["capacity"]) == (1, 0, 1000)
    entry = listed["entries"][0]
    assert (entry["client_id"], entry["grant_type"], entry["status"], entry["error_code"]) == ("acme", TOKEN_EXCHANGE_GRANT, 200, None)
    assert entry["fault_id"] is None and entry["email"] == "grace@example.com"
    assert entry["time"].endswith("+00:00") and isinstance(entry["timestamp"], float)
    assert entry["form"]["scope"] == ["openid"]  # every value as sent, so repeated fields show
    assert entry["form"]["client_secret"] == ["…" + SECRET[-4:]]
    (call,) = entry["user_detail_calls"]
    assert call["url"].endswith("/partner/v1/user-detail") and call["status"] == 200 and call["error"] is None
    assert call["elapsed_ms"] >= 0


def test_a_failure_is_recorded_with_its_error_code_and_no_callback(http: httpx.Client) -> None:
    http.post(TOKEN_ENDPOINT_PATH, data={**EXCHANGE, "client_secret": "wrong-Secret-000111"})
    entry = journal(http)["entries"][0]
    assert (entry["status"], entry["error_code"], entry["user_detail_calls"]) == (403, "INVALID_CLIENT_CREDENTIALS", [])


def test_no_secret_or_token_is_ever_whole_in_the_journal_or_fault_listing(http: httpx.Client) -> None:
    http.post("/_sim/faults", json={"target": "user-detail", "match": {"subject_token": "demo-token-linus"},
                                    "response": {"status": 401}})
    issued = http.post(TOKEN_ENDPOINT_PATH, data=EXCHANGE).json()
    credentials = http.post(TOKEN_ENDPOINT_PATH, data={"grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": "acme",
                                                        "client_secret": SECRET}).json()
    wrong = "wrong-Secret-9a8b7c6d5e"
    http.post(TOKEN_ENDPOINT_PATH, data={**EXCHANGE, "client_secret": wrong})
    http.post(TOKEN_ENDPOINT_PATH, content=f"client_secret={SECRET}&client_secret={SECRET}&client_id=acme",
              headers={"content-type": "application/x-www-form-urlencoded"})
    http.post(TOKEN_ENDPOINT_PATH, data={**EXCHANGE, "subject_token": "demo-token-linus"})
    http.post(TOKEN_ENDPOINT_PATH, json=EXCHANGE)  # wrong content type: the body is not parsed as a form
    text = http.get("/_sim/journal").text + http.get("/_sim/faults").text
    assert journal(http)["count"] == 6
    for secret in (SECRET, SUBJECT, wrong, "demo-token-linus", issued["access_token"], issued["refresh_token"],
                   credentials["access_token"]):
        assert secret not in text
        assert secret[-4:] in text or secret in (issued["access_token"], issued["refresh_token"], credentials["access_token"])


def test_filters_by_client_status_and_time(http: httpx.Client) -> None:
    http.post(TOKEN_ENDPOINT_PATH, data=EXCHANGE)
    http.post(TOKEN_ENDPOINT_PATH, data={**EXCHANGE, "client_secret": "nope-nope-nope"})
    http.post(TOKEN_ENDPOINT_PATH, data={"grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": "other",
                                         "client_secret": "other-Secret-kk81Zq0aa"})
    everything = journal(http)["entries"]
    assert [e["id"] for e in everything] == sorted(e["id"] for e in everything)  # newest last
    assert [e["client_id"] for e in journal(http, client_id="acme")["entries"]] == ["acme", "acme"]
    assert [e["status"] for e in journal(http, status=403)["entries"]] == [403]
    since = everything[1]["timestamp"]
    assert [e["id"] for e in journal(http, since=since)["entries"]] == [e["id"] for e in everything[1:]]
    assert [e["client_id"] for e in journal(http, client_id="acme", status=200)["entries"]] == ["acme"]
    bad = http.get("/_sim/journal", params={"status": "teapot"})
    assert bad.status_code == 400 and "status must be an integer" in bad.text


def test_delete_and_reset_clear_it(http: httpx.Client) -> None:
    http.post(TOKEN_ENDPOINT_PATH, data=EXCHANGE)
    assert http.delete("/_sim/journal").json() == {"cleared": True}
    assert journal(http)["count"] == 0
    http.post(TOKEN_ENDPOINT_PATH, data=EXCHANGE)
    http.post("/_sim/faults", json={"target": "token-endpoint", "delay": 0.01})
    assert http.post("/_sim/reset").status_code == 200
    assert journal(http)["entries"] == [] and http.get("/_sim/faults").json() == {"faults": []}


def test_bounded_keeps_the_newest_and_reports_the_dropped() -> None:
    with running_simulator(Settings(journal_size=3)) as (thread, _), httpx.Client(base_url=thread.url) as http:
        form = {"grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": "demo-client", "client_secret": "demo-secret"}
        for attempt in range(5):
            http.post(TOKEN_ENDPOINT_PATH, data={**form, "audience": f"aud-{attempt}"})
        listed = journal(http)
        assert (listed["count"], listed["dropped"], listed["capacity"]) == (3, 2, 3)
        assert [e["form"]["audience"] for e in listed["entries"]] == [["aud-2"], ["aud-3"], ["aud-4"]]
        http.delete("/_sim/journal")
        assert journal(http)["dropped"] == 0
