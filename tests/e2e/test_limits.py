"""Limits and isolation on real servers: body and field caps, journal bounds, 200 concurrent exchanges,
and a hanging user-detail API for one client that leaves every other client's exchanges alone.

No timing assertions: every check is about what was answered, and in which order things finished.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from spotnana_sim.core.protocol import (
    CLIENT_CREDENTIALS_GRANT,
    FORM_CONTENT_TYPE,
    TOKEN_ENDPOINT_PATH,
)
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ClientConfig, Settings
from spotnana_sim.core.token_request import DEFAULT_MAX_FIELD_LENGTH, MAX_FIELD_LENGTH
from spotnana_sim.harness.endpoint import MAX_BODY_BYTES
from spotnana_sim.harness.journal import Journal
from spotnana_sim.harness.journal_entry import JournalEntry
from spotnana_sim.reference.user_detail import DEMO_USERS

from ..helpers import exchange_form
from ..servers import HeldUserDetail, ServerThread, running_simulator, wait_until

pytestmark = pytest.mark.e2e

HANG_GUARD = 60.0  # seconds: only stops a broken run from hanging the suite; never a pass/fail criterion


def raw_exchange(port: int, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request head and some body bytes, never the rest; return what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed while we were still sending: fine
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[ServerThread, Any]]:
    with running_simulator(Settings()) as pair:
        yield pair


# ------------------------------------------------------------------------------------- body ----


def test_declared_oversize_body_gets_413_without_the_rest_being_sent(sim: tuple[ServerThread, Any]) -> None:
    server, _ = sim
    head = (f"POST {TOKEN_ENDPOINT_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FORM_CONTENT_TYPE}\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n").encode()
    answer = raw_exchange(server.port, head, [b"grant_type=client_credentials&audience=" + b"a" * 1000])
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_chunked_body_is_cut_at_the_cap_without_the_rest_being_sent(sim: tuple[ServerThread, Any]) -> None:
    server, _ = sim
    head = (f"POST {TOKEN_ENDPOINT_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FORM_CONTENT_TYPE}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"a" * 1024
    parts = [b"400\r\n" + chunk + b"\r\n"] * (MAX_BODY_BYTES // 1024 + 2)  # past the cap; no final 0-chunk ever
    answer = raw_exchange(server.port, head, parts)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_body_at_the_cap_is_read_and_validated(sim: tuple[ServerThread, Any]) -> None:
    server, _ = sim
    body = b"grant_type=client_credentials&padding=" + b"p" * (MAX_BODY_BYTES - 38)
    assert len(body) == MAX_BODY_BYTES
    response = httpx.post(server.url + TOKEN_ENDPOINT_PATH, content=body, headers={"content-type": FORM_CONTENT_TYPE})
    assert response.status_code == 400  # read whole, then client_id is reported missing
    assert response.json()["errorMessages"][0]["errorParameters"][0]["name"] == "client_id"


# ----------------------------------------------------------------------------------- fields ----


@pytest.mark.parametrize("field", ["client_id", "client_secret", "subject_token", "audience", "scope"])
def test_oversize_field_gets_a_400_naming_it(sim: tuple[ServerThread, Any], field: str) -> None:
    server, _ = sim
    limit = MAX_FIELD_LENGTH.get(field, DEFAULT_MAX_FIELD_LENGTH)
    form = exchange_form(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, "demo-token-ada")
    form[field] = "z" * (limit + 1)
    response = httpx.post(server.url + TOKEN_ENDPOINT_PATH, data=form)
    assert response.status_code == 400
    message = response.json()["errorMessages"][0]
    assert message["errorParameters"][0]["name"] == field
    assert str(limit) in message["message"]
    assert "z" * 100 not in response.text  # the value is never echoed at length


def test_oversize_content_type_gets_a_400_with_a_short_echo(sim: tuple[ServerThread, Any]) -> None:
    server, _ = sim
    response = httpx.post(server.url + TOKEN_ENDPOINT_PATH, content=b"a=b",
                          headers={"content-type": "text/plain; x=" + "q" * 6000})
    assert response.status_code == 400
    message = response.json()["errorMessages"][0]
    assert message["errorParameters"][0]["name"] == "Content-Type"
    assert "q" * 200 not in response.text


def test_oversize_headers_get_a_clear_400(sim: tuple[ServerThread, Any]) -> None:
    server, _ = sim
    form = exchange_form(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, "demo-token-ada")
    response = httpx.post(server.url + TOKEN_ENDPOINT_PATH, data=form, headers={"x-padding": "h" * 64 * 1024})
    assert response.status_code == 400
    assert "header" in response.json()["errorMessages"][0]["message"].lower()


# ---------------------------------------------------------------------------------- journal ----


def test_journal_is_bounded_in_entries_and_counts_what_it_dropped() -> None:
    with running_simulator(Settings(journal_size=5)) as (server, _):
        for _ in range(8):
            httpx.post(server.url + TOKEN_ENDPOINT_PATH, data={"grant_type": CLIENT_CREDENTIALS_GRANT})
        summary = httpx.get(server.url + "/_sim/journal").json()
    assert summary["count"] == 5 and summary["capacity"] == 5 and summary["dropped"] == 3
    assert [e["id"] for e in summary["entries"]] == [4, 5, 6, 7, 8]  # the newest kept, in order


def test_journal_is_bounded_in_bytes(sim: tuple[ServerThread, Any]) -> None:
    server, simulator = sim
    httpx.delete(server.url + "/_sim/journal")
    simulator.journal.max_bytes = 100_000  # a small bound so a few large requests cross it
    try:
        for i in range(20):  # ~15 KiB of non-secret form values each: all of it is journaled
            httpx.post(server.url + TOKEN_ENDPOINT_PATH,
                       data={"grant_type": CLIENT_CREDENTIALS_GRANT, "note": f"{i:02d}" + "n" * 15_000})
        summary = httpx.get(server.url + "/_sim/journal").json()
        assert simulator.journal.bytes <= 100_000
    finally:
        simulator.journal.max_bytes = Journal().max_bytes
    assert 0 < summary["count"] < 20 and summary["dropped"] == 20 - summary["count"]
    assert summary["entries"][-1]["form"]["note"][0].startswith("19")  # the newest is always kept


def test_a_single_entry_larger_than_the_byte_bound_is_still_kept() -> None:
    journal = Journal(max_entries=10, max_bytes=100)
    journal.record(JournalEntry(form={"note": ["x" * 1000]}))
    journal.record(JournalEntry(form={"note": ["y" * 1000]}))
    assert [e["id"] for e in journal.entries()] == [2] and journal.dropped == 1


# ------------------------------------------------------------------------------ concurrency ----


async def test_200_concurrent_exchanges_are_all_answered_correctly(sim: tuple[ServerThread, Any]) -> None:
    server, simulator = sim
    subjects = sorted(DEMO_USERS)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=HANG_GUARD) as http:
        jwks = jwt.PyJWKSet.from_dict((await http.get("/.well-known/jwks.json")).json())
        before = len(simulator.journal.entries())
        forms = [exchange_form(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, subjects[i % len(subjects)]) for i in range(200)]
        responses = await asyncio.gather(*(http.post(TOKEN_ENDPOINT_PATH, data=form) for form in forms))
    jtis = set()
    for form, response in zip(forms, responses, strict=False):
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        key = jwks[jwt.get_unverified_header(token)["kid"]].key
        claims = jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False})
        assert claims["email"] == DEMO_USERS[form["subject_token"]]  # each answer belongs to its own request
        jtis.add(claims["jti"])
    assert len(jtis) == 200
    assert len(simulator.journal.entries()) == min(before + 200, simulator.journal.max_entries)


async def test_a_hanging_user_detail_api_does_not_hold_up_other_clients() -> None:
    partner = HeldUserDetail()
    with ServerThread(partner.app) as partner_server, partner.gate:
        clients = (
            ClientConfig("slow-client", "slow-secret", user_detail_url=partner_server.url + "/v1/user-detail",
                         timeout=HANG_GUARD * 2),
            ClientConfig("fast-client", "fast-secret", user_detail_url=partner_server.url + "/fast/v1/user-detail"),
        )
        with running_simulator(Settings(clients=clients)) as (server, _):
            async with httpx.AsyncClient(base_url=server.url, timeout=HANG_GUARD * 3,
                                         limits=httpx.Limits(max_connections=100)) as http:
                slow = [asyncio.create_task(http.post(TOKEN_ENDPOINT_PATH,
                                                      data=exchange_form("slow-client", "slow-secret", f"slow{i}")))
                        for i in range(5)]
                await wait_until(lambda: partner.gate.waiting == 5, "all five are hanging inside the simulator")

                fast = await asyncio.gather(*(http.post(TOKEN_ENDPOINT_PATH,
                                                        data=exchange_form("fast-client", "fast-secret", f"fast{i}"))
                                              for i in range(50)))
                assert [r.status_code for r in fast] == [200] * 50
                assert [jwt.decode(r.json()["access_token"], options={"verify_signature": False})["email"]
                        for r in fast] == [f"fast{i}@example.com" for i in range(50)]
                assert not any(task.done() for task in slow), "the slow client's exchanges are still pending"

                partner.gate.open()
                finished = await asyncio.gather(*slow)
    assert [r.status_code for r in finished] == [200] * 5


def test_user_detail_read_stops_at_the_cap_even_for_an_endless_body() -> None:
    async def endless() -> Any:
        while True:  # never ends: the simulator must stop reading on its own
            yield b" " * 1024
            await asyncio.sleep(0)

    async def user_detail(request: Request) -> Response:
        return StreamingResponse(endless(), media_type="application/json")

    partner = Starlette(routes=[Route("/v1/user-detail", user_detail)])
    with ServerThread(partner) as partner_server:
        client = ClientConfig("endless", "endless-secret", user_detail_url=partner_server.url + "/v1/user-detail",
                              timeout=HANG_GUARD)
        with running_simulator(Settings(clients=(client,))) as (server, _):
            response = httpx.post(server.url + TOKEN_ENDPOINT_PATH, timeout=HANG_GUARD * 2,
                                  data=exchange_form("endless", "endless-secret", "someone"))
    assert response.status_code == 502
    assert response.json()["errorMessages"][0]["errorCode"] == "USER_DETAIL_RESPONSE_TOO_LARGE"
