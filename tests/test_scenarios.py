"""Scenario files: the shipped library loads, malformed files are reported by file and path, requests
are built as described, and expectations judge answers (without ever showing a whole secret)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import jsonschema
import pytest

from spotnana_sim.core.redaction import redact
from spotnana_sim.scenarios.judge import Observed, check_step
from spotnana_sim.scenarios.loader import (
    ScenarioError,
    load_scenario,
    load_scenarios,
    parse_scenario,
    schema_path,
    shipped_scenarios_dir,
)
from spotnana_sim.scenarios.model import Expectation, UserDetailExpectation
from spotnana_sim.scenarios.placeholders import PLACEHOLDERS
from spotnana_sim.scenarios.record import WRONG_SECRET, render, scenario_from_journal

VALUES = {"client_id": "demo-client", "client_secret": "s3cret-value-1234", "subject_token": "subject-token-abcd"}

MINIMAL = """
name: minimal
description: one exchange
source: documented
steps:
  - expect: {status: 200}
"""


def problems_of(text: str, source: str = "bad.yaml") -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source)
    return str(info.value)


# ------------------------------------------------------------------------------------- the library


def test_the_library_has_at_least_30_scenarios_with_unique_names() -> None:
    scenarios, broken = load_scenarios([shipped_scenarios_dir()])
    assert broken == []
    assert len(scenarios) >= 30
    assert len({s.name for s in scenarios}) == len(scenarios)


def test_every_shipped_file_points_editors_at_the_schema() -> None:
    for path in sorted(shipped_scenarios_dir().glob("*.yaml")):
        assert path.read_text().startswith("# yaml-language-server: $schema=scenario.schema.json"), path.name


def test_the_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(schema_path().read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_library_covers_what_the_issue_lists() -> None:
    names = {s.name for s in load_scenarios([shipped_scenarios_dir()])[0]}
    required = {
        "token_exchange_happy_path", "client_credentials_happy_path", "wrong_content_type", "wrong_method",
        "unknown_client", "wrong_secret", "user_detail_401", "user_detail_403", "user_detail_404", "user_detail_500",
        "user_detail_timeout", "user_detail_unreachable", "user_detail_not_json", "user_detail_no_email",
        "user_detail_custom_mapping", "email_of_no_profile", "rate_limited_with_retry_after",
        "rate_limited_without_retry_after", "spotnana_500", "spotnana_503", "spotnana_slow", "connection_reset",
        "truncated_body", "token_expires_at_once", "empty_fields", "repeated_fields",
    } | {f"missing_{f}" for f in ("grant_type", "client_id", "client_secret", "subject_token", "subject_token_type", "scope")}
    assert required <= names


def test_unknown_client_and_wrong_secret_expect_no_user_detail_call() -> None:
    for name in ("unknown_client", "wrong_secret"):
        scenario = load_scenario(shipped_scenarios_dir() / f"{name}.yaml")
        assert all(step.expect.user_detail == UserDetailExpectation(calls=0) for step in scenario.steps)


def test_shipped_files_hold_no_demo_secret() -> None:
    for path in shipped_scenarios_dir().glob("*.yaml"):
        text = path.read_text()
        assert "demo-secret" not in text and "demo-token-ada" not in text, path.name


# -------------------------------------------------------------------------------- malformed files


def test_a_misspelt_key_names_file_path_and_the_nearest_key() -> None:
    text = MINIMAL.replace("expect: {status: 200}", "expect: {status: 200}\n  - expect: {stauts: 400}")
    message = problems_of(text, "scenarios/typo.yaml")
    assert "scenarios/typo.yaml: steps[1].expect: unknown key 'stauts' (did you mean 'status'?)" in message


def test_a_wrong_type_names_the_path_and_what_is_expected() -> None:
    message = problems_of(MINIMAL.replace("status: 200", "status: two hundred"))
    assert message.startswith("bad.yaml: steps[0].expect.status: 'two hundred' is not of type 'integer'")
    assert "HTTP status" in message


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = MINIMAL.replace("source: documented", "source: folklore").replace("status: 200", "status: 0")
    lines = problems_of(text).splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["source", "steps[0].expect.status"]


def test_a_missing_required_key_is_named() -> None:
    assert "bad.yaml: 'steps' is a required property" in problems_of(MINIMAL.split("steps:")[0])


def test_yaml_syntax_errors_give_line_and_column() -> None:
    message = problems_of("name: x\nsteps: [\n")
    assert message.startswith("bad.yaml: YAML syntax error at line")


def test_an_unknown_placeholder_is_named() -> None:
    text = MINIMAL.replace("- expect:", "- request: {set: {client_secret: '${secret}'}}\n    expect:")
    assert "bad.yaml: steps[0].request.set.client_secret: unknown placeholder '${secret}'" in problems_of(text)


def test_config_values_are_checked_with_the_config_rules() -> None:
    text = MINIMAL.replace("steps:", "config:\n  client: {timeout: -1}\nsteps:")
    assert "bad.yaml: config.client.timeout: must be more than 0" in problems_of(text)
    text = MINIMAL.replace("steps:", "config:\n  errors: {dialect: soap}\nsteps:")
    assert "bad.yaml: config.errors.dialect: must be one of" in problems_of(text)


def test_fault_rules_are_checked_by_the_faults_engine() -> None:
    text = MINIMAL.replace("steps:", "faults:\n  - {target: token-endpoint, response: {status: 99}}\nsteps:")
    assert "bad.yaml: faults[0].response.status:" in problems_of(text)


def test_an_rfc6749_expectation_in_the_spotnana_dialect_is_refused() -> None:
    message = problems_of(MINIMAL.replace("status: 200", "status: 400, error: invalid_request"))
    assert "steps[0].expect.error: is the rfc6749 dialect's field" in message


def test_a_malformed_file_in_a_folder_is_reported_and_the_others_still_load(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(MINIMAL)
    (tmp_path / "bad.yaml").write_text(MINIMAL.replace("minimal", "other").replace("status: 200", "status: x"))
    scenarios, broken = load_scenarios([tmp_path])
    assert [s.name for s in scenarios] == ["minimal"]
    assert len(broken) == 1 and str(broken[0]).startswith(f"{tmp_path / 'bad.yaml'}: steps[0].expect.status")


def test_duplicate_names_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL)
    (tmp_path / "b.yaml").write_text(MINIMAL)
    _, broken = load_scenarios([tmp_path])
    assert len(broken) == 1 and "name: 'minimal' is already the name of" in str(broken[0])


def test_only_the_copy_is_blamed_for_a_shared_name(tmp_path: Path) -> None:
    # zz.yaml is the scenario called zz; aa.yaml is a copy whose name was left as it was. aa sorts first.
    (tmp_path / "zz.yaml").write_text(MINIMAL.replace("name: minimal", "name: zz"))
    (tmp_path / "aa.yaml").write_text(MINIMAL.replace("name: minimal", "name: zz"))
    scenarios, broken = load_scenarios([tmp_path])
    assert [Path(s.file).name for s in scenarios] == ["zz.yaml"]
    [error] = broken
    assert str(error) == (f"{tmp_path / 'aa.yaml'}: name: 'zz' is already the name of {tmp_path / 'zz.yaml'}; "
                          "give this scenario a name of its own, e.g. 'aa'")


def test_a_number_where_text_is_expected_suggests_quotes() -> None:
    message = problems_of(MINIMAL.replace("name: minimal", "name: 503"))
    assert message == ("bad.yaml: name: 503 is not of type 'string' (expected: unique name, lower-case words joined by - or _); "
                       'YAML read it as a number: to keep it text, put it in quotes: name: "503"')
    assert "YAML read it as a boolean: to keep it text, put it in quotes, e.g. description: \"true\"" in problems_of(
        MINIMAL.replace("description: one exchange", "description: yes"))


def test_every_problem_of_every_file_is_reported_in_one_run(tmp_path: Path) -> None:
    # Shape problems (schema) and value problems (placeholders, config, faults) of the same file, together.
    (tmp_path / "one.yaml").write_text(
        "name: 503\ndescription: x\nsource: modeled\n"
        "config:\n  client: {timeout: -1}\n"
        "faults:\n  - {target: token-endpoint, response: {status: 99}}\n  - {target: nowhere}\n"
        "steps:\n  - request: {set: {client_secret: '${secret}'}}\n    expect: {status: 200}\n"
        "  - expect: {stauts: 200}\n"
    )
    (tmp_path / "two.yaml").write_text(MINIMAL.replace("name: minimal", "name: two").replace("status: 200", "status: x")
                                       .replace("source: documented", "source: folklore"))
    scenarios, broken = load_scenarios([tmp_path])
    assert scenarios == []
    one, two = (str(error).splitlines() for error in broken)
    where = [line.split(": ")[1] for line in one]
    assert where == ["faults[1].target", "name", "steps[1].expect", "steps[0].request.set.client_secret",
                     "config.client.timeout", "faults[0].response.status"], one
    assert [line.split(": ")[1] for line in two] == ["source", "steps[0].expect.status"]


def test_replay_prints_every_problem_of_every_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spotnana_sim.cli.main import main

    (tmp_path / "one.yaml").write_text(MINIMAL.replace("name: minimal", "name: 503").replace("status: 200", "status: x"))
    (tmp_path / "two.yaml").write_text(MINIMAL.replace("name: minimal", "name: two").replace("source: documented", "source: x")
                                       .replace("- expect:", "- request: {set: {client_id: '${nope}'}}\n    expect:"))
    assert main(["replay", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    for expected in ('name: 503 is not of type', 'put it in quotes: name: "503"', "steps[0].expect.status: 'x'",
                     "source: 'x' is not one of", "unknown placeholder '${nope}'"):
        assert expected in out, out


# -------------------------------------------------------------------------------------- requests


def build(request_yaml: str) -> tuple[list[tuple[str, str]], dict[str, str], str]:
    scenario = parse_scenario(MINIMAL.replace("- expect:", f"- request: {request_yaml}\n    expect:"), "t.yaml")
    built = scenario.steps[0].request.build(VALUES)
    return parse_qsl(built.body.decode(), keep_blank_values=True), built.headers, built.method


def test_the_default_request_is_a_valid_token_exchange_with_placeholders_filled() -> None:
    form, headers, method = build("{}")
    assert dict(form) == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "client_id": "demo-client",
        "client_secret": VALUES["client_secret"], "subject_token": VALUES["subject_token"],
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "openid",
    }
    assert headers == {"Content-Type": "application/x-www-form-urlencoded"} and method == "POST"


def test_omit_set_and_repeat_change_the_default() -> None:
    form, _, _ = build("{grant: client_credentials, omit: [client_secret], set: {audience: x}, repeat: [client_id]}")
    assert form == [("grant_type", "client_credentials"), ("client_id", "demo-client"), ("client_id", "demo-client"), ("audience", "x")]
    form, _, _ = build("{repeat: {scope: [openid, profile]}, set: {scope: ignored}}")
    assert [v for k, v in form if k == "scope"] == ["openid", "profile"]


def test_raw_body_content_type_none_and_method() -> None:
    scenario = parse_scenario(MINIMAL.replace("- expect:", "- request: {method: GET, content_type: null, body: 'a=${client_id}'}\n    expect:"), "t")
    built = scenario.steps[0].request.build(VALUES)
    assert (built.method, built.headers, built.body) == ("GET", {}, b"a=demo-client")


# ------------------------------------------------------------------------------------ expectations


def answer(status: int, body: object, **headers: str) -> Observed:
    return Observed(status=status, body=json.dumps(body).encode(), headers={k.lower(): v for k, v in headers.items()}, user_detail_calls=[])


def test_status_and_error_code_mismatches_are_explained() -> None:
    observed = answer(403, {"errorMessages": [{"errorCode": "INVALID_CLIENT_CREDENTIALS"}]})
    failures = check_step(Expectation(status=400, error_code="API_VALIDATION_FAILED"), observed, VALUES)
    assert failures == [
        "status: expected 400, got 403 (INVALID_CLIENT_CREDENTIALS)",
        "errorCode: expected API_VALIDATION_FAILED, got INVALID_CLIENT_CREDENTIALS",
    ]
    assert check_step(Expectation(status=403, error_code="INVALID_CLIENT_CREDENTIALS"), observed, VALUES) == []


def test_matchers_present_matches_min_max() -> None:
    observed = answer(200, {"access_token": "x", "expires_in": 3600}, **{"Retry-After": "2"})
    ok = Expectation(body=(("access_token", {"present": True}), ("refresh_token", {"present": False}), ("expires_in", {"min": 1, "max": 3600})),
                     headers=(("retry-after", {"matches": "^[0-9]+$"}),))
    assert check_step(ok, observed, VALUES) == []
    bad = Expectation(body=(("refresh_token", {"present": True}), ("expires_in", {"max": 60})))
    assert check_step(bad, observed, VALUES) == ["body.refresh_token: expected present, got absent", "body.expires_in: expected max 60, got 3600"]


def test_user_detail_call_count_is_checked_and_unobservable_counts_fail() -> None:
    observed = answer(403, {})
    observed.user_detail_calls = [{"status": 200, "error": None}]
    assert check_step(Expectation(user_detail=UserDetailExpectation(calls=0)), observed, VALUES) == [
        "user-detail calls: expected 0, the simulator made 1"
    ]
    observed.user_detail_calls = None
    assert check_step(Expectation(user_detail=UserDetailExpectation(calls=0)), observed, VALUES) == [
        "user-detail calls: not observable here (no journal)"
    ]


def test_a_broken_connection_is_a_failure_unless_expected() -> None:
    broken = Observed(transport_error="RemoteProtocolError: Server disconnected")
    assert check_step(Expectation(connection="broken"), broken, VALUES) == []
    assert check_step(Expectation(status=200), broken, VALUES) == ["the connection broke (RemoteProtocolError: Server disconnected) instead of answering"]
    assert check_step(Expectation(connection="broken"), answer(200, {}), VALUES) == ["expected a broken connection, got an answer with status 200"]


def test_failure_messages_never_show_a_whole_secret() -> None:
    observed = answer(200, {"access_token": "eyJ-the-whole-access-token-value"})
    observed.authorizations = ["Bearer some-other-subject-token"]
    expect = Expectation(
        body=(("access_token", "${client_secret}"),),
        user_detail=UserDetailExpectation(authorization="Bearer ${subject_token}"),
    )
    text = "\n".join(check_step(expect, observed, VALUES))
    for secret in (*VALUES.values(), "eyJ-the-whole-access-token-value", "some-other-subject-token"):
        if secret != "demo-client":
            assert secret not in text
    assert redact(VALUES["client_secret"]) in text


def test_the_placeholders_are_the_credentials_then_what_a_run_makes() -> None:
    assert PLACEHOLDERS[:3] == ("client_id", "client_secret", "subject_token")
    assert set(PLACEHOLDERS[3:]) == {"client_token", "tmc_admin_token", "company_id", "partner_kid", "partner_jwks",
                                     "partner_jwks_url", "partner_jwt"}


# ------------------------------------------------------------------------------------------ record


def entry(i: int, form: dict[str, object], status: int, code: str | None = None, calls: int = 0, **extra: object) -> dict[str, object]:
    return {"id": i, "method": "POST", "content_type": "application/x-www-form-urlencoded", "client_id": form.get("client_id"),
            "form": form, "status": status, "error_code": code, "user_detail_calls": [{"status": 200, "fault_id": None}] * calls,
            "fault_id": None, **extra}


def test_recording_turns_secrets_into_placeholders_or_wrong_literals() -> None:
    ok = {"grant_type": "client_credentials", "client_id": "acme", "client_secret": redact("acme-secret-123")}
    entries = [entry(1, ok, 200), entry(2, ok, 403, "INVALID_CLIENT_CREDENTIALS"), entry(3, {**ok, "client_id": "other"}, 403, "INVALID_CLIENT_CREDENTIALS")]
    document, notes = scenario_from_journal(entries, [], name="CI Failure #3", source_url="http://127.0.0.1:1")
    forms = [step["request"]["form"] for step in document["steps"]]
    assert forms[0] == {"grant_type": "client_credentials", "client_id": "${client_id}", "client_secret": "${client_secret}"}
    assert forms[1]["client_secret"] == WRONG_SECRET  # the main client with a wrong secret must fail again
    assert forms[2] == {"grant_type": "client_credentials", "client_id": "other", "client_secret": "${client_secret}"}
    assert document["name"] == "ci_failure_3" and notes == []
    assert [s["expect"] for s in document["steps"]][1] == {"status": 403, "errorCode": "INVALID_CLIENT_CREDENTIALS", "user_detail_calls": 0}
    parse_scenario(render(document, notes), "recorded.yaml")  # what record writes loads


def test_recording_copies_fired_fault_rules_and_notes_lost_ones() -> None:
    form = {"grant_type": "client_credentials", "client_id": "acme", "client_secret": "…"}
    entries = [entry(1, form, 503, "SERVICE_UNAVAILABLE", fault_id="f1"), entry(2, form, 429, "TOO_MANY_REQUESTS", fault_id="gone")]
    rules = [{"id": "f1", "target": "token-endpoint", "times": 1, "response": {"status": 503}, "remaining": 0, "fired": 1}, {"id": "f2", "target": "user-detail"}]
    document, notes = scenario_from_journal(entries, rules, name="x", source_url="u")
    assert document["faults"] == [{"target": "token-endpoint", "times": 1, "response": {"status": 503}}]
    assert notes == ["steps[1]: fault rule gone fired but is no longer armed at the source, so it is not in this file"]


def test_recording_an_oversized_request_replays_as_oversized() -> None:
    too_big = entry(1, {}, 413, "PAYLOAD_TOO_LARGE")
    document, _ = scenario_from_journal([too_big], [], name="big", source_url="u")
    scenario = parse_scenario(render(document, []), "big.yaml")
    assert len(scenario.steps[0].request.build(VALUES).body) > 16 * 1024


def test_recording_gives_each_user_a_variable_even_when_their_tokens_end_alike() -> None:
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "client_id": "acme", "client_secret": "…"}
    entries = [
        entry(1, {**form, "subject_token": "…wxyz"}, 401, "USER_NOT_AUTHENTICATED", calls=1),  # rejected: a literal, no variable
        entry(2, {**form, "subject_token": "…abcd"}, 200, calls=1, email="lin@example.com"),
        entry(3, {**form, "subject_token": "…abcd"}, 200, calls=1, email="max@example.com"),  # same last 4, another user
        entry(4, {**form, "subject_token": "…abcd"}, 200, calls=1, email="lin@example.com"),
    ]
    document, notes = scenario_from_journal(entries, [], name="x", source_url="u")
    tokens = [step["request"]["form"]["subject_token"] for step in document["steps"]]
    assert tokens == ["recorded-rejected-subject-token", "${subject_token}", "${subject_token_2}", "${subject_token}"]
    assert "claims" not in document["steps"][0]["expect"]
    assert document["steps"][2]["expect"]["claims"] == {"email": {"matches": r"^(?i:max@example\.com)$"}}
    assert notes == [
        "${subject_token} is the token of lin@example.com (it ended '…abcd'); pass it as --subject-token number 1",
        "${subject_token_2} is the token of max@example.com (it ended '…abcd'); pass it as --subject-token number 2",
    ]
    parse_scenario(render(document, notes), "recorded.yaml")


def test_numbered_subject_token_placeholders_are_known_and_filled() -> None:
    from spotnana_sim.scenarios.setup import placeholder_values

    text = MINIMAL.replace("- expect:", "- request: {set: {subject_token: '${subject_token_2}'}}\n    expect:")
    scenario = parse_scenario(text, "t.yaml")
    assert scenario.placeholders == {"subject_token_2"}  # as written; the default form's are always filled
    values = placeholder_values(None, "tok-1", more_subject_tokens=["tok-2", "tok-3"])
    assert values["subject_token_2"] == "tok-2" and values["subject_token_3"] == "tok-3"
    assert dict(scenario.steps[0].request.form_pairs(values))["subject_token"] == "tok-2"
    assert scenario.unfilled({"client_id": "c", "client_secret": "s"}) == ["${subject_token_2}"]
    for wrong in ("${subject_token_1}", "${subject_token_0}", "${subject_token_x}"):
        assert "unknown placeholder" in problems_of(text.replace("${subject_token_2}", wrong))
