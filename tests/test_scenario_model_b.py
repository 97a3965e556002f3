"""Scenarios for identity model B and the Bearer-protected APIs: the placeholders that stand for what a
run makes (partner JWTs to a recipe, API users' tokens, the company), how files using them are checked,
and how the in-process runner fills them (the partner's JWKS answered with no socket)."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
import pytest

from spotnana_sim.kit.report import ERROR, FAIL, PASS
from spotnana_sim.scenarios.loader import ScenarioError, load_scenarios, parse_scenario, shipped_scenarios_dir
from spotnana_sim.scenarios.model import DOCUMENTED, MODELED, Scenario
from spotnana_sim.scenarios.placeholders import (
    PartnerJwtRecipe,
    PlaceholderError,
    parse_partner_jwt,
    placeholder_problem,
)
from spotnana_sim.scenarios.replay import InProcessRunner, TargetControl, TargetRunner, run_all
from spotnana_sim.scenarios.setup import PARTNER_EMAIL, PARTNER_ISSUER, ScenarioPartner

HEAD = "name: s\ndescription: d\nsource: modeled\n"
MODEL_B = HEAD + "config:\n  client: {identity: jwt}\n"


def scenario(text: str) -> Scenario:
    return parse_scenario(text, "inline.yaml")


def problems_of(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.yaml")
    return str(info.value)


def run(*scenarios: Scenario, runner: Any = None) -> list[Any]:
    return asyncio.run(run_all(runner or InProcessRunner(), list(scenarios)))


# ------------------------------------------------------------------------------------- the library

NEW_SCENARIOS = {
    "partner_jwt_happy_path": DOCUMENTED, "partner_jwt_from_jwks_url": DOCUMENTED,
    "partner_jwt_bad_signature": MODELED, "partner_jwt_unknown_kid": MODELED, "partner_jwt_alg_none": MODELED,
    "partner_jwt_hs256": MODELED, "partner_jwt_expired": MODELED, "partner_jwt_not_yet_valid": MODELED,
    "partner_jwt_wrong_audience": MODELED, "partner_jwt_wrong_issuer": MODELED, "partner_jwt_no_email": MODELED,
    "partner_jwt_not_a_jwt": MODELED, "partner_jwt_token_type_jwt": MODELED,
    "user_detail_refuses_jwt_token_type": DOCUMENTED, "partner_key_register_then_exchange": DOCUMENTED,
    "partner_key_duplicate_kid": MODELED, "partner_key_revoked_then_refused": MODELED,
    "partner_keys_without_token": DOCUMENTED, "partner_keys_other_company": MODELED,
    "api_user_rotate_retires_old_secret": DOCUMENTED, "api_user_revoke_retires_tokens": DOCUMENTED,
    "partner_jwks_unreachable": MODELED, "partner_jwks_keys_swapped": MODELED, "partner_jwks_timeout": MODELED,
}


def test_the_library_has_the_model_b_key_and_api_user_scenarios_each_labelled() -> None:
    by_name = {s.name: s for s in load_scenarios([shipped_scenarios_dir()])[0]}
    assert {name: by_name[name].source for name in NEW_SCENARIOS} == NEW_SCENARIOS
    assert len(NEW_SCENARIOS) >= 15


def test_each_model_b_scenario_fails_when_its_token_is_not_what_it_says() -> None:
    # The refusals are not vacuous: the same step with a valid partner JWT is answered 200.
    library = shipped_scenarios_dir()
    text = (library / "partner_jwt_expired.yaml").read_text().replace("${partner_jwt:iat=-7200,exp=-3600}", "${partner_jwt}")
    [result] = run(scenario(text))
    assert result.status == FAIL and result.summary == (
        "steps[0] (step 1): status: expected 401, got 200")


# ------------------------------------------------------------------------------- ${partner_jwt:…}


def test_a_recipe_reads_claims_times_omissions_and_header_changes() -> None:
    recipe = parse_partner_jwt("partner_jwt:email=grace@example.com, aud=other,exp=-120,iat=+30,omit=iss,"
                               "omit=sub,alg=HS256,kid=k1,signature=bad,claim.upn=g@corp.example")
    assert recipe == PartnerJwtRecipe(
        claims=(("email", "grace@example.com"), ("aud", "other"), ("upn", "g@corp.example")),
        times=(("exp", -120), ("iat", 30)), omit=("iss", "sub"), alg="HS256", kid="k1", bad_signature=True)
    assert parse_partner_jwt("partner_jwt") == PartnerJwtRecipe()
    assert parse_partner_jwt("partner_jwt:iss=https://auth.example:8443/x").claims == (("iss", "https://auth.example:8443/x"),)


@pytest.mark.parametrize(("options", "message"), [
    ("emial=x", "unknown option 'emial' (did you mean 'email'?); options: email, sub, aud"),
    ("exp=soon", "exp='soon': exp takes whole seconds from now, e.g. exp=-120 (two minutes ago) or exp=+300"),
    ("alg=RS512", "alg='RS512': must be one of RS256, HS256, none"),
    ("signature=good", "signature='good': the one value is 'bad'"),
    ("aud", "'aud' is not name=value; options are separated by commas"),
    ("aud=a,aud=b", "aud is given twice"),
    ("omit=email,email=x", "email is both set and omitted"),
    ("", "no options after 'partner_jwt:'"),
    ("kid=", "kid= needs a value"),
])
def test_a_bad_recipe_is_named_with_what_is_accepted(options: str, message: str) -> None:
    with pytest.raises(PlaceholderError) as info:
        parse_partner_jwt(f"partner_jwt:{options}")
    assert message in str(info.value)
    text = MODEL_B + "steps:\n  - request: {set: {subject_token: '${partner_jwt:" + options + "}'}}\n    expect: {status: 200}\n"
    assert f"bad.yaml: steps[0].request.set.subject_token: ${{partner_jwt:{options}}}: {message}" in problems_of(text)


def test_unknown_placeholders_get_a_did_you_mean() -> None:
    assert "(did you mean 'client_token'?)" in (placeholder_problem("client_tokn") or "")
    assert placeholder_problem("tmc_admin_token") is None and placeholder_problem("partner_jwt:aud=x") is None


def test_the_run_s_partner_signs_to_the_recipe() -> None:
    partner = ScenarioPartner()
    key = jwt.PyJWK(partner.idp.jwks()["keys"][0])
    now = 1_700_000_000.0

    def decoded(options: str) -> tuple[dict[str, Any], dict[str, Any]]:
        token = partner.sign(parse_partner_jwt("partner_jwt" + options), now)
        return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})

    header, claims = decoded("")
    assert header == {"alg": "RS256", "kid": partner.idp.kid, "typ": "JWT"}
    assert claims["email"] == PARTNER_EMAIL and claims["iss"] == PARTNER_ISSUER and claims["aud"] == "spotnana"
    assert (claims["iat"], claims["exp"]) == (1_700_000_000, 1_700_003_600)
    good = partner.sign(PartnerJwtRecipe(), now)
    assert jwt.decode(good, key, algorithms=["RS256"], audience="spotnana", options={"verify_exp": False})["sub"]
    _, changed = decoded(":email=grace@example.com,exp=-120,omit=iss")
    assert changed["email"] == "grace@example.com" and changed["exp"] == 1_700_000_000 - 120 and "iss" not in changed
    assert decoded(":alg=none")[0]["alg"] == "none" and decoded(":alg=HS256")[0]["alg"] == "HS256"
    assert decoded(":kid=other")[0]["kid"] == "other"
    forged = partner.sign(parse_partner_jwt("partner_jwt:signature=bad"), now)
    assert forged.rsplit(".", 1)[0] == good.rsplit(".", 1)[0]  # the same header and claims…
    with pytest.raises(jwt.InvalidSignatureError):  # …and a signature that does not verify
        jwt.decode(forged, key, algorithms=["RS256"], audience="spotnana", options={"verify_exp": False})


# ------------------------------------------------------------------------------- checking files


def test_client_patch_values_are_checked_by_the_config_rules() -> None:
    assert "bad.yaml: config.client.identity: 'jwtt' is not one of ['user-detail', 'jwt']" in problems_of(
        HEAD + "config:\n  client: {identity: jwtt}\nsteps:\n  - expect: {status: 200}\n")
    assert "bad.yaml: config.client.audience: " in problems_of(
        HEAD + "config:\n  client: {identity: jwt, audience: ''}\nsteps:\n  - expect: {status: 200}\n")
    assert "bad.yaml: config.client.keys[0]" in problems_of(
        HEAD + "config:\n  client: {identity: jwt, keys: [{kty: EC}]}\nsteps:\n  - expect: {status: 200}\n")
    # A placeholder where a URL goes is checked as the URL it will be.
    scenario(HEAD + "config:\n  client: {jwks_url: '${partner_jwks_url}'}\nsteps:\n  - expect: {status: 200}\n")


def test_a_request_to_another_api_sends_no_token_form() -> None:
    message = problems_of(HEAD + "steps:\n  - request: {path: /v2/api-users/rotate, set: {a: b}}\n    expect: {status: 200}\n")
    assert "bad.yaml: steps[0].request.set: describes the token form, which only /v2/auth/oauth2-token is sent" in message
    loaded = scenario(HEAD + "steps:\n  - request: {method: GET, path: '/v2/companies/${company_id}/partner-public-keys'}\n"
                      "    expect: {status: 200}\n")
    built = loaded.steps[0].request.build({"company_id": "c-1"})
    assert (built.method, built.path, built.body, built.headers) == ("GET", "/v2/companies/c-1/partner-public-keys", b"", {})
    posted = scenario(HEAD + "steps:\n  - request: {path: /v2/api-users/revoke, body: {clientId: '${client_id}'}}\n"
                      "    expect: {status: 204}\n").steps[0].request.build({"client_id": 'a"b'})
    assert posted.body == b'{"clientId": "a\\"b"}' and posted.headers == {"Content-Type": "application/json"}


# ---------------------------------------------------------------------------------- running them


def test_the_jwks_is_fetched_in_process_with_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*args: Any) -> None:
        raise AssertionError("an in-process run opened a listening socket")

    monkeypatch.setattr(socket.socket, "listen", refuse)
    runner = InProcessRunner()
    loaded = {s.name: s for s in load_scenarios([shipped_scenarios_dir()])[0]}
    results = run(loaded["partner_jwt_from_jwks_url"], loaded["partner_jwks_unreachable"], runner=runner)
    assert [r.status for r in results] == [PASS, PASS], [r.summary for r in results]


def test_a_client_token_that_cannot_be_had_is_an_error_naming_it() -> None:
    text = (HEAD + "config:\n  client: {grants: ['urn:ietf:params:oauth:grant-type:token-exchange']}\n"
            "steps:\n  - request: {method: GET, path: /v2/api-users/x, headers: {Authorization: 'Bearer ${client_token}'}}\n"
            "    expect: {status: 200}\n")
    [result] = run(scenario(text))
    assert result.status == ERROR
    assert result.summary.startswith("${client_token}: the client_credentials request of 'demo-client' got status 403 (GRANT_NOT_ALLOWED")


def test_failures_never_show_a_partner_jwt_or_an_access_token_whole() -> None:
    text = (MODEL_B + "steps:\n  - request: {set: {subject_token: '${partner_jwt}'}}\n"
            "    expect: {status: 200, body: {access_token: '${client_token}', refresh_token: '${partner_jwt}'}}\n")
    [result] = run(scenario(text))
    assert result.status == FAIL
    assert len(result.details) == 2
    for detail in result.details:  # the last 4 characters at most, of what was wanted and of what came
        assert detail.endswith("'") and detail.split(": expected ")[1].startswith("'…"), detail
        assert detail.split(", got ")[1].startswith("'…"), detail


def test_a_target_without_the_admin_api_skips_what_needs_it_and_a_remote_one_the_served_jwks() -> None:
    loaded = {s.name: s for s in load_scenarios([shipped_scenarios_dir()])[0]}
    bare = TargetControl(False, "the target has no simulator admin API (GET /_sim/journal answered 404)")
    local = TargetRunner("http://127.0.0.1:8080")
    assert local.skip_reason(loaded["api_user_revoke_retires_tokens"], bare) == (
        "needs a TMC_ADMIN API user and the client's company id, but the target has no simulator admin API "
        "(GET /_sim/journal answered 404)")
    assert local.skip_reason(loaded["partner_keys_without_token"], bare) is None  # documented, needs nothing
    remote = TargetRunner("https://api-ext-sboxmeta.partners.spotnana.com")
    reason = remote.skip_reason(loaded["partner_jwt_from_jwks_url"], TargetControl(True))
    assert reason is not None and "a remote target cannot reach" in reason
    assert local.skip_reason(loaded["partner_jwt_from_jwks_url"], TargetControl(True)) is None


def test_placeholders_a_run_cannot_fill_are_an_error() -> None:
    text = HEAD + "steps:\n  - request: {set: {subject_token: '${subject_token_4}'}}\n    expect: {status: 200}\n"
    [result] = run(scenario(text))
    assert result.status == ERROR and "uses ${subject_token_4}, which nothing fills" in result.summary
