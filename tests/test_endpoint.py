"""The framework-free token endpoint, driven directly: IncomingRequest in, Outcome out, no ASGI."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from spotnana_sim.core.protocol import FORM_CONTENT_TYPE
from spotnana_sim.core.settings import ClientConfig, Settings
from spotnana_sim.core.user_detail import UserDetailResponse
from spotnana_sim.harness.endpoint import IncomingRequest
from spotnana_sim.harness.simulator import Simulator, build_simulator

from .helpers import encoded, exchange_form


class FakeUserDetail:
    """Answers every call with one email and counts the calls."""

    def __init__(self, email: str = "ada@example.com") -> None:
        self.email = email
        self.calls: list[str] = []

    async def get(self, url: str, headers: Mapping[str, str], timeout: float, max_bytes: int, *,
                  ca_file: str | None = None) -> UserDetailResponse:
        self.calls.append(url)
        return UserDetailResponse(200, {"content-type": "application/json"},
                                  b'{"user": {"email": "%s"}}' % self.email.encode())


CLIENT = ClientConfig("acme", "acme-secret", user_detail_url="https://partner.example/v1/user-detail")


@pytest.fixture
def http() -> FakeUserDetail:
    return FakeUserDetail()


@pytest.fixture
def sim(http: FakeUserDetail) -> Simulator:
    return build_simulator(Settings(clients=(CLIENT,), profiles=("ada@example.com",)),
                           base_url="http://sim.test", http=http)


def form(**changes: str | None) -> bytes:
    fields: dict[str, str | None] = {"client_id": "acme", "client_secret": "acme-secret", "subject_token": "user-token-1234"}
    return encoded(exchange_form(**{**fields, **changes}))


def request(body: bytes, **more: object) -> IncomingRequest:
    return IncomingRequest(method="POST", content_type=FORM_CONTENT_TYPE, body=body, **more)  # type: ignore[arg-type]


async def test_an_exchange_answers_tokens_and_leaves_one_typed_entry(sim: Simulator, http: FakeUserDetail) -> None:
    outcome = await sim.endpoint.handle(request(form(), base_url="http://localhost:8080"))
    assert outcome.status == 200 and set(outcome.body) >= {"access_token", "refresh_token", "expires_in"}
    (entry,) = sim.journal.entries()
    assert outcome.entry is entry and entry.email == "ada@example.com" and entry.status == 200
    assert [call.status for call in entry.user_detail_calls] == [200] and http.calls == [CLIENT.user_detail_url]
    assert "user-token-1234" not in str(entry.to_json())


async def test_a_wrong_secret_makes_no_callback(sim: Simulator, http: FakeUserDetail) -> None:
    outcome = await sim.endpoint.handle(request(form(client_secret="wrong")))
    assert outcome.status == 403 and http.calls == []


async def test_an_error_points_at_its_own_journal_entry(sim: Simulator) -> None:
    outcome = await sim.endpoint.handle(request(form(scope="email"), base_url="http://localhost:8080"))
    entry = sim.journal.entries()[-1]
    assert outcome.body["debugIdentifier"] == f"http://localhost:8080/_sim/journal/{entry.id}" == entry.debug_identifier


async def test_basic_authentication_alone_is_told_what_spotnana_takes(sim: Simulator) -> None:
    outcome = await sim.endpoint.handle(request(form(client_id=None, client_secret=None), basic_auth=True))
    message = outcome.body["errorMessages"][0]["message"]
    assert outcome.status == 400 and "client_secret_post" in message and "HTTP Basic" in message


async def test_without_an_issuer_setting_the_token_carries_the_address_it_was_asked_at(sim: Simulator) -> None:
    import jwt

    outcome = await sim.endpoint.handle(request(form(), base_url="http://sim-container:8080"))
    assert jwt.decode(outcome.body["access_token"], options={"verify_signature": False})["iss"] == "http://sim-container:8080"


async def test_a_fault_answer_is_rendered_by_the_error_table_in_either_dialect(http: FakeUserDetail) -> None:
    for dialect, key in (("spotnana", "errorMessages"), ("rfc6749", "error")):
        sim = build_simulator(Settings(clients=(CLIENT,), errors=dialect), base_url="http://sim.test", http=http)
        sim.faults.arm({"target": "token-endpoint", "response": {"status": 503}})
        outcome = await sim.endpoint.handle(request(form()))
        assert outcome.status == 503 and key in outcome.body
        assert sim.journal.entries()[-1].error_code == "SERVICE_UNAVAILABLE"


async def test_a_bug_inside_is_a_500_with_one_entry_and_no_trace(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("boom")

    sim.endpoint.verifier.email_for = broken  # type: ignore[method-assign]
    outcome = await sim.endpoint.handle(request(form()))
    assert outcome.status == 500 and "boom" not in str(outcome.body)
    assert len(sim.journal) == 1 and "boom" in caplog.text  # the trace goes to the server log only


async def test_a_model_a_client_is_told_the_jwt_token_type_is_for_model_b(sim: Simulator, http: FakeUserDetail) -> None:
    outcome = await sim.endpoint.handle(request(form(subject_token_type="urn:ietf:params:oauth:token-type:jwt")))
    message = outcome.body["errorMessages"][0]["message"]
    assert outcome.status == 400 and "identity model user-detail" in message and http.calls == []
