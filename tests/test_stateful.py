"""A stateful test: exchanges interleaved with faults armed and spent, resets, key rotation and clock
changes, each answer checked against a small model of what the simulator should be doing.

The simulator runs in-process (its embedded user-detail API answers the demo tokens); every step talks
to it over HTTP through the admin API, as QA would.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, precondition, rule

from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    OPENID_SCOPE,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Settings
from spotnana_sim.core.tokens import KeySet
from spotnana_sim.reference.user_detail import DEMO_USERS
from spotnana_sim.server.inprocess import build_in_process

KEYS = KeySet.generate()  # shared by every run; each run starts with KEYS.reset()
JOURNAL_SIZE = 12  # small, so runs also cross the journal's bound
MAX_ROTATIONS = 2  # a rotation generates an RSA key: the slowest step by far
CLOCK_TOLERANCE = 5.0  # seconds of real time a run may take between the model's guess and the server's clock

TOKEN_FAULT_CODES = {429: "TOO_MANY_REQUESTS", 500: "INTERNAL_SERVER_ERROR", 503: "SERVICE_UNAVAILABLE"}
USER_DETAIL_FAULT_CODES = {"unreachable": (502, "USER_DETAIL_UNREACHABLE"), "not_json": (502, "USER_DETAIL_INVALID_RESPONSE"),
                           "no_email": (502, "USER_DETAIL_EMAIL_MISSING")}


@dataclass
class ModelRule:
    rule_id: str
    target: str
    remaining: int
    outcome: tuple[int, str]


@dataclass
class Model:
    requests: int = 0  # journal entries since the last reset
    rules: list[ModelRule] = field(default_factory=list)
    offset: float = 0.0
    kids: list[str] = field(default_factory=list)  # published, active first

    def fire(self, target: str) -> tuple[int, str] | None:
        for armed in self.rules:
            if armed.target == target and armed.remaining > 0:
                armed.remaining -= 1
                return armed.outcome
        return None


class SimulatorMachine(RuleBasedStateMachine):
    rule_ids = Bundle("rule_ids")

    def __init__(self) -> None:
        super().__init__()
        KEYS.reset()
        self.runner = asyncio.Runner()
        self.sim = build_in_process(Settings(journal_size=JOURNAL_SIZE), keys=KEYS)
        self.http = self.sim.client()
        self.model = Model(kids=[KEYS.active.kid])
        self.rotations = 0
        self.issued: list[str] = []  # access tokens issued so far

    def teardown(self) -> None:
        self.runner.run(self.http.aclose())
        self.runner.run(self.sim.aclose())
        self.runner.close()
        KEYS.reset()

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.runner.run(self.http.request(method, path, **kwargs))

    # ------------------------------------------------------------------------------ requests ----

    @rule(subject=st.sampled_from([*DEMO_USERS, "not-a-partner-user"]), good_secret=st.booleans(),
          grant=st.sampled_from([TOKEN_EXCHANGE_GRANT, CLIENT_CREDENTIALS_GRANT]))
    def exchange(self, subject: str, good_secret: bool, grant: str) -> None:
        form = {"grant_type": grant, "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET if good_secret else "wrong-secret"}
        if grant == TOKEN_EXCHANGE_GRANT:
            form.update(subject_token=subject, subject_token_type=ACCESS_TOKEN_TYPE, scope=OPENID_SCOPE)
        expected = self.expected(subject, good_secret, grant)
        before = time.time() + self.model.offset
        response = self.call("POST", TOKEN_ENDPOINT_PATH, data=form)
        after = time.time() + self.model.offset
        self.model.requests += 1

        status, code = expected
        assert response.status_code == status, (expected, response.text)
        body = response.json()
        if status != 200:
            assert body["errorMessages"][0]["errorCode"] == code
            return
        token = body["access_token"]
        header = jwt.get_unverified_header(token)
        assert header["kid"] == self.model.kids[0], "new tokens are signed by the active key"
        claims = jwt.decode(token, options={"verify_signature": False})
        assert before - 1 - CLOCK_TOLERANCE <= claims["iat"] <= after + CLOCK_TOLERANCE, "iat follows the simulated clock"
        assert claims["exp"] - claims["iat"] == body["expires_in"]
        if grant == TOKEN_EXCHANGE_GRANT:
            assert claims["email"] == DEMO_USERS[subject]
        self.issued.append(token)

    def expected(self, subject: str, good_secret: bool, grant: str) -> tuple[int, str]:
        fault = self.model.fire("token-endpoint")  # fires before validation and client authentication
        if fault is not None:
            return fault
        if not good_secret:
            return 403, "INVALID_CLIENT_CREDENTIALS"
        if grant == CLIENT_CREDENTIALS_GRANT:
            return 200, ""
        fault = self.model.fire("user-detail")
        if fault is not None:
            return fault
        return (200, "") if subject in DEMO_USERS else (401, "USER_NOT_AUTHENTICATED")

    # -------------------------------------------------------------------------------- faults ----

    @rule(target=rule_ids, status=st.sampled_from(sorted(TOKEN_FAULT_CODES)), times=st.integers(1, 3))
    def arm_token_fault(self, status: int, times: int) -> str:
        response = self.call("POST", "/_sim/faults", json={"target": "token-endpoint", "times": times,
                                                          "response": {"status": status}})
        assert response.status_code == 201, response.text
        rule_id = response.json()["id"]
        self.model.rules.append(ModelRule(rule_id, "token-endpoint", times, (status, TOKEN_FAULT_CODES[status])))
        return rule_id

    @rule(target=rule_ids, kind=st.sampled_from(sorted(USER_DETAIL_FAULT_CODES)), times=st.integers(1, 3))
    def arm_user_detail_fault(self, kind: str, times: int) -> str:
        response = self.call("POST", "/_sim/faults", json={"target": "user-detail", "times": times, "user_detail": kind})
        assert response.status_code == 201, response.text
        rule_id = response.json()["id"]
        self.model.rules.append(ModelRule(rule_id, "user-detail", times, USER_DETAIL_FAULT_CODES[kind]))
        return rule_id

    @rule(rule_id=consumes(rule_ids))
    def disarm(self, rule_id: str) -> None:
        known = any(r.rule_id == rule_id for r in self.model.rules)
        response = self.call("DELETE", f"/_sim/faults/{rule_id}")
        assert response.status_code == (200 if known else 404), response.text  # a reset may have dropped it
        self.model.rules = [r for r in self.model.rules if r.rule_id != rule_id]

    @rule()
    def clear_faults(self) -> None:
        assert self.call("DELETE", "/_sim/faults").status_code == 200
        self.model.rules = []

    # --------------------------------------------------------------------- keys, clock, reset ----

    @precondition(lambda self: self.rotations < MAX_ROTATIONS)
    @rule()
    def rotate_keys(self) -> None:
        response = self.call("POST", "/_sim/keys/rotate")
        assert response.status_code == 200
        self.rotations += 1
        kid = response.json()["kid"]
        assert kid not in self.model.kids
        self.model.kids = [kid, *self.model.kids][:3]  # the active key and at most two previous ones

    @rule(seconds=st.one_of(st.integers(-86_400, 86_400), st.floats(-1e6, 1e6, allow_nan=False)))
    def advance_clock(self, seconds: float) -> None:
        response = self.call("POST", "/_sim/clock", json={"advance": seconds})
        assert response.status_code == 200, response.text
        self.model.offset += seconds

    @rule(timestamp=st.integers(1_000_000_000, 4_000_000_000))
    def set_clock(self, timestamp: int) -> None:
        response = self.call("POST", "/_sim/clock", json={"set": timestamp})
        assert response.status_code == 200, response.text
        self.model.offset = timestamp - time.time()

    @rule(value=st.sampled_from([1e300, -1e300, 1e13, -1e13]), how=st.sampled_from(["set", "advance"]))
    def clock_out_of_range_is_refused(self, value: float, how: str) -> None:
        response = self.call("POST", "/_sim/clock", json={how: value})
        assert response.status_code == 400, response.text
        assert "clock" in response.json()["errorMessages"][0]["message"]

    @rule()
    def reset(self) -> None:
        assert self.call("POST", "/_sim/reset").status_code == 200
        self.model = Model(kids=[KEYS.active.kid])  # reset brings the initial key back as active
        self.issued = [t for t in self.issued if jwt.get_unverified_header(t)["kid"] in self.model.kids]

    # ---------------------------------------------------------------------------- invariants ----

    @invariant()
    def journal_holds_one_entry_per_request_up_to_its_bound(self) -> None:
        summary = self.call("GET", "/_sim/journal").json()
        assert summary["count"] == min(self.model.requests, JOURNAL_SIZE)
        assert summary["dropped"] == max(self.model.requests - JOURNAL_SIZE, 0)
        ids = [e["id"] for e in summary["entries"]]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)

    @invariant()
    def armed_rules_match_the_model(self) -> None:
        listed = {r["id"]: r["remaining"] for r in self.call("GET", "/_sim/faults").json()["faults"]}
        assert listed == {r.rule_id: r.remaining for r in self.model.rules}

    @invariant()
    def jwks_publishes_exactly_the_model_keys(self) -> None:
        jwks = self.call("GET", "/.well-known/jwks.json").json()
        assert [k["kid"] for k in jwks["keys"]] == self.model.kids

    @invariant()
    def clock_offset_matches_the_model(self) -> None:
        offset = self.call("GET", "/_sim/clock").json()["offset"]
        assert abs(offset - self.model.offset) < CLOCK_TOLERANCE

    @invariant()
    def tokens_verify_while_their_key_is_published(self) -> None:
        if not self.issued:
            return
        keys = {k.key_id: k.key for k in jwt.PyJWKSet.from_dict(self.call("GET", "/.well-known/jwks.json").json()).keys}
        for token in self.issued[-3:]:
            kid = jwt.get_unverified_header(token)["kid"]
            if kid in keys:  # checks the signature; times are the model's business, not PyJWT's
                jwt.decode(token, keys[kid], algorithms=["RS256"],
                           options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
            else:
                assert kid not in self.model.kids


SimulatorMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
test_simulator_state = SimulatorMachine.TestCase
