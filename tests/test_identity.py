"""The user-detail callback: what is sent, and how every kind of answer is read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from spotnana_sim.core.errors import (
    SimulatorError,
    SubjectTokenRejected,
    UserDetailEmailMissing,
    UserDetailNotJson,
    UserDetailServerError,
    UserDetailTimeout,
    UserDetailTooLarge,
    UserDetailUnexpectedStatus,
    UserDetailUnreachable,
)
from spotnana_sim.core.settings import ClientConfig
from spotnana_sim.core.user_detail import (
    CallbackFailed,
    CallbackRecord,
    CallbackTimedOut,
    UserDetailResponse,
    UserDetailVerifier,
    extract_email,
)
from spotnana_sim.server.inprocess import HttpxUserDetailHttp

from .servers import Gate, ServerThread, free_port

CLIENT = ClientConfig(client_id="acme", client_secret="secret-secret", timeout=2.0)


class FakeHttp:
    """Answers every call with one canned response (or raises), and remembers what was asked."""

    def __init__(self, answer: UserDetailResponse | Exception) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, str], float, int]] = []

    async def get(
        self, url: str, headers: Mapping[str, str], timeout: float, max_bytes: int, *, ca_file: str | None = None,
    ) -> UserDetailResponse:
        self.calls.append((url, dict(headers), timeout, max_bytes))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def ok(document: Any) -> UserDetailResponse:
    return UserDetailResponse(200, {"content-type": "application/json"}, json.dumps(document).encode())


async def email_for(http: FakeHttp, client: ClientConfig = CLIENT) -> tuple[str, CallbackRecord]:
    records: list[CallbackRecord] = []
    email = await UserDetailVerifier(http).email_for(client, "http://partner.test/v1/user-detail", "tok-123456", records)
    return email, records[0]


async def test_sends_bearer_token_and_accept_json_with_the_clients_timeout() -> None:
    http = FakeHttp(ok({"user": {"email": "ada@example.com"}}))
    email, record = await email_for(http)
    assert email == "ada@example.com"
    ((url, headers, timeout, max_bytes),) = http.calls
    assert url == "http://partner.test/v1/user-detail"
    assert headers == {"Authorization": "Bearer tok-123456", "Accept": "application/json"}
    assert (timeout, max_bytes) == (2.0, 64 * 1024)
    assert record.status == 200 and record.error is None


async def test_custom_mapping_reads_a_dotted_path() -> None:
    client = ClientConfig(client_id="acme", client_secret="s", email_field="data.attributes.mail")
    email, _ = await email_for(FakeHttp(ok({"data": {"attributes": {"mail": "m@x.io"}}})), client)
    assert email == "m@x.io"


@pytest.mark.parametrize("answer, error", [
    (UserDetailResponse(401, {}, b""), SubjectTokenRejected),
    (UserDetailResponse(403, {}, b""), SubjectTokenRejected),
    (UserDetailResponse(404, {}, b"not here"), UserDetailUnexpectedStatus),
    (UserDetailResponse(302, {"location": "http://elsewhere/"}, b""), UserDetailUnexpectedStatus),
    (UserDetailResponse(204, {}, b""), UserDetailUnexpectedStatus),
    (UserDetailResponse(500, {}, b"boom"), UserDetailServerError),
    (UserDetailResponse(503, {}, b""), UserDetailServerError),
    (UserDetailResponse(200, {"content-type": "text/html"}, b"<html>oops</html>"), UserDetailNotJson),
    (UserDetailResponse(200, {}, b"\xff\xfe"), UserDetailNotJson),
    (UserDetailResponse(200, {}, b"x" * 10, truncated=True), UserDetailTooLarge),
    (ok({"user": {}}), UserDetailEmailMissing),
    (ok({"email": "top@level.com"}), UserDetailEmailMissing),
    (ok({"user": {"email": 42}}), UserDetailEmailMissing),
    (ok({"user": {"email": ""}}), UserDetailEmailMissing),
    (ok({"user": {"email": "not-an-email"}}), UserDetailEmailMissing),
    (ok(["user"]), UserDetailEmailMissing),
    (ok(None), UserDetailEmailMissing),
    (CallbackFailed("connection refused"), UserDetailUnreachable),
    (CallbackTimedOut("no answer within 2 s"), UserDetailTimeout),
])
async def test_every_failure_has_its_own_error(answer: Any, error: type[SimulatorError]) -> None:
    with pytest.raises(error) as caught:
        await email_for(FakeHttp(answer))
    assert "tok-123456" not in caught.value.message


async def test_failures_are_recorded_for_the_journal() -> None:
    records: list[CallbackRecord] = []
    with pytest.raises(UserDetailServerError):
        await UserDetailVerifier(FakeHttp(UserDetailResponse(502, {}, b""))).email_for(CLIENT, "http://p/u", "t", records)
    assert records[0].status == 502 and "502" in (records[0].error or "")


async def test_redirect_message_names_the_location() -> None:
    with pytest.raises(UserDetailUnexpectedStatus, match="elsewhere"):
        await email_for(FakeHttp(UserDetailResponse(301, {"location": "http://elsewhere/"}, b"")))


async def test_email_missing_message_shows_the_expected_shape() -> None:
    with pytest.raises(UserDetailEmailMissing) as caught:
        await email_for(FakeHttp(ok({"user": {"mail": "x@y.z"}})))
    assert '{"user": {"email": "user@yourcompany.com"}}' in caught.value.message


async def test_an_interceptor_answers_instead_of_the_network() -> None:
    http = FakeHttp(ok({"user": {"email": "real@x.io"}}))

    async def intercept(context: Any) -> UserDetailResponse | None:
        context.record.fault_id = "f1"
        return ok({"user": {"email": "fake@x.io"}})

    records: list[CallbackRecord] = []
    email = await UserDetailVerifier(http, interceptor=intercept).email_for(CLIENT, "http://p/u", "t", records)
    assert email == "fake@x.io" and http.calls == [] and records[0].fault_id == "f1"


def test_extract_email_walks_only_objects() -> None:
    assert extract_email({"a": {"b": "x@y"}}, "a.b") == "x@y"
    assert extract_email({"a": ["x@y"]}, "a.0") is None
    assert extract_email({"a": {"b": {"c": 1}}}, "a.b") is None


# ------------------------------------------------------------ the httpx client over real sockets


def partner_app(seen: list[dict[str, str]], gate: Gate) -> Starlette:
    async def detail(request: Request) -> Response:
        seen.append({"method": request.method, "path": request.url.path, **dict(request.headers)})
        return JSONResponse({"user": {"email": "ada@example.com"}})

    async def slow(request: Request) -> Response:
        await gate.wait()  # answers only once the test is done with it
        return JSONResponse({})

    async def big(request: Request) -> Response:
        return PlainTextResponse("x" * 200_000)

    async def moved(request: Request) -> Response:
        return RedirectResponse("/v1/user-detail", status_code=302)

    async def cookie(request: Request) -> Response:
        response = JSONResponse({"user": {"email": "ada@example.com"}})
        response.set_cookie("session", "user-a-session")
        return response

    return Starlette(routes=[
        Route("/v1/user-detail", detail), Route("/slow", slow), Route("/big", big), Route("/moved", moved), Route("/cookie", cookie),
    ])


@pytest.fixture(scope="module")
def partner() -> Any:
    seen: list[dict[str, str]] = []
    gate = Gate()
    with ServerThread(partner_app(seen, gate)) as server, gate:
        server.seen = seen  # type: ignore[attr-defined]
        yield server


async def fetch(url: str, timeout: float = 2.0, max_bytes: int = 64 * 1024) -> UserDetailResponse:
    async with httpx.AsyncClient() as client:
        return await HttpxUserDetailHttp(client).get(url, {"Authorization": "Bearer t"}, timeout, max_bytes)


@pytest.mark.e2e  # the partner fixture serves on loopback
async def test_real_call_sends_get_with_the_headers(partner: Any) -> None:
    response = await fetch(partner.url + "/v1/user-detail")
    assert response.status == 200 and json.loads(response.body) == {"user": {"email": "ada@example.com"}}
    seen = partner.seen[-1]
    assert seen["method"] == "GET" and seen["authorization"] == "Bearer t"


@pytest.mark.e2e  # the partner fixture serves on loopback
async def test_real_call_does_not_follow_redirects(partner: Any) -> None:
    response = await fetch(partner.url + "/moved")
    assert response.status == 302 and response.headers["location"] == "/v1/user-detail"


@pytest.mark.e2e  # the partner fixture serves on loopback
async def test_real_call_stops_reading_at_the_cap(partner: Any) -> None:
    response = await fetch(partner.url + "/big", max_bytes=1024)
    assert response.truncated and len(response.body) == 1024


@pytest.mark.e2e  # the partner fixture serves on loopback
async def test_real_call_times_out(partner: Any) -> None:
    with pytest.raises(CallbackTimedOut):
        await fetch(partner.url + "/slow", timeout=0.2)


async def test_real_call_to_a_closed_port_is_unreachable() -> None:
    with pytest.raises(CallbackFailed) as caught:
        await fetch(f"http://127.0.0.1:{free_port()}/v1/user-detail")
    assert not isinstance(caught.value, CallbackTimedOut)


async def test_real_call_to_a_bad_url_is_unreachable() -> None:
    with pytest.raises(CallbackFailed):
        await fetch("ftp://127.0.0.1/v1/user-detail")


@pytest.mark.e2e  # the partner fixture serves on loopback
async def test_a_cookie_from_one_answer_is_never_sent_with_the_next_call(partner: Any) -> None:
    async with httpx.AsyncClient() as client:
        http = HttpxUserDetailHttp(client)
        await http.get(partner.url + "/cookie", {"Authorization": "Bearer a"}, 2.0, 1024)
        await http.get(partner.url + "/v1/user-detail", {"Authorization": "Bearer b"}, 2.0, 1024)
    assert "cookie" not in partner.seen[-1]
