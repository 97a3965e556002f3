"""replay in-process: the whole shipped library passes, failures are caught and explained, the table
and JUnit XML report them, and the CLI exits non-zero when a scenario fails."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from spotnana_sim.cli import main as cli
from spotnana_sim.core.settings import ClientConfig, Settings
from spotnana_sim.kit.report import ERROR, FAIL, PASS, SKIP, CheckResult
from spotnana_sim.scenarios.loader import load_scenarios, parse_scenario, shipped_scenarios_dir
from spotnana_sim.scenarios.model import Scenario
from spotnana_sim.scenarios.replay import (
    InProcessRunner,
    exit_status,
    format_table,
    report_of,
    run_all,
    scenario_result,
    write_junit,
)


def scenario(text: str) -> Scenario:
    return parse_scenario(text, "inline.yaml")


async def test_the_whole_shipped_library_passes_in_process() -> None:
    scenarios, broken = load_scenarios([shipped_scenarios_dir()])
    assert broken == []
    results = await run_all(InProcessRunner(), scenarios)
    not_passed = [(r.name, r.summary, r.details) for r in results if r.status != PASS]
    assert not_passed == []
    assert len(results) >= 30


async def test_a_wrong_expectation_fails_with_the_step_and_the_difference() -> None:
    wrong = scenario("""
name: expects_a_call_that_is_not_made
description: a client_credentials exchange makes no user-detail call, so expecting one must fail
source: modeled
steps:
  - request: {grant: client_credentials}
    expect: {status: 200, user_detail_calls: 1}
  - name: second
    request: {set: {client_secret: wrong}}
    expect: {status: 200}
""")
    [result] = await run_all(InProcessRunner(), [wrong])
    assert result.status == FAIL
    assert result.summary == "steps[0] (step 1): user-detail calls: expected 1, the simulator made 0"
    assert "steps[1] (second): status: expected 200, got 403 (INVALID_CLIENT_CREDENTIALS)" in result.details


async def test_the_authorization_header_sent_to_user_detail_is_checked() -> None:
    text = """
name: bearer
description: the header must be exactly this
source: documented
steps:
  - expect: {status: 200, user_detail: {calls: 1, authorization: "%s"}}
"""
    [good] = await run_all(InProcessRunner(), [scenario(text % "Bearer ${subject_token}")])
    [bad] = await run_all(InProcessRunner(), [scenario(text % "Basic ${subject_token}")])
    assert good.status == PASS
    assert bad.status == FAIL and "user-detail Authorization: expected 'Basic" in bad.summary
    assert "demo-token-ada" not in bad.summary  # the subject token itself is never shown whole


async def test_scenario_config_applies_to_that_scenario_only() -> None:
    strict = scenario("""
name: no_profiles_for_ada
description: with another profile list the demo user has none
source: modeled
config: {profiles: [someone@example.com]}
steps:
  - expect: {status: 403, errorCode: USER_NOT_FOUND}
""")
    default = scenario("name: default\ndescription: d\nsource: documented\nsteps:\n  - expect: {status: 200}\n")
    results = await run_all(InProcessRunner(), [strict, default])
    assert [r.status for r in results] == [PASS, PASS]


async def test_base_settings_and_credentials_fill_the_placeholders() -> None:
    from spotnana_sim.scenarios.replay import Credentials

    base = Settings(clients=(ClientConfig("acme", "acme-secret-1"),))
    ok = scenario("name: ok\ndescription: d\nsource: documented\nsteps:\n  - expect: {status: 200, claims: {client_id: acme}}\n")
    [result] = await run_all(InProcessRunner(base), [ok])
    assert result.status == PASS
    [wrong] = await run_all(InProcessRunner(base, Credentials(client_secret="not-it")), [ok])
    assert wrong.status == FAIL and "403" in wrong.summary


async def test_a_fault_rule_the_engine_refuses_at_run_time_is_an_error_naming_it() -> None:
    # Loading checks rules too; this reaches the runner directly, as a scenario built in code would.
    base = scenario("name: f\ndescription: d\nsource: modeled\nsteps:\n  - expect: {status: 200}\n")
    broken = replace(base, faults=({"target": "token-endpoint", "times": -1},))
    [result] = await run_all(InProcessRunner(), [broken])
    assert result.status == ERROR and result.summary.startswith("faults[0].times")


def results_mix() -> list[CheckResult]:
    return [
        replace(scenario_result("a", "s/a.yaml", PASS, "1 step as expected"), seconds=0.5),
        scenario_result("b", "s/b.yaml", FAIL, "steps[0]: status: expected 200, got 503", ["steps[0]: status: expected 200, got 503", "steps[0]: x"]),
        scenario_result("c", "s/c.yaml", SKIP, "needs fault rules"),
        scenario_result("d", "s/d.yaml", ERROR, "faults[0].times: bad"),
        scenario_result("e", "s/e.yaml", SKIP, "modeled"),
    ]


def test_junit_xml_counts_and_elements(tmp_path: Path) -> None:
    write_junit(results_mix(), tmp_path / "replay.xml")
    root = ET.parse(tmp_path / "replay.xml").getroot()
    assert ET.fromstring(report_of(results_mix()).to_junit().split("?>", 1)[1]).find("testsuite") is not None
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "spotnana-sim replay" and suite.get("time") == "0.500"
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {"tests": "5", "failures": "1", "errors": "1", "skipped": "2"}
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["a", "b", "c", "d", "e"]
    assert len(cases["a"]) == 0 and cases["a"].get("time") == "0.500" and cases["a"].get("file") == "s/a.yaml"
    failure = cases["b"].find("failure")
    assert failure is not None and failure.get("message") == "steps[0]: status: expected 200, got 503" and "steps[0]: x" in (failure.text or "")
    assert cases["c"].find("skipped") is not None and cases["d"].find("error") is not None
    error = cases["d"].find("error")
    assert error is not None and error.get("message") == "faults[0].times: bad"
    assert cases["b"].get("classname") == "scenarios.b"


def test_table_and_exit_status() -> None:
    results = results_mix()
    table = format_table(results)
    assert table.splitlines()[0].split() == ["scenario", "result", "why"]
    assert re.search(r"^b +FAILED +steps\[0\]: status: expected 200, got 503$", table, re.M)
    assert "1 passed, 1 failed, 1 error, 2 skipped" in table
    assert exit_status(results) == 1
    assert exit_status([results[0], results[2]]) == 0


def test_cli_replays_the_library_and_writes_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [shipped_scenarios_dir() / f"{name}.yaml" for name in ("token_exchange_happy_path", "wrong_secret", "spotnana_503")]
    junit = tmp_path / "replay.xml"
    assert cli.main(["replay", *map(str, files), "--junit", str(junit)]) == 0
    out = capsys.readouterr().out
    assert "3 passed, 0 failed, 0 error, 0 skipped" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "0"


def test_cli_exits_1_and_names_file_and_path_for_a_malformed_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: d\nsource: modeled\nsteps:\n  - expect: {status: 200}\n  - expect: {status: '500'}\n")
    assert cli.main(["replay", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}: steps[1].expect.status: '500' is not of type 'integer'" in out
    assert "Traceback" not in out


def test_cli_exits_1_when_a_scenario_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failing = tmp_path / "failing.yaml"
    failing.write_text("name: failing\ndescription: d\nsource: modeled\nsteps:\n  - request: {omit: [scope]}\n    expect: {status: 200}\n")
    assert cli.main(["replay", str(failing)]) == 1
    row = r"^failing +FAILED +steps\[0\] \(step 1\): status: expected 200, got 400 \(API_VALIDATION_FAILED\)$"
    assert re.search(row, capsys.readouterr().out, re.M)


def test_cli_reports_a_missing_path_as_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["replay", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file or folder" in capsys.readouterr().err
