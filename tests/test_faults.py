"""Fault rules: validation (errors name the path), when rules fire, and what they answer."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import pytest

from spotnana_sim.core.fault_rules import MAX_DELAY_SECONDS, check_rules, parse_rule, validate_rule
from spotnana_sim.core.protocol import CLIENT_CREDENTIALS_GRANT, TOKEN_EXCHANGE_GRANT
from spotnana_sim.core.settings import ConfigError
from spotnana_sim.core.user_detail import MAX_BODY_BYTES, CallbackContext, CallbackFailed, CallbackTimedOut
from spotnana_sim.harness.faults import FaultBook, FaultRuleError, TokenRequestContext

from .helpers import FakeSleep

CONTRACT_RULES = [
    {"target": "token-endpoint", "times": 1, "response": {"status": 503, "errorCode": "SERVICE_UNAVAILABLE"}},
    {"target": "token-endpoint", "times": 2,
     "response": {"status": 429, "errorCode": "TOO_MANY_REQUESTS", "headers": {"Retry-After": "2"}}},
    {"target": "user-detail", "match": {"subject_token": "abc"}, "response": {"status": 401}},
    {"target": "token-endpoint", "probability": 0.2, "seed": 7, "delay": {"uniform": [0.1, 0.5]}},
    {"target": "token-endpoint", "times": 1, "connection": "reset"},
]


def request(client_id: str | None = "c1", subject_token: str | None = "tok", grant_type: str | None = TOKEN_EXCHANGE_GRANT) -> TokenRequestContext:
    return TokenRequestContext(client_id=client_id, subject_token=subject_token, grant_type=grant_type)


def fired_ids(book: FaultBook, count: int, **context: Any) -> list[str | None]:
    out = []
    for _ in range(count):
        fault = book.for_token_request(request(**context))
        out.append(fault.rule_id if fault else None)
    return out


def callback(subject_token: str = "tok", timeout: float = 5.0, client_id: str = "c1") -> CallbackContext:
    return CallbackContext(client_id=client_id, subject_token=subject_token, url="http://partner/v1/user-detail", timeout=timeout)


# ------------------------------------------------------------------------------- validation -------


@pytest.mark.parametrize("rule", CONTRACT_RULES)
def test_every_contract_example_arms(rule: dict[str, Any]) -> None:
    armed = FaultBook().arm(rule)
    assert armed["id"] == "f1"
    assert armed["target"] == rule["target"]
    assert armed["fired"] == 0


def test_normalized_rule_spells_out_defaults() -> None:
    armed = FaultBook().arm({"target": "token-endpoint", "response": {"status": 500}, "delay": 0.25})
    assert armed == {
        "id": "f1", "target": "token-endpoint", "match": {}, "times": "always", "after": 0, "probability": 1.0,
        "delay": {"fixed": 0.25}, "response": {"status": 500, "headers": {}},
        "remaining": None, "fired": 0, "matched": 0,
    }


@pytest.mark.parametrize(
    ("rule", "path", "words"),
    [
        ({"response": {"status": 500}}, "target", "is required"),
        ({"target": "token", "response": {"status": 500}}, "target", "token-endpoint, user-detail"),
        ({"target": "token-endpoint", "tims": 1, "response": {"status": 500}}, "tims", "did you mean 'times'"),
        ({"target": "token-endpoint", "times": 0, "response": {"status": 500}}, "times", '"always"'),
        ({"target": "token-endpoint", "times": "sometimes", "response": {"status": 500}}, "times", ">= 1"),
        ({"target": "token-endpoint", "times": True, "response": {"status": 500}}, "times", ">= 1"),
        ({"target": "token-endpoint", "after": -1, "response": {"status": 500}}, "after", ">= 0"),
        ({"target": "token-endpoint", "probability": 1.5, "response": {"status": 500}}, "probability", "between 0 and 1"),
        ({"target": "token-endpoint", "seed": "x", "response": {"status": 500}}, "seed", "whole number"),
        ({"target": "token-endpoint", "match": {"client": "x"}, "response": {"status": 500}}, "match.client",
         "client_id, subject_token, grant_type"),
        ({"target": "token-endpoint", "match": {"client_id": 3}, "response": {"status": 500}}, "match.client_id", "string"),
        ({"target": "user-detail", "match": {"grant_type": "x"}, "response": {"status": 500}}, "match.grant_type",
         "accepted: client_id, subject_token"),
        ({"target": "token-endpoint", "response": {"errorCode": "X"}}, "response", "needs a status"),
        ({"target": "token-endpoint", "response": {"status": 99}}, "response.status", "200 to 599"),
        ({"target": "token-endpoint", "response": {"status": 204, "body": "x"}}, "response.body", "no body"),
        ({"target": "token-endpoint", "response": {"status": 503, "headers": {"Retry-After": "1\r\nX: y"}}},
         "response.headers.Retry-After", "line breaks"),
        ({"target": "token-endpoint", "response": {"status": 503, "headers": {"Content-Length": "1"}}},
         "response.headers.Content-Length", "set by the server"),
        ({"target": "token-endpoint", "response": {"status": 503, "headers": {"bad name": "1"}}},
         "response.headers.bad name", "header name"),
        ({"target": "token-endpoint", "response": {"status": 503, "headers": ["x"]}}, "response.headers", "object"),
        ({"target": "user-detail", "response": {"status": 500, "errorCode": "X"}}, "response.errorCode", "token-endpoint"),
        ({"target": "token-endpoint", "delay": -1}, "delay", "number of seconds"),
        ({"target": "token-endpoint", "delay": MAX_DELAY_SECONDS + 1}, "delay", "between 0 and 300"),
        ({"target": "token-endpoint", "delay": {"uniform": [2, 1]}}, "delay.uniform", "low must not exceed high"),
        ({"target": "token-endpoint", "delay": {"uniform": [0, "x"]}}, "delay.uniform[1]", "number of seconds"),
        ({"target": "token-endpoint", "delay": {"lognormal": {"mu": 0}}}, "delay.lognormal", "sigma"),
        ({"target": "token-endpoint", "delay": {"fixed": 1, "uniform": [0, 1]}}, "delay", "exactly one"),
        ({"target": "token-endpoint", "delay": {"gauss": 1}}, "delay.gauss", "fixed, uniform, lognormal"),
        ({"target": "token-endpoint", "connection": "explode"}, "connection", "reset, empty, truncated"),
        ({"target": "token-endpoint", "expires_in": -5}, "expires_in", ">= 0"),
        ({"target": "token-endpoint", "expired": "yes"}, "expired", "true or false"),
        ({"target": "token-endpoint", "connection": "reset", "response": {"status": 500}}, "", "exclude each other"),
        ({"target": "token-endpoint", "expired": True, "response": {"status": 500}}, "", "exclude each other"),
        ({"target": "token-endpoint", "times": 1}, "", "nothing to do"),
        ({"target": "token-endpoint", "user_detail": "timeout"}, "user_detail", "target 'user-detail' only"),
        ({"target": "user-detail", "connection": "reset"}, "connection", "target 'token-endpoint' only"),
        ({"target": "user-detail", "user_detail": "slow"}, "user_detail", "timeout, unreachable"),
        ({"target": "user-detail", "user_detail": {"email": 3}}, "user_detail.email", "string"),
        ({"target": "user-detail", "user_detail": {"html_error": 700}}, "user_detail.html_error", "200 to 599"),
        ({"target": "user-detail", "user_detail": "timeout", "response": {"status": 500}}, "user_detail", "one answer"),
        ({"target": "token-endpoint", "id": "no spaces", "delay": 1}, "id", "letters, digits"),
        ("not a rule", "", "must be an object"),
    ],
)
def test_invalid_rule_names_the_path_and_what_is_accepted(rule: Any, path: str, words: str) -> None:
    with pytest.raises(FaultRuleError) as caught:
        FaultBook().arm(rule)
    assert caught.value.path == path
    assert words in str(caught.value)


def test_unknown_key_lists_every_accepted_key() -> None:
    with pytest.raises(FaultRuleError) as caught:
        parse_rule({"target": "user-detail", "answer": "timeout"})
    message = str(caught.value)
    assert message.startswith("answer: unknown key")
    for key in ("times", "after", "probability", "seed", "delay", "response", "user_detail", "match"):
        assert key in message


def test_configured_rules_are_checked_with_their_index() -> None:
    good = {"target": "token-endpoint", "delay": 1}
    with pytest.raises(FaultRuleError) as caught:
        FaultBook([good, {"target": "token-endpoint", "times": 0, "delay": 1}])
    assert str(caught.value).startswith("faults[1].times: ")
    assert isinstance(caught.value, ConfigError)  # so the CLI stops start-up with one clear line


def test_configured_ids_must_be_unique() -> None:
    rule = {"target": "token-endpoint", "id": "slow", "delay": 1}
    with pytest.raises(FaultRuleError, match=r"faults\[1\]\.id: 'slow' is already the id of faults\[0\]"):
        FaultBook([rule, rule])


def test_check_and_validate_take_a_path_prefix_for_scenario_files() -> None:
    with pytest.raises(FaultRuleError, match=r"^steps\[0\]\.faults\[0\]\.delay: "):
        check_rules([{"target": "token-endpoint", "delay": "slow"}], "steps[0].faults")
    assert validate_rule({"target": "token-endpoint", "id": "x", "connection": "empty"})["id"] == "x"
    with pytest.raises(FaultRuleError, match=r"^faults: must be a list"):
        check_rules({"target": "token-endpoint"})


def test_fault_rule_error_survives_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(FaultRuleError("faults[0].times", "bad")))
    assert (error.path, error.problem, str(error)) == ("faults[0].times", "bad", "faults[0].times: bad")


def test_listing_never_shows_a_whole_subject_token() -> None:
    book = FaultBook()
    armed = book.arm({"target": "user-detail", "match": {"subject_token": "partner-token-secret-123456"}, "response": {"status": 401}})
    text = json.dumps([armed, book.rules()])
    assert "partner-token-secret-123456" not in text
    assert armed["match"]["subject_token"].endswith("3456")
    assert book.for_token_request(request()) is None  # the rule still matches on the real value:
    assert book.rules()[0]["matched"] == 0


def test_a_listed_rule_can_be_posted_back() -> None:
    book = FaultBook()
    listed = book.arm({"target": "token-endpoint", "times": 2, "response": {"status": 500}})
    again = book.arm({**listed, "id": "copy"})
    assert {k: v for k, v in again.items() if k != "id"} == {k: v for k, v in listed.items() if k != "id"}


# ------------------------------------------------------------------------------- firing -------


def test_times_counts_down_then_the_rule_stays_listed_exhausted() -> None:
    book = FaultBook()
    book.arm({"target": "token-endpoint", "times": 2, "response": {"status": 503}})
    assert fired_ids(book, 3) == ["f1", "f1", None]
    assert (book.rules()[0]["remaining"], book.rules()[0]["fired"]) == (0, 2)


def test_default_is_always() -> None:
    book = FaultBook()
    book.arm({"target": "token-endpoint", "response": {"status": 503}})
    assert fired_ids(book, 5) == ["f1"] * 5
    assert book.rules()[0]["remaining"] is None


def test_after_lets_matching_requests_through_first() -> None:
    book = FaultBook()
    book.arm({"target": "token-endpoint", "after": 2, "times": 1, "match": {"client_id": "c1"}, "response": {"status": 500}})
    assert fired_ids(book, 2, client_id="other") == [None, None]  # not matching: not counted
    assert fired_ids(book, 4) == [None, None, "f1", None]
    assert book.rules()[0]["matched"] == 3


def test_probability_with_a_seed_repeats_exactly() -> None:
    rule = {"target": "token-endpoint", "probability": 0.3, "seed": 42, "response": {"status": 503}}
    first, second = FaultBook(), FaultBook()
    first.arm(rule)
    second.arm(rule)
    run = fired_ids(first, 200)
    assert run == fired_ids(second, 200)
    rng = random.Random(42)
    assert run == ["f1" if rng.random() < 0.3 else None for _ in range(200)]
    assert 30 < run.count("f1") < 90  # deterministic for this seed; guards against "always"/"never"
    other = FaultBook()
    other.arm({**rule, "seed": 43})
    assert fired_ids(other, 200) != run


def test_an_unseeded_random_rule_shows_the_seed_it_drew_so_the_run_repeats() -> None:
    book = FaultBook(seed_source=lambda: 1234)
    armed = book.arm({"target": "token-endpoint", "probability": 0.5, "response": {"status": 503}})
    assert armed["seed"] == 1234
    replay = FaultBook()
    replay.arm({"target": "token-endpoint", "probability": 0.5, "seed": armed["seed"], "response": {"status": 503}})
    assert fired_ids(book, 50) == fired_ids(replay, 50)


def test_a_rule_without_randomness_has_no_seed_to_show() -> None:
    assert "seed" not in FaultBook().arm({"target": "token-endpoint", "delay": 1})


@pytest.mark.parametrize(
    ("match", "context", "fires"),
    [
        ({"client_id": "c1"}, {"client_id": "c1"}, True),
        ({"client_id": "c1"}, {"client_id": "c2"}, False),
        ({"client_id": "c1"}, {"client_id": None}, False),
        ({"grant_type": CLIENT_CREDENTIALS_GRANT}, {"grant_type": CLIENT_CREDENTIALS_GRANT}, True),
        ({"grant_type": CLIENT_CREDENTIALS_GRANT}, {}, False),
        ({"subject_token": "tok"}, {}, True),
        ({"subject_token": "tok", "client_id": "c2"}, {}, False),
    ],
)
def test_match_is_exact_on_every_field_given(match: dict[str, str], context: dict[str, Any], fires: bool) -> None:
    book = FaultBook()
    book.arm({"target": "token-endpoint", "match": match, "response": {"status": 500}})
    assert (book.for_token_request(request(**context)) is not None) is fires


def test_rules_fire_in_the_order_armed_and_an_exhausted_rule_lets_the_next_fire() -> None:
    book = FaultBook()
    book.arm(CONTRACT_RULES[0])
    book.arm(CONTRACT_RULES[1])
    faults = [book.for_token_request(request()) for _ in range(4)]
    assert [f.answer.status if f and f.answer else None for f in faults] == [503, 429, 429, None]
    assert faults[1] is not None and faults[1].answer is not None
    assert faults[1].answer.headers == {"Retry-After": "2"}
    assert faults[0] is not None and faults[0].answer is not None and faults[0].answer.error_code == "SERVICE_UNAVAILABLE"


def test_user_detail_rules_do_not_fire_at_the_token_endpoint() -> None:
    book = FaultBook()
    book.arm({"target": "user-detail", "user_detail": "timeout"})
    assert book.for_token_request(request()) is None
    assert book.rules()[0]["matched"] == 0


def test_token_fault_carries_quirks_connection_and_sampled_delay() -> None:
    book = FaultBook()
    book.arm({"target": "token-endpoint", "times": 1, "expires_in": 5, "delay": {"fixed": 0.5}})
    book.arm({"target": "token-endpoint", "times": 1, "expired": True})
    book.arm({"target": "token-endpoint", "times": 1, "connection": "truncated"})
    first, second, third = (book.for_token_request(request()) for _ in range(3))
    assert first is not None and (first.expires_in, first.delay, first.answer) == (5, 0.5, None)
    assert second is not None and second.expired
    assert third is not None and third.connection == "truncated"


def test_uniform_delays_stay_in_range_and_repeat_with_the_seed() -> None:
    rule = {"target": "token-endpoint", "seed": 3, "delay": {"uniform": [0.1, 0.5]}}
    runs = []
    for _ in range(2):
        book = FaultBook()
        book.arm(rule)
        runs.append([f.delay for f in (book.for_token_request(request()) for _ in range(50)) if f])
    assert runs[0] == runs[1]
    assert all(0.1 <= d <= 0.5 for d in runs[0]) and len(set(runs[0])) > 10


def test_lognormal_delays_are_capped() -> None:
    book = FaultBook()
    book.arm({"target": "token-endpoint", "seed": 1, "delay": {"lognormal": {"mu": 8, "sigma": 2}}})
    delays = [f.delay for f in (book.for_token_request(request()) for _ in range(50)) if f]
    assert max(delays) == MAX_DELAY_SECONDS and min(delays) > 0


def test_remove_clear_and_reset() -> None:
    configured = {"target": "token-endpoint", "times": 1, "response": {"status": 503}}
    book = FaultBook([configured])
    assert [r["id"] for r in book.rules()] == ["f1"]
    assert book.arm({"target": "token-endpoint", "delay": 1})["id"] == "f2"
    assert fired_ids(book, 1) == ["f1"]
    assert book.remove("f2") is True
    assert book.remove("f2") is False
    book.clear()
    assert book.rules() == []
    book.reset()
    assert [(r["id"], r["remaining"], r["fired"]) for r in book.rules()] == [("f1", 1, 0)]
    assert book.arm({"target": "token-endpoint", "delay": 1})["id"] == "f2"


def test_arming_an_existing_id_replaces_it_in_place_with_fresh_counters() -> None:
    book = FaultBook()
    book.arm({"target": "token-endpoint", "id": "outage", "times": 1, "response": {"status": 503}})
    book.arm({"target": "token-endpoint", "delay": 1})
    fired_ids(book, 1)
    book.arm({"target": "token-endpoint", "id": "outage", "times": 3, "response": {"status": 500}})
    assert [(r["id"], r.get("remaining"), r["fired"]) for r in book.rules()] == [("outage", 3, 0), ("f1", None, 0)]


def test_generated_ids_skip_ids_given_explicitly() -> None:
    book = FaultBook([{"target": "token-endpoint", "id": "f1", "delay": 1}, {"target": "token-endpoint", "delay": 1}])
    assert [r["id"] for r in book.rules()] == ["f1", "f2"]
    assert book.arm({"target": "token-endpoint", "delay": 1})["id"] == "f3"


def test_counters_are_exact_under_concurrent_requests() -> None:
    book = FaultBook()
    book.arm({"target": "token-endpoint", "times": 1000, "response": {"status": 503}})
    fired = []

    def hammer() -> None:
        fired.append(sum(1 for _ in range(300) if book.for_token_request(request())))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(fired) == 1000
    assert book.rules()[0]["remaining"] == 0


# ------------------------------------------------------------------------------- user-detail -------


async def intercept(rule: dict[str, Any], context: CallbackContext | None = None) -> tuple[Any, CallbackContext, FakeSleep]:
    sleep = FakeSleep()
    book = FaultBook(sleep=sleep)
    book.arm(rule)
    context = context or callback()
    return await book.intercept_user_detail(context), context, sleep


async def test_timeout_waits_the_client_timeout_only_then_times_out() -> None:
    sleep = FakeSleep()
    book = FaultBook(sleep=sleep)
    book.arm({"target": "user-detail", "user_detail": "timeout"})
    context = callback(timeout=2.5)
    with pytest.raises(CallbackTimedOut):
        await book.intercept_user_detail(context)
    assert sleep.calls == [2.5]
    assert context.record.fault_id == "f1"


async def test_a_delay_past_the_timeout_times_out_after_the_timeout() -> None:
    sleep = FakeSleep()
    book = FaultBook(sleep=sleep)
    book.arm({"target": "user-detail", "delay": 30, "response": {"status": 200, "body": {"user": {"email": "a@b.c"}}}})
    with pytest.raises(CallbackTimedOut, match="1 s"):
        await book.intercept_user_detail(callback(timeout=1))
    assert sleep.calls == [1]


async def test_a_short_delay_alone_slows_the_real_call() -> None:
    answer, context, sleep = await intercept({"target": "user-detail", "delay": 0.4})
    assert answer is None and sleep.calls == [0.4] and context.record.fault_id == "f1"


async def test_unreachable_raises_callback_failed() -> None:
    with pytest.raises(CallbackFailed) as caught:
        await intercept({"target": "user-detail", "user_detail": "unreachable"})
    assert not isinstance(caught.value, CallbackTimedOut)


async def test_no_rule_means_the_real_call() -> None:
    book = FaultBook()
    book.arm({"target": "user-detail", "match": {"subject_token": "other"}, "user_detail": "timeout"})
    context = callback()
    assert await book.intercept_user_detail(context) is None
    assert context.record.fault_id is None


async def test_response_with_json_string_and_no_body() -> None:
    answer, _, _ = await intercept({"target": "user-detail", "response": {"status": 200, "body": {"user": {"email": "x@y.z"}}}})
    assert (answer.status, json.loads(answer.body), answer.headers["content-type"]) == (200, {"user": {"email": "x@y.z"}}, "application/json")
    answer, _, _ = await intercept({"target": "user-detail", "response": {"status": 503, "body": "down", "headers": {"Retry-After": 9}}})
    assert (answer.status, answer.body, answer.headers["retry-after"]) == (503, b"down", "9")
    answer, _, _ = await intercept({"target": "user-detail", "response": {"status": 404}})
    assert (answer.status, answer.body) == (404, b"")


async def test_a_huge_response_body_is_cut_and_flagged_like_the_reader_does() -> None:
    answer, _, _ = await intercept({"target": "user-detail", "response": {"status": 200, "body": "x" * (MAX_BODY_BYTES + 5)}})
    assert answer.truncated and len(answer.body) == MAX_BODY_BYTES


@pytest.mark.parametrize(
    ("shorthand", "status", "check"),
    [
        ("no_email", 200, lambda body: "email" not in json.dumps(json.loads(body))),
        ("not_json", 200, lambda body: not body.startswith(b"{")),
        ("html_error", 500, lambda body: body.startswith(b"<!DOCTYPE html>")),
        ({"html_error": 200}, 200, lambda body: b"<html>" in body),
        ({"redirect": "http://elsewhere.example/login"}, 302, lambda body: body == b""),
        ({"email": "other@example.com"}, 200, lambda body: json.loads(body) == {"user": {"email": "other@example.com"}}),
    ],
)
async def test_shorthands(shorthand: Any, status: int, check: Any) -> None:
    answer, context, _ = await intercept({"target": "user-detail", "user_detail": shorthand})
    assert answer.status == status and check(answer.body)
    assert context.record.fault_id == "f1"


async def test_redirect_carries_its_location() -> None:
    answer, _, _ = await intercept({"target": "user-detail", "user_detail": {"redirect": "http://elsewhere.example/x"}})
    assert answer.headers["location"] == "http://elsewhere.example/x"


async def test_oversized_is_flagged_truncated_at_the_cap() -> None:
    answer, _, _ = await intercept({"target": "user-detail", "user_detail": "oversized"})
    assert answer.truncated and len(answer.body) == MAX_BODY_BYTES


async def test_another_email_lands_at_the_clients_mapped_field() -> None:
    context = callback()
    context.email_field = "data.attributes.mail"  # type: ignore[attr-defined]  # set by the verifier once it carries it
    answer, _, _ = await intercept({"target": "user-detail", "user_detail": {"email": "x@y.z"}}, context)
    assert json.loads(answer.body) == {"data": {"attributes": {"mail": "x@y.z"}}}


async def test_user_detail_match_on_client_and_token() -> None:
    book = FaultBook(sleep=FakeSleep())
    book.arm({"target": "user-detail", "match": {"client_id": "c2", "subject_token": "abc"}, "response": {"status": 401}})
    assert await book.intercept_user_detail(callback(subject_token="abc", client_id="c1")) is None
    answer = await book.intercept_user_detail(callback(subject_token="abc", client_id="c2"))
    assert answer is not None and answer.status == 401


# ------------------------------------------------------------------------------- in-process -------


@pytest.mark.parametrize(("kind", "error"), [("reset", "ReadError"), ("empty", "RemoteProtocolError"),
                                             ("truncated", "RemoteProtocolError"), ("random_bytes", "RemoteProtocolError")])
async def test_in_process_connection_faults_raise_what_a_tcp_client_would(kind: str, error: str) -> None:
    import httpx

    from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH
    from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Settings
    from spotnana_sim.server.inprocess import build_in_process

    sim = build_in_process(Settings())
    sim.simulator.faults.arm({"target": "token-endpoint", "times": 1, "connection": kind})
    form = {"grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}
    try:
        async with sim.client() as client:
            with pytest.raises(getattr(httpx, error)):
                await client.post(TOKEN_ENDPOINT_PATH, data=form)
            assert (await client.post(TOKEN_ENDPOINT_PATH, data=form)).status_code == 200
    finally:
        await sim.aclose()
