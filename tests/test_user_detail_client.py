"""The user-detail HTTP clients keep one contract, proven against a real loopback server.

Every behaviour test runs against both ``HttpxUserDetailHttp`` and ``UserDetailClient`` (the
served client), so the two stay interchangeable. The server is a raw asyncio one on 127.0.0.1 so a test controls every byte:
slow heads, slow bodies, resets, garbage, repeated headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from spotnana_sim.core.user_detail import CallbackFailed, CallbackMalformed, CallbackTimedOut, UserDetailHttp
from spotnana_sim.server.inprocess import HttpxUserDetailHttp
from spotnana_sim.server.user_detail_client import UserDetailClient

from .hostile_servers import RawConnection, http_answer

pytestmark = pytest.mark.e2e  # raw HTTP servers on loopback, spoken to by the real clients

CAP = 1024
HEADERS = {"Authorization": "Bearer subject-token-123", "Accept": "application/json"}
EMAIL_BODY = b'{"user": {"email": "ada@example.com"}}'


@dataclass
class LoopbackServer:
    """Answers by path; counts connections and records each request's path and headers."""

    url: str = ""
    connections: int = 0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = RawConnection(self.connections, reader, writer)
        try:
            while (request := await connection.read_request()) is not None:
                self.requests.append(request)
                if not await self.respond(request[0], writer):
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def respond(self, path: str, writer: asyncio.StreamWriter) -> bool:
        """Write the answer for ``path``; False closes the connection."""
        if path == "/ok":
            writer.write(http_answer(200, EMAIL_BODY, headers=[("Set-Cookie", "session=abc; Path=/")]))
        elif path == "/redirect":
            writer.write(http_answer(302, b"", headers=[("Location", "/ok")]))
        elif path == "/server-error":
            writer.write(http_answer(503, b'{"oops": true}'))
        elif path == "/big":
            writer.write(http_answer(200, b"x" * (CAP + 100)))
        elif path == "/huge":
            writer.write(http_answer(200, b"h" * (1024 * 1024)))
        elif path == "/exact":
            writer.write(http_answer(200, b"y" * CAP))
        elif path == "/big-chunked":
            chunk = b"z" * 600
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(3):
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            writer.write(b"0\r\n\r\n")
        elif path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (EMAIL_BODY[:10], EMAIL_BODY[10:]):
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            writer.write(b"0\r\n\r\n")
        elif path == "/until-eof":  # neither Content-Length nor chunked: the body ends with the connection
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + EMAIL_BODY)
            await writer.drain()
            return False
        elif path == "/close-after":  # a whole answer, then the server closes the idle connection
            writer.write(http_answer(200, EMAIL_BODY))
            await writer.drain()
            return False
        elif path == "/continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + http_answer(200, EMAIL_BODY))
        elif path == "/headers":
            writer.write(http_answer(200, b"{}", headers=[("X-Dup", "a"), ("X-Dup", "b"), ("X-Mixed-CASE", "v")]))
        elif path == "/never":
            await asyncio.Event().wait()  # never answers: the client's timeout ends the wait
            return False
        elif path == "/slow-body":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
            await writer.drain()
            await asyncio.Event().wait()  # the rest of the body never comes
            return False
        elif path == "/reset":
            return False  # close without a byte of answer
        elif path == "/garbage":
            writer.write(b"this is not HTTP at all\r\n\r\n")
            await writer.drain()
            return False
        else:
            writer.write(http_answer(404, b"{}"))
        await writer.drain()
        return True


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    state = LoopbackServer()
    listener = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}"
    async with listener:
        yield state
        listener.close()


def _httpx() -> tuple[UserDetailHttp, Callable[[], Awaitable[None]]]:
    client = httpx.AsyncClient(follow_redirects=False)
    return HttpxUserDetailHttp(client), client.aclose


def _aiohttp() -> tuple[UserDetailHttp, Callable[[], Awaitable[None]]]:
    http = UserDetailClient()
    return http, http.aclose


@pytest.fixture(params=[_httpx, _aiohttp], ids=["httpx", "aiohttp"])
async def http(request: pytest.FixtureRequest) -> AsyncIterator[UserDetailHttp]:
    client, close = request.param()
    yield client
    await close()


async def get(http: UserDetailHttp, url: str, *, timeout: float = 5.0) -> Any:
    return await http.get(url, HEADERS, timeout, CAP)


async def test_answer_and_request_headers_arrive(http: UserDetailHttp, server: LoopbackServer) -> None:
    response = await get(http, server.url + "/ok")
    assert response.status == 200
    assert response.body == EMAIL_BODY
    assert response.truncated is False
    assert response.headers["content-type"] == "application/json"
    path, sent = server.requests[0]
    assert path == "/ok"
    assert sent["authorization"] == "Bearer subject-token-123"
    assert sent["accept"] == "application/json"


async def test_redirect_is_returned_not_followed(http: UserDetailHttp, server: LoopbackServer) -> None:
    response = await get(http, server.url + "/redirect")
    assert response.status == 302
    assert response.headers["location"] == "/ok"
    assert [path for path, _ in server.requests] == ["/redirect"]


async def test_error_status_is_an_answer_not_an_exception(http: UserDetailHttp, server: LoopbackServer) -> None:
    response = await get(http, server.url + "/server-error")
    assert (response.status, response.body) == (503, b'{"oops": true}')


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
async def test_body_over_the_cap_is_cut_and_flagged(http: UserDetailHttp, server: LoopbackServer, path: str) -> None:
    response = await get(http, server.url + path)
    assert response.truncated is True
    assert len(response.body) == CAP
    # The connection holding the unread rest is not reused in a broken state: the next call works.
    follow_up = await get(http, server.url + "/ok")
    assert follow_up.body == EMAIL_BODY


async def test_body_exactly_at_the_cap_is_whole(http: UserDetailHttp, server: LoopbackServer) -> None:
    response = await get(http, server.url + "/exact")
    assert response.truncated is False
    assert response.body == b"y" * CAP


async def test_header_names_lowered_and_repeats_joined(http: UserDetailHttp, server: LoopbackServer) -> None:
    response = await get(http, server.url + "/headers")
    assert response.headers["x-dup"] == "a, b"
    assert response.headers["x-mixed-case"] == "v"
    assert all(name == name.lower() for name in response.headers)


async def test_connections_are_kept_alive_and_reused(http: UserDetailHttp, server: LoopbackServer) -> None:
    for _ in range(3):
        assert (await get(http, server.url + "/ok")).status == 200
    assert server.connections == 1


async def test_no_answer_within_the_timeout(http: UserDetailHttp, server: LoopbackServer) -> None:
    with pytest.raises(CallbackTimedOut, match=r"no answer within 0.2 s"):
        await get(http, server.url + "/never", timeout=0.2)


async def test_the_timeout_covers_a_body_that_never_ends(http: UserDetailHttp, server: LoopbackServer) -> None:
    with pytest.raises(CallbackTimedOut):
        await get(http, server.url + "/slow-body", timeout=0.2)


async def test_no_answer_at_all_is_unreachable_not_a_timeout(http: UserDetailHttp, server: LoopbackServer) -> None:
    with pytest.raises(CallbackFailed) as caught:
        await get(http, server.url + "/reset")
    assert not isinstance(caught.value, CallbackTimedOut)
    assert caught.value.kind == "unreachable"


async def test_an_answer_that_is_not_http_is_malformed(server: LoopbackServer) -> None:
    http = UserDetailClient()
    try:
        with pytest.raises(CallbackMalformed):
            await get(http, server.url + "/garbage")
    finally:
        await http.aclose()


async def test_a_body_far_over_the_cap_drops_its_connection(server: LoopbackServer) -> None:
    http = UserDetailClient()
    try:
        assert (await get(http, server.url + "/huge")).truncated is True
        assert (await get(http, server.url + "/ok")).body == EMAIL_BODY
    finally:
        await http.aclose()
    assert server.connections == 2  # the unread rest of /huge would have poisoned the first one


async def test_refused_connection_is_a_failure(http: UserDetailHttp) -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()  # the port is free again: connecting is refused
    with pytest.raises(CallbackFailed) as caught:
        await get(http, f"http://127.0.0.1:{port}/v1/user-detail")
    assert not isinstance(caught.value, CallbackTimedOut)


@pytest.mark.parametrize("url", ["http://", "not a url", "ftp://127.0.0.1/x"])
async def test_unusable_url_is_a_failure(http: UserDetailHttp, url: str) -> None:
    with pytest.raises(CallbackFailed) as caught:
        await get(http, url)
    assert not isinstance(caught.value, CallbackTimedOut)


async def test_subject_token_never_in_the_failure_message(http: UserDetailHttp, server: LoopbackServer) -> None:
    for path in ("/reset", "/garbage"):
        with pytest.raises(CallbackFailed) as caught:
            await get(http, server.url + path)
        assert "subject-token-123" not in str(caught.value)


# ---------------------------------------------------------------- the served client only


async def test_aiohttp_keeps_no_cookies_between_users(server: LoopbackServer) -> None:
    http = UserDetailClient()
    try:
        await get(http, server.url + "/ok")  # answers with Set-Cookie
        await get(http, server.url + "/ok")
    finally:
        await http.aclose()
    assert "cookie" not in server.requests[1][1]


async def test_aiohttp_session_closes_and_comes_back(server: LoopbackServer) -> None:
    http = UserDetailClient()
    await get(http, server.url + "/ok")
    await http.aclose()
    await http.aclose()  # closing twice is harmless
    assert (await get(http, server.url + "/ok")).status == 200  # a closed session is replaced on next use
    await http.aclose()
    assert server.connections == 2


async def test_aiohttp_session_from_a_finished_loop_is_let_go_quietly(server: LoopbackServer) -> None:
    """A simulator served by one loop (a test server thread) and closed from another must not warn."""
    import threading

    http = UserDetailClient()
    other_server_url: list[str] = []

    def serve_and_call_in_another_loop() -> None:
        async def run() -> None:
            listener = await asyncio.start_server(LoopbackServer().handle, "127.0.0.1", 0)
            port = listener.sockets[0].getsockname()[1]
            other_server_url.append(f"http://127.0.0.1:{port}")
            async with listener:
                assert (await get(http, f"http://127.0.0.1:{port}/ok")).status == 200

        asyncio.run(run())

    thread = threading.Thread(target=serve_and_call_in_another_loop)
    thread.start()
    thread.join()
    assert other_server_url
    assert (await get(http, server.url + "/ok")).status == 200  # this loop gets its own session
    await http.aclose()
    await http.aclose()


# ---------------------------------------------------------------- framing and connection reuse


async def test_chunked_body_is_joined(http: UserDetailHttp, server: LoopbackServer) -> None:
    response = await get(http, server.url + "/chunked")
    assert (response.status, response.body, response.truncated) == (200, EMAIL_BODY, False)
    assert (await get(http, server.url + "/chunked")).body == EMAIL_BODY
    assert server.connections == 1  # a chunked answer read to its end leaves the connection reusable


async def test_body_delimited_by_the_end_of_the_connection(http: UserDetailHttp, server: LoopbackServer) -> None:
    response = await get(http, server.url + "/until-eof")
    assert (response.status, response.body, response.truncated) == (200, EMAIL_BODY, False)
    assert (await get(http, server.url + "/ok")).body == EMAIL_BODY  # a new connection, not the closed one
    assert server.connections == 2


async def test_interim_answer_is_skipped(http: UserDetailHttp, server: LoopbackServer) -> None:
    response = await get(http, server.url + "/continue")
    assert (response.status, response.body) == (200, EMAIL_BODY)


async def test_a_connection_the_server_closed_while_idle_is_not_reused(http: UserDetailHttp, server: LoopbackServer) -> None:
    assert (await get(http, server.url + "/close-after")).body == EMAIL_BODY
    await asyncio.sleep(0.05)  # the server's close reaches the client while the connection is idle
    assert (await get(http, server.url + "/ok")).body == EMAIL_BODY
    assert server.connections == 2


async def test_a_connection_closed_as_the_next_request_goes_out_is_retried_once(server: LoopbackServer) -> None:
    """The server closes right after its answer; the client may send on it before it hears of the close."""
    http = UserDetailClient()
    try:
        assert (await get(http, server.url + "/close-after")).body == EMAIL_BODY
        # No pause: the next request can race the close; either way it must get its answer.
        assert (await get(http, server.url + "/ok")).body == EMAIL_BODY
    finally:
        await http.aclose()
    assert server.connections == 2


async def test_a_reused_connection_that_dies_without_an_answer_is_retried_on_a_fresh_one(server: LoopbackServer) -> None:
    http = UserDetailClient()
    try:
        assert (await get(http, server.url + "/ok")).status == 200
        with pytest.raises(CallbackFailed):  # the fresh connection is reset as well: a failure, not a loop
            await get(http, server.url + "/reset")
    finally:
        await http.aclose()
    assert [path for path, _ in server.requests] == ["/ok", "/reset", "/reset"]
    assert server.connections == 2


async def test_concurrent_calls_use_separate_connections_then_share_the_pool(server: LoopbackServer) -> None:
    http = UserDetailClient()
    try:
        answers = await asyncio.gather(*(get(http, server.url + "/ok") for _ in range(4)))
        assert all(a.body == EMAIL_BODY for a in answers)
        answers = await asyncio.gather(*(get(http, server.url + "/ok") for _ in range(4)))
        assert all(a.body == EMAIL_BODY for a in answers)
    finally:
        await http.aclose()
    assert server.connections == 4


async def test_a_timed_out_connection_is_not_aiohttp(server: LoopbackServer) -> None:
    http = UserDetailClient()
    try:
        with pytest.raises(CallbackTimedOut):
            await get(http, server.url + "/slow-body", timeout=0.2)
        assert (await get(http, server.url + "/ok")).body == EMAIL_BODY
    finally:
        await http.aclose()
    assert server.connections == 2


@pytest.mark.parametrize("value", ["token\r\nX-Injected: 1", "token\nGET / HTTP/1.1", "tok\0en"])
async def test_line_breaks_in_a_header_value_are_refused_not_sent(server: LoopbackServer, value: str) -> None:
    http = UserDetailClient()
    try:
        with pytest.raises(CallbackFailed) as caught:
            await http.get(server.url + "/ok", {"Authorization": f"Bearer {value}"}, 5.0, CAP)
    finally:
        await http.aclose()
    assert "token" not in str(caught.value)
    assert server.requests == []


async def test_query_string_and_default_path_are_sent(server: LoopbackServer) -> None:
    http = UserDetailClient()
    try:
        await get(http, server.url + "/ok?x=1")
        await get(http, server.url)
    finally:
        await http.aclose()
    assert [path for path, _ in server.requests] == ["/ok?x=1", "/"]
    assert server.requests[0][1]["host"] == server.url.removeprefix("http://")


def test_the_served_client_works_under_uvloop() -> None:
    """`spotnana-sim serve` runs on uvloop when installed, whose transports differ from asyncio's."""
    uvloop = pytest.importorskip("uvloop")

    async def run() -> None:
        state = LoopbackServer()
        listener = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
        http = UserDetailClient()
        try:
            for path in ("/ok", "/chunked", "/ok"):
                assert (await get(http, url + path)).body == EMAIL_BODY
            assert (await get(http, url + "/big")).truncated is True
            assert (await get(http, url + "/ok")).body == EMAIL_BODY
            with pytest.raises(CallbackTimedOut):
                await get(http, url + "/never", timeout=0.1)
        finally:
            await http.aclose()
            listener.close()
        # One connection throughout: /big's whole body had arrived, so cutting it left nothing unread.
        assert state.connections == 1

    # The runner cancels the test server's handlers left waiting (/never) so their sockets close too.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run())
