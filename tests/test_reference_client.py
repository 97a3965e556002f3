"""The reference token-exchange client (reference_impl.client) against an httpx.MockTransport.

Time is fake: ``ManualTime`` (tests/helpers.py) is the client's clock and its ``sleep`` only records and advances it,
so no test ever waits.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl

import httpx
import pytest

from spotnana_sim.reference.client import (
    ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    SpotnanaTokenClient,
    SpotnanaTokens,
    TokenExchangeError,
)

from .helpers import T0, ManualTime

TOKEN_URL = "https://api-ext-sboxmeta.partners.spotnana.com/v2/auth/oauth2-token"
CLIENT_ID = "client-id-123"
CLIENT_SECRET = "s3cr3t-DO-NOT-LEAK-9f8e7d"
SUBJECT = "user-subject-token-QQQ-4242"

EXCHANGE_OK = {
    "access_token": "eyJraWQiOi.access",
    "refresh_token": "eyJjdHkiOi.refresh",
    "token_type": "Bearer",
    "expires_in": 3600,
    "scope": "openid",
}


class MaxJitter(random.Random):
    """Jitter source that always picks the top of the range, making backoffs exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


Reply = httpx.Response | Exception


@dataclass
class Server:
    """A scripted token endpoint: answers ``replies`` in order (the last one repeats)."""

    replies: list[Reply]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def form(self, index: int = -1) -> list[tuple[str, str]]:
        return parse_qsl(self.requests[index].content.decode(), keep_blank_values=True)


def ok(body: dict[str, object] = EXCHANGE_OK) -> httpx.Response:
    return httpx.Response(200, json=body)


def spotnana_error(status: int, code: str, message: str = "nope", headers: dict[str, str] | None = None) -> httpx.Response:
    body = {
        "debugIdentifier": "https://debug.services.spotnana.com/file-search-results/abc?q=debugid",
        "errorMessages": [{"errorCode": code, "message": message}],
    }
    return httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def clock() -> ManualTime:
    return ManualTime()


@pytest.fixture
def make_client(clock: ManualTime) -> Iterator[Callable[..., tuple[SpotnanaTokenClient, Server]]]:
    http_clients: list[httpx.Client] = []

    def make(*replies: Reply, **kwargs: object) -> tuple[SpotnanaTokenClient, Server]:
        server = Server(list(replies) or [ok()])
        http = httpx.Client(transport=httpx.MockTransport(server))
        http_clients.append(http)
        options: dict[str, object] = {"clock": clock, "sleep": clock.sleep, "rng": MaxJitter()}
        options.update(kwargs)
        client = SpotnanaTokenClient(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, http=http, **options)  # type: ignore[arg-type]
        return client, server

    yield make
    for http in http_clients:
        http.close()


MakeClient = Callable[..., tuple[SpotnanaTokenClient, Server]]


def assert_no_secrets(error: TokenExchangeError) -> None:
    text = str(error) + repr(error)
    for secret in (CLIENT_SECRET, SUBJECT, EXCHANGE_OK["access_token"], EXCHANGE_OK["refresh_token"]):
        assert str(secret) not in text


# -- the request ---------------------------------------------------------------------------------


def test_constants() -> None:
    assert TOKEN_EXCHANGE_GRANT == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert ACCESS_TOKEN_TYPE == "urn:ietf:params:oauth:token-type:access_token"


def test_token_exchange_form_is_exactly_as_documented(make_client: MakeClient) -> None:
    client, server = make_client()
    client.tokens_for("user-1", SUBJECT)
    (request,) = server.requests
    assert request.method == "POST"
    assert str(request.url) == TOKEN_URL
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in request.headers  # credentials travel in the body, never Basic
    assert server.form() == [
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("subject_token", SUBJECT),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("scope", "openid"),
    ]


def test_token_exchange_response_is_parsed(make_client: MakeClient, clock: ManualTime) -> None:
    client, _ = make_client()
    tokens = client.tokens_for("user-1", SUBJECT)
    assert tokens == SpotnanaTokens(
        access_token="eyJraWQiOi.access",
        refresh_token="eyJjdHkiOi.refresh",
        expires_at=T0 + 3600,
        scope="openid",
    )


def test_tokens_are_not_in_repr(make_client: MakeClient) -> None:
    client, _ = make_client()
    text = repr(client.tokens_for("user-1", SUBJECT))
    assert "eyJraWQiOi.access" not in text and "eyJjdHkiOi.refresh" not in text


def test_client_credentials_form_and_response(make_client: MakeClient) -> None:
    client, server = make_client(ok({"access_token": "cc-token", "expires_in": 3600, "token_type": "Bearer"}))
    tokens = client.client_credentials()
    assert server.requests[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert server.form() == [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ]
    assert tokens == SpotnanaTokens("cc-token", None, T0 + 3600, None)


# -- caching -------------------------------------------------------------------------------------


def test_second_call_uses_cache(make_client: MakeClient) -> None:
    client, server = make_client()
    first = client.tokens_for("user-1", SUBJECT)
    second = client.tokens_for("user-1", SUBJECT)
    assert second == first
    assert len(server.requests) == 1


def test_cache_refreshes_at_expiry_minus_margin(make_client: MakeClient, clock: ManualTime) -> None:
    client, server = make_client(refresh_margin=60.0)
    client.tokens_for("user-1", SUBJECT)
    clock.now = T0 + 3600 - 60 - 0.001  # still fresh
    client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 1
    clock.now = T0 + 3600 - 60  # inside the margin: fetch anew
    refreshed = client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 2
    assert refreshed.expires_at == clock.now + 3600
    client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 2


def test_cache_is_per_key(make_client: MakeClient) -> None:
    client, server = make_client()
    client.tokens_for("user-1", SUBJECT)
    client.tokens_for("user-2", "other-subject")
    client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 2
    assert dict(server.form(1))["subject_token"] == "other-subject"


def test_forget_drops_one_key(make_client: MakeClient) -> None:
    client, server = make_client()
    client.tokens_for("user-1", SUBJECT)
    client.tokens_for("user-2", SUBJECT)
    client.forget("user-1")
    client.forget("never-cached")
    client.tokens_for("user-1", SUBJECT)
    client.tokens_for("user-2", SUBJECT)
    assert len(server.requests) == 3


def test_client_credentials_cached_separately_from_users(make_client: MakeClient, clock: ManualTime) -> None:
    client, server = make_client()
    client.client_credentials()
    client.client_credentials()
    assert len(server.requests) == 1
    client.tokens_for("", SUBJECT)  # even an empty user key does not collide with it
    assert len(server.requests) == 2
    clock.now = T0 + 3600
    client.client_credentials()
    assert len(server.requests) == 3
    assert dict(server.form())["grant_type"] == "client_credentials"


def test_missing_expires_in_is_not_reused(make_client: MakeClient) -> None:
    client, server = make_client(ok({"access_token": "a", "token_type": "Bearer"}))
    client.tokens_for("user-1", SUBJECT)
    client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 2


def test_concurrent_callers_share_one_request(clock: ManualTime) -> None:
    entered = threading.Event()
    release = threading.Event()
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        entered.set()
        assert release.wait(5)
        return ok()

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        client = SpotnanaTokenClient(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, http=http, clock=clock, sleep=clock.sleep)
        results: list[SpotnanaTokens] = []
        threads = [threading.Thread(target=lambda: results.append(client.tokens_for("u", SUBJECT))) for _ in range(4)]
        threads[0].start()
        assert entered.wait(5)
        for thread in threads[1:]:
            thread.start()
        release.set()
        for thread in threads:
            thread.join(5)
    assert len(calls) == 1
    assert len(results) == 4 and len(set(results)) == 1


# -- retries -------------------------------------------------------------------------------------


def test_429_with_retry_after_then_success(make_client: MakeClient, clock: ManualTime) -> None:
    client, server = make_client(spotnana_error(429, "TOO_MANY_REQUESTS", headers={"Retry-After": "7"}), ok())
    tokens = client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 2
    assert len(clock.sleeps) == 1
    assert clock.sleeps[0] >= 7
    assert tokens.access_token == "eyJraWQiOi.access"
    assert server.form(0) == server.form(1)  # the retry resends the same form


def test_retry_after_http_date(make_client: MakeClient, clock: ManualTime) -> None:
    when = format_datetime(datetime.fromtimestamp(T0 + 12, tz=UTC), usegmt=True)
    client, server = make_client(spotnana_error(429, "TOO_MANY_REQUESTS", headers={"Retry-After": when}), ok())
    client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 2
    assert clock.sleeps == [pytest.approx(12.0)]


def test_smaller_retry_after_does_not_shorten_backoff(make_client: MakeClient, clock: ManualTime) -> None:
    client, _ = make_client(
        spotnana_error(429, "TOO_MANY_REQUESTS", headers={"Retry-After": "0"}), ok(), base_backoff=2.0
    )
    client.tokens_for("user-1", SUBJECT)
    assert clock.sleeps == [2.0]


def test_retry_after_beyond_max_backoff_gives_up_without_retrying(make_client: MakeClient, clock: ManualTime) -> None:
    client, server = make_client(
        spotnana_error(429, "TOO_MANY_REQUESTS", headers={"Retry-After": "3600"}), ok(), max_backoff=30.0
    )
    with pytest.raises(TokenExchangeError) as caught:
        client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 1
    assert clock.sleeps == []
    assert caught.value.status == 429
    assert caught.value.error_code == "TOO_MANY_REQUESTS"


def test_503_twice_then_success_backs_off_exponentially(make_client: MakeClient, clock: ManualTime) -> None:
    client, server = make_client(
        httpx.Response(503, text="unavailable"),
        httpx.Response(503, text="unavailable"),
        ok(),
        base_backoff=0.5,
    )
    tokens = client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 3
    assert clock.sleeps == [0.5, 1.0]  # MaxJitter: exactly base * 2**(n-1)
    assert tokens.expires_at == clock.now + 3600  # lifetime counted from the request that succeeded


def test_backoff_is_jittered_within_bounds_and_capped(make_client: MakeClient, clock: ManualTime) -> None:
    client, server = make_client(
        httpx.Response(500),
        max_attempts=8,
        base_backoff=1.0,
        max_backoff=10.0,
        rng=random.Random(1234),
    )
    with pytest.raises(TokenExchangeError):
        client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 8
    ceilings = [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert len(clock.sleeps) == len(ceilings)
    for slept, ceiling in zip(clock.sleeps, ceilings, strict=False):
        assert ceiling / 2 <= slept <= ceiling
    assert len(set(clock.sleeps)) == len(clock.sleeps)  # jittered, not a fixed schedule


def test_transport_error_is_retried(make_client: MakeClient, clock: ManualTime) -> None:
    client, server = make_client(httpx.ConnectError("connection refused"), ok())
    client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 2
    assert clock.sleeps == [0.5]


def test_transport_errors_exhausted(make_client: MakeClient, clock: ManualTime) -> None:
    client, server = make_client(httpx.ReadTimeout("timed out"), max_attempts=3)
    with pytest.raises(TokenExchangeError) as caught:
        client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 3
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert_no_secrets(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_other_4xx_raises_at_once(make_client: MakeClient, clock: ManualTime, status: int) -> None:
    client, server = make_client(spotnana_error(status, "API_VALIDATION_FAILED", "bad request"), ok())
    with pytest.raises(TokenExchangeError) as caught:
        client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 1
    assert clock.sleeps == []
    assert caught.value.status == status


def test_max_attempts_exhausted(make_client: MakeClient, clock: ManualTime) -> None:
    client, server = make_client(spotnana_error(429, "TOO_MANY_REQUESTS"), max_attempts=4)
    with pytest.raises(TokenExchangeError) as caught:
        client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 4
    assert len(clock.sleeps) == 3
    assert caught.value.status == 429
    assert caught.value.error_code == "TOO_MANY_REQUESTS"
    assert "4 attempts" in str(caught.value)


def test_failure_is_not_cached(make_client: MakeClient) -> None:
    client, server = make_client(spotnana_error(403, "USER_NOT_AUTHENTICATED"), ok())
    with pytest.raises(TokenExchangeError):
        client.tokens_for("user-1", SUBJECT)
    client.tokens_for("user-1", SUBJECT)
    assert len(server.requests) == 2


def test_max_attempts_must_be_positive() -> None:
    with httpx.Client() as http, pytest.raises(ValueError):
        SpotnanaTokenClient(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, http=http, max_attempts=0)


# -- errors --------------------------------------------------------------------------------------


def test_spotnana_envelope_is_parsed(make_client: MakeClient) -> None:
    client, _ = make_client(spotnana_error(401, "USER_NOT_AUTHENTICATED", "User not authenticated"))
    with pytest.raises(TokenExchangeError) as caught:
        client.tokens_for("user-1", SUBJECT)
    error = caught.value
    assert error.status == 401
    assert error.error_code == "USER_NOT_AUTHENTICATED"
    assert error.debug_identifier == "https://debug.services.spotnana.com/file-search-results/abc?q=debugid"
    assert error.body["errorMessages"][0]["errorCode"] == "USER_NOT_AUTHENTICATED"
    assert "401" in str(error) and "USER_NOT_AUTHENTICATED" in str(error) and "User not authenticated" in str(error)


def test_rfc6749_error_is_parsed(make_client: MakeClient) -> None:
    client, _ = make_client(httpx.Response(400, json={"error": "invalid_grant", "error_description": "bad subject"}))
    with pytest.raises(TokenExchangeError) as caught:
        client.tokens_for("user-1", SUBJECT)
    assert caught.value.error_code == "invalid_grant"
    assert caught.value.body == {"error": "invalid_grant", "error_description": "bad subject"}
    assert "invalid_grant" in str(caught.value) and "bad subject" in str(caught.value)


def test_non_json_error_body(make_client: MakeClient) -> None:
    client, _ = make_client(httpx.Response(400, text="<html>oops</html>"))
    with pytest.raises(TokenExchangeError) as caught:
        client.tokens_for("user-1", SUBJECT)
    assert caught.value.status == 400
    assert caught.value.error_code is None
    assert caught.value.body == "<html>oops</html>"


def test_error_message_never_contains_secrets_even_if_echoed(make_client: MakeClient) -> None:
    echoed = f"bad client_secret {CLIENT_SECRET} for subject {SUBJECT}"
    client, _ = make_client(spotnana_error(401, "USER_NOT_AUTHENTICATED", echoed))
    with pytest.raises(TokenExchangeError) as caught:
        client.tokens_for("user-1", SUBJECT)
    assert_no_secrets(caught.value)
    assert "[redacted]" in str(caught.value)


def test_retry_exhaustion_message_has_no_secrets(make_client: MakeClient) -> None:
    client, _ = make_client(
        httpx.Response(503, json={"error": "temporarily_unavailable", "error_description": CLIENT_SECRET}),
        max_attempts=2,
    )
    with pytest.raises(TokenExchangeError) as caught:
        client.tokens_for("user-1", SUBJECT)
    assert_no_secrets(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "Bearer", "expires_in": 3600},
        {"access_token": 17, "token_type": "Bearer"},
        {"access_token": "a", "token_type": "mac", "expires_in": 3600},
    ],
)
def test_unusable_success_raises(make_client: MakeClient, body: dict[str, object]) -> None:
    client, server = make_client(httpx.Response(200, content=json.dumps(body).encode()))
    with pytest.raises(TokenExchangeError) as caught:
        client.tokens_for("user-1", SUBJECT)
    assert caught.value.status == 200
    assert len(server.requests) == 1


def test_non_json_success_raises(make_client: MakeClient) -> None:
    client, _ = make_client(httpx.Response(200, text="not json"))
    with pytest.raises(TokenExchangeError):
        client.tokens_for("user-1", SUBJECT)
