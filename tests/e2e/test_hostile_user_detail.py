"""Hostile user-detail answers over real sockets: each answer is scripted byte by byte.

A partner's user-detail API is not trusted to speak good HTTP. Whatever it sends, the simulator must
(1) never issue tokens for a user the answer did not properly name, (2) keep one bad answer from
spoiling the next user's exchange (no poisoned keep-alive connection), and (3) keep one partner's
misbehaviour from holding up other clients. No timing assertions: only what was answered.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from spotnana_sim.core.protocol import (
    TOKEN_ENDPOINT_PATH,
)
from spotnana_sim.core.settings import ClientConfig, Settings

from ..helpers import exchange_form
from ..hostile_servers import (
    HANG_GUARD,
    RawConnection,
    Responder,
    ScriptedServer,
    SeenRequest,
    email_body,
    http_answer,
)
from ..servers import ServerThread, running_simulator, wait_until

pytestmark = pytest.mark.e2e

PARTNER_ID, PARTNER_SECRET = "partner", "partner-secret-0123456789"
HONEST_ID, HONEST_SECRET = "honest", "honest-secret-0123456789"
MALFORMED = "USER_DETAIL_MALFORMED_RESPONSE"
UNREACHABLE = "USER_DETAIL_UNREACHABLE"
EMPTY_200 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def honest_answer_for(request: SeenRequest) -> bytes:
    return http_answer(200, email_body(f"{request.bearer}@example.com"))


async def answer_honestly(request: SeenRequest, connection: RawConnection) -> bool:
    return await connection.send(honest_answer_for(request))


# Every email a test's answers name has a profile, so a wrongly accepted identity would get tokens.
PROFILES = ("ada@example.com", "mallory@example.com", "flood-victim@example.com", "josé@example.com",
            "grace@example.com", "first@example.com", "second@example.com")


def settings_for(partner: ScriptedServer) -> Settings:
    """The partner client calls the scripted server; the honest one the embedded reference API."""
    return Settings(profiles=PROFILES, clients=(
        ClientConfig(PARTNER_ID, PARTNER_SECRET, user_detail_url=partner.url + "/v1/user-detail", timeout=HANG_GUARD),
        ClientConfig(HONEST_ID, HONEST_SECRET, user_detail_url=None),
    ))


def exchange(sim: ServerThread, subject_token: str) -> httpx.Response:
    return httpx.post(sim.url + TOKEN_ENDPOINT_PATH, timeout=HANG_GUARD * 2,
                      data=exchange_form(PARTNER_ID, PARTNER_SECRET, subject_token))


def last_entry(sim: ServerThread, client_id: str = PARTNER_ID) -> dict[str, Any]:
    response = httpx.get(sim.url + "/_sim/journal", params={"client_id": client_id})
    assert response.status_code == 200, response.text[:300]
    entries = response.json()["entries"]
    assert entries, f"no journal entry for {client_id}"
    return dict(entries[-1])


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errorMessages"][0]["errorCode"])


def email_claim(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text[:300]
    return str(jwt.decode(response.json()["access_token"], options={"verify_signature": False})["email"])


@pytest.fixture
def scripted(request: pytest.FixtureRequest) -> Iterator[tuple[ServerThread, ScriptedServer]]:
    """A simulator whose partner client calls a ScriptedServer running the test's ``responder`` marker."""
    responder: Responder = request.param
    with ScriptedServer(responder) as partner, running_simulator(settings_for(partner)) as (sim, _):
        yield sim, partner


# ------------------------------------------------------------------------------ 1. header flood ----

FLOOD_LINES = 60_000
FLOOD_LINE = b"X-Flood: ffffffffff\r\n"  # 21 bytes: 60,000 of them are about 1.2 MB of headers


async def test_a_header_flood_is_malformed_and_other_clients_carry_on() -> None:
    flood_sent = threading.Event()
    honest_done = threading.Event()

    async def flood(request: SeenRequest, connection: RawConnection) -> bool:
        if request.bearer != "flood-victim":
            return await answer_honestly(request, connection)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + FLOOD_LINE * FLOOD_LINES
        sent = await connection.send(head)
        flood_sent.set()
        if not sent:
            return False  # the simulator already hung up on the flood: as it should
        await wait_until(honest_done.is_set, "the honest exchanges finished")  # the flood stays in flight
        body = email_body("flood-victim@example.com")
        await connection.send(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        return False

    with ScriptedServer(flood) as partner, running_simulator(settings_for(partner)) as (sim, _):
        async with httpx.AsyncClient(base_url=sim.url, timeout=HANG_GUARD * 2,
                                     limits=httpx.Limits(max_connections=50)) as http:
            flooded = asyncio.create_task(
                http.post(TOKEN_ENDPOINT_PATH, data=exchange_form(PARTNER_ID, PARTNER_SECRET, "flood-victim")))
            try:
                await wait_until(flood_sent.is_set, "the partner sent its header flood")
                honest = await asyncio.gather(*(
                    http.post(TOKEN_ENDPOINT_PATH, data=exchange_form(HONEST_ID, HONEST_SECRET, "demo-token-ada"))
                    for _ in range(20)))
            finally:
                honest_done.set()
            answer = await flooded
    assert [r.status_code for r in honest] == [200] * 20
    assert {email_claim(r) for r in honest} == {"ada@example.com"}
    assert answer.status_code == 502, answer.text
    assert error_code(answer) == MALFORMED


# --------------------------------------------------------------- 2. two answers in one write ----


async def unauthorized_then_ok(request: SeenRequest, connection: RawConnection) -> bool:
    unauthorized = http_answer(401, b"", reason="Unauthorized", headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')])
    return await connection.send(unauthorized + EMPTY_200)  # one write: both answers arrive together


@pytest.mark.parametrize("scripted", [unauthorized_then_ok], indirect=True)
def test_an_answer_smuggled_after_a_401_does_not_replace_it(scripted: tuple[ServerThread, ScriptedServer]) -> None:
    sim, _ = scripted
    response = exchange(sim, "tok-rejected")
    assert response.status_code == 401, response.text[:300]
    assert error_code(response) == "USER_NOT_AUTHENTICATED"
    calls = last_entry(sim)["user_detail_calls"]
    assert calls and calls[0]["status"] == 401


# ------------------------------------------------------------------- 3. interim answer's body ----

MALLORY = "mallory@example.com"


async def interim_naming_mallory(request: SeenRequest, connection: RawConnection) -> bool:
    named = email_body(MALLORY)
    interim = (f"HTTP/1.1 199 Interim\r\nContent-Type: application/json\r\nContent-Length: {len(named)}\r\n\r\n"
               .encode() + named)
    return await connection.send(interim + EMPTY_200)


@pytest.mark.parametrize("scripted", [interim_naming_mallory], indirect=True)
def test_a_user_named_in_an_interim_answer_gets_no_tokens(scripted: tuple[ServerThread, ScriptedServer]) -> None:
    sim, _ = scripted
    response = exchange(sim, "tok-anyone")
    assert response.status_code != 200, response.text[:300]
    assert "access_token" not in response.text
    assert last_entry(sim).get("email") != MALLORY


# ---------------------------------------------------- 4. Content-Length counted in characters ----


async def length_in_characters_for_jose(request: SeenRequest, connection: RawConnection) -> bool:
    if request.bearer == "tok-jose":
        body = email_body("josé@example.com")
        assert len(body.decode("utf-8")) < len(body)
        return await connection.send(http_answer(200, body, content_length=len(body.decode("utf-8"))))
    return await answer_honestly(request, connection)


@pytest.mark.parametrize("scripted", [length_in_characters_for_jose], indirect=True)
def test_a_miscounted_content_length_spoils_no_other_exchange(scripted: tuple[ServerThread, ScriptedServer]) -> None:
    sim, _ = scripted
    exchange(sim, "tok-jose")  # only this exchange may fail: its answer is cut one byte short
    follow_up = exchange(sim, "grace")
    assert follow_up.status_code == 200, follow_up.text[:300]
    assert email_claim(follow_up) == "grace@example.com"


# --------------------------------------------------------------- 5. bytes after the answer ----


async def trailing_bytes_on_first(request: SeenRequest, connection: RawConnection) -> bool:
    answer = honest_answer_for(request)
    if request.bearer == "first":
        answer += b"EXTRA BYTES NOBODY ASKED FOR\r\n"
    return await connection.send(answer)  # keep-alive: the connection stays open for reuse


@pytest.mark.parametrize("scripted", [trailing_bytes_on_first], indirect=True)
def test_a_connection_with_extra_bytes_is_never_reused(scripted: tuple[ServerThread, ScriptedServer]) -> None:
    sim, partner = scripted
    exchange(sim, "first")
    follow_up = exchange(sim, "second")
    assert follow_up.status_code == 200, follow_up.text[:300]
    assert email_claim(follow_up) == "second@example.com"
    first, *later = partner.requests
    assert first.bearer == "first" and later
    assert all(r.connection != first.connection for r in later), \
        f"a later request arrived on the connection that carried extra bytes: {[r.connection for r in partner.requests]}"


# ---------------------------------------------------------------------- 6. reset mid-body ----


async def reset_mid_body(request: SeenRequest, connection: RawConnection) -> bool:
    await connection.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                          b'{"user": {"email": "half')
    connection.reset()
    return False


@pytest.mark.parametrize("scripted", [reset_mid_body], indirect=True)
def test_a_reset_mid_body_is_never_a_success(scripted: tuple[ServerThread, ScriptedServer]) -> None:
    sim, _ = scripted
    response = exchange(sim, "tok-half")
    assert response.status_code == 502, response.text[:300]
    assert error_code(response) in (MALFORMED, UNREACHABLE)
    assert last_entry(sim).get("email") is None
