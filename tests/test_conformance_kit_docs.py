"""docs/guides/conformance-kit.md says what the checks do; these hold it to what they do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from spotnana_sim.kit.client_grader import GraderPolicy, grade_journal
from spotnana_sim.kit.report import FAIL, SKIP
from spotnana_sim.kit.user_detail_checks import check_names

PAGE = (Path(__file__).resolve().parent.parent / "docs" / "guides" / "conformance-kit.md").read_text(encoding="utf-8")
CLIENT = PAGE.split("## `spotnana-sim check client`", 1)[1]
USER_DETAIL = PAGE.split("## `spotnana-sim check user-detail`", 1)[1].split("\n## ", 1)[0]
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def _table_rows(text: str, header: str) -> dict[str, str]:
    table = text.split(header, 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.strip().splitlines()[1:]:  # after the |---| line
        name = re.match(r"\| `([\w-]+)` \|", line)
        assert name, line
        rows[name.group(1)] = " ".join(line.split())
    return rows


def _entry(i: int, status: int, at: float, **more: Any) -> dict[str, Any]:
    form = {"grant_type": [EXCHANGE], "client_id": ["acme"], "client_secret": ["…cret"], "subject_token": ["…1234"],
            "subject_token_type": ["urn:ietf:params:oauth:token-type:access_token"], "scope": ["openid"]}
    return {"id": i, "kind": "token", "path": "/v2/auth/oauth2-token", "method": "POST", "timestamp": at,
            "time": str(at), "content_type": "application/x-www-form-urlencoded", "client_id": "acme",
            "grant_type": EXCHANGE, "form": form, "status": status, "query_fields": {}, **more}


def test_the_user_detail_table_lists_every_check_in_order() -> None:
    rows = _table_rows(USER_DETAIL, "| check | passes when | otherwise |")
    assert list(rows) == check_names()


def test_the_client_table_lists_every_check_the_grader_reports_in_order() -> None:
    rows = _table_rows(CLIENT, "| check | passes when | otherwise | on what authority |")
    report = grade_journal([_entry(1, 200, 1000.0, expires_at=4600.0, email="a@example.com", subject="s")])
    assert list(rows) == [r.name for r in report.results]


def test_an_empty_journal_fails_as_the_page_says_and_nothing_else_runs() -> None:
    row = _table_rows(CLIENT, "| check | passes when | otherwise | on what authority |")["journal"]
    assert "**fail** when there is no token request at all" in row and "no other check runs" in row
    report = grade_journal([], token_url="http://127.0.0.1:8080/v2/auth/oauth2-token")
    assert [(r.name, r.status) for r in report.results] == [("journal", FAIL)]
    assert "http://127.0.0.1:8080/v2/auth/oauth2-token" in report.results[0].fix


def test_only_token_endpoint_requests_are_graded_as_the_page_says() -> None:
    assert "Only requests to the token endpoint" in CLIENT
    embed = {**_entry(1, 200, 1000.0), "kind": "embed", "path": "/embed/"}
    assert grade_journal([embed]).results[0].status == FAIL  # an embed step is not a token request


def test_the_thresholds_the_page_states_are_the_grader_s() -> None:
    policy = GraderPolicy()
    stated = (
        f"default {policy.refresh_margin:g} s, modeled",
        f"default {policy.min_retry_delay:g} s",
        f"{policy.retry_after_slack:g} s of clock slack",
        f"at least {policy.growth_after_three:g} × the first",
        "not be shorter than 0.9 × the first",
    )
    text = " ".join(CLIENT.split())
    for phrase in stated:
        assert phrase in text, phrase


def test_growth_is_not_judged_while_retry_after_sets_the_pace_as_the_page_says() -> None:
    assert "only while no answer in the run carried `Retry-After`" in " ".join(CLIENT.split())
    # Three 429s with Retry-After: 1, each retried after exactly 1 s (flat waits): not a back-off failure.
    entries = [_entry(i + 1, 429, 1000.0 + i, retry_after="1", elapsed_ms=0.0) for i in range(3)]
    entries.append(_entry(4, 200, 1003.0, expires_at=4603.0, email="a@example.com", subject="s"))
    result = grade_journal(entries).result("retry-timing")
    assert result.status not in (FAIL, SKIP), result


def test_two_retries_may_shrink_by_less_than_a_tenth_as_the_page_says() -> None:
    def graded(third_at: float) -> str:
        entries = [_entry(1, 429, 1000.0, elapsed_ms=0.0), _entry(2, 429, 1001.0, elapsed_ms=0.0),
                   _entry(3, 200, third_at, expires_at=third_at + 3600, email="a@example.com", subject="s")]
        return grade_journal(entries).result("retry-timing").status

    assert graded(1001.95) != FAIL  # waits 1.0 s then 0.95 s
    assert graded(1001.8) == FAIL  # waits 1.0 s then 0.8 s
