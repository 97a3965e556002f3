"""The partner JWKS cache: max-age, the unknown-kid refetch, and each way a JWKS fetch fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from spotnana_sim.core.clock import Clock
from spotnana_sim.core.error_rendering import ErrorTable
from spotnana_sim.core.errors import (
    RFC6749,
    SPOTNANA,
    PartnerJwksMalformed,
    PartnerJwksTimeout,
    PartnerJwksUnreachable,
    SimulatorError,
    SubjectJwtUnknownKid,
)
from spotnana_sim.core.partner_jwks import (
    DEFAULT_MAX_AGE,
    JwksCache,
    JwksFetchRecord,
    cache_lifetime,
    parse_jwks,
)
from spotnana_sim.core.partner_jwt import JwtExpectations, averify_partner_jwt
from spotnana_sim.core.user_detail import CallbackFailed, CallbackMalformed, CallbackTimedOut, UserDetailResponse

URL = "https://idp.example/.well-known/jwks.json"
T0 = 1_750_000_000.0


@pytest.fixture(scope="module")
def keys() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


def jwk(private_key: rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    public: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**public, "kid": kid, "use": "sig", "alg": "RS256", **extra}


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None, truncated: bool = False) -> UserDetailResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return UserDetailResponse(status=status, headers=headers or {"content-type": "application/json"}, body=raw,
                              truncated=truncated)


class FakeFetch:
    """Answers with whatever ``reply`` is set to (a response, or an exception to raise); counts calls."""

    def __init__(self, reply: UserDetailResponse | BaseException) -> None:
        self.reply = reply
        self.urls: list[str] = []

    async def __call__(self, url: str) -> UserDetailResponse:
        self.urls.append(url)
        if isinstance(self.reply, BaseException):
            raise self.reply
        return self.reply

    @property
    def calls(self) -> int:
        return len(self.urls)


@pytest.fixture
def clock() -> Clock:
    return Clock(base=lambda: T0)


@pytest.fixture
def make_cache(clock: Clock) -> Iterator[Callable[..., tuple[JwksCache, FakeFetch]]]:
    def make(reply: UserDetailResponse | BaseException, **options: Any) -> tuple[JwksCache, FakeFetch]:
        fetch = FakeFetch(reply)
        return JwksCache(fetch, clock, **options), fetch

    yield make


async def test_first_use_fetches_then_the_copy_is_reused(keys: list[rsa.RSAPrivateKey], make_cache: Any) -> None:
    cache, fetch = make_cache(answer({"keys": [jwk(keys[0], "k1")]}))
    records: list[JwksFetchRecord] = []
    key = await cache.key_for(URL, "k1", records)
    assert key is not None and key.kid == "k1" and key.source == f"jwks {URL}"
    assert await cache.key_for(URL, "k1") is key
    assert fetch.calls == 1
    assert [r.as_dict()["reason"] for r in records] == ["first use"] and records[0].keys == ("k1",)


async def test_max_age_is_honoured(keys: list[rsa.RSAPrivateKey], make_cache: Any, clock: Clock) -> None:
    cache, fetch = make_cache(answer({"keys": [jwk(keys[0], "k1")]}, headers={"cache-control": "public, max-age=60"}))
    await cache.key_for(URL, "k1")
    clock.advance(59)
    await cache.key_for(URL, "k1")
    assert fetch.calls == 1
    clock.advance(2)
    records: list[JwksFetchRecord] = []
    await cache.key_for(URL, "k1", records)
    assert fetch.calls == 2 and records[0].reason == "expired" and records[0].max_age == 60


async def test_default_lifetime_without_cache_control(keys: list[rsa.RSAPrivateKey], make_cache: Any, clock: Clock) -> None:
    cache, fetch = make_cache(answer({"keys": [jwk(keys[0], "k1")]}))
    await cache.key_for(URL, "k1")
    clock.advance(DEFAULT_MAX_AGE - 1)
    await cache.key_for(URL, "k1")
    clock.advance(1)
    await cache.key_for(URL, "k1")
    assert fetch.calls == 2


async def test_no_store_means_every_use_fetches(keys: list[rsa.RSAPrivateKey], make_cache: Any) -> None:
    cache, fetch = make_cache(answer({"keys": [jwk(keys[0], "k1")]}, headers={"cache-control": "no-store"}))
    for _ in range(3):
        await cache.key_for(URL, "k1")
    assert fetch.calls == 3


async def test_a_clock_moved_back_does_not_pin_the_copy(keys: list[rsa.RSAPrivateKey], make_cache: Any, clock: Clock) -> None:
    cache, fetch = make_cache(answer({"keys": [jwk(keys[0], "k1")]}))
    await cache.key_for(URL, "k1")
    clock.advance(-3600)
    await cache.key_for(URL, "k1")
    assert fetch.calls == 2


@pytest.mark.parametrize(("value", "seconds"), [
    ("max-age=120", 120), ("public, max-age=0", 0), ('max-age="30", must-revalidate', 30),
    ("no-cache", 0), ("private, no-store", 0), ("public", DEFAULT_MAX_AGE), ("s-maxage=10", DEFAULT_MAX_AGE),
    ("max-age=31536000", 86400),
])
def test_cache_lifetime(value: str, seconds: float) -> None:
    assert cache_lifetime({"cache-control": value}) == seconds


async def test_an_unknown_kid_refetches_at_most_every_10_s(keys: list[rsa.RSAPrivateKey], make_cache: Any,
                                                          clock: Clock) -> None:
    cache, fetch = make_cache(answer({"keys": [jwk(keys[0], "k1")]}))
    await cache.key_for(URL, "k1")
    assert await cache.key_for(URL, "k2") is None  # fetched moments ago: no refetch
    assert fetch.calls == 1
    clock.advance(10)
    fetch.reply = answer({"keys": [jwk(keys[0], "k1"), jwk(keys[1], "k2")]})  # the partner rotated a key in
    records: list[JwksFetchRecord] = []
    found = await cache.key_for(URL, "k2", records)
    assert found is not None and found.kid == "k2" and records[0].reason == "unknown kid"
    assert fetch.calls == 2
    assert await cache.key_for(URL, "bogus") is None and await cache.key_for(URL, "bogus") is None
    assert fetch.calls == 2


async def test_a_failed_unknown_kid_refetch_keeps_the_fresh_copy(keys: list[rsa.RSAPrivateKey], make_cache: Any,
                                                                clock: Clock) -> None:
    cache, fetch = make_cache(answer({"keys": [jwk(keys[0], "k1")]}))
    await cache.key_for(URL, "k1")
    clock.advance(11)
    fetch.reply = CallbackFailed("connection refused")
    with pytest.raises(PartnerJwksUnreachable):
        await cache.key_for(URL, "k2")
    assert await cache.key_for(URL, "k1") is not None and fetch.calls == 2


async def test_failures_are_not_cached(keys: list[rsa.RSAPrivateKey], make_cache: Any) -> None:
    cache, fetch = make_cache(CallbackFailed("connection refused"))
    with pytest.raises(PartnerJwksUnreachable):
        await cache.key_for(URL, "k1")
    fetch.reply = answer({"keys": [jwk(keys[0], "k1")]})
    assert await cache.key_for(URL, "k1") is not None


# -- each failure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reply", "error", "says"), [
    (CallbackFailed("ConnectError: [Errno 111] Connection refused"), PartnerJwksUnreachable, "could not be reached"),
    (OSError("name or service not known"), PartnerJwksUnreachable, "could not be reached"),
    (CallbackTimedOut("no answer within 5 s"), PartnerJwksTimeout, "did not answer"),
    (TimeoutError(), PartnerJwksTimeout, "did not answer"),
    (CallbackMalformed("invalid status line"), PartnerJwksMalformed, "not valid HTTP"),
    (answer(b"oops", status=500), PartnerJwksUnreachable, "answered 500"),
    (answer(b"", status=404), PartnerJwksUnreachable, "answered 404"),
    (answer(b"", status=401), PartnerJwksUnreachable, "without authentication"),
    (answer(b"", status=302, headers={"location": "https://login.example/?next=x"}), PartnerJwksUnreachable,
     "redirects are not followed"),
    (answer(b"<html>hi</html>", headers={"content-type": "text/html"}), PartnerJwksMalformed, "not JSON \\(text/html"),
    (answer([1, 2]), PartnerJwksMalformed, "not a JWK Set"),
    (answer({"keys": {"kid": "k1"}}), PartnerJwksMalformed, "not a JWK Set"),
    (answer({"keys": []}), PartnerJwksMalformed, "key list is empty"),
    (answer({"keys": [{"kty": "oct"}]}, truncated=True), PartnerJwksMalformed, "larger than the read cap"),
])
async def test_each_fetch_failure_has_its_own_error(reply: Any, error: type[SimulatorError], says: str,
                                                    make_cache: Any) -> None:
    cache, _ = make_cache(reply, timeout=5)
    records: list[JwksFetchRecord] = []
    with pytest.raises(error, match=says) as caught:
        await cache.key_for(URL, "k1", records)
    assert records[0].error == caught.value.message


async def test_no_usable_rs256_key(keys: list[rsa.RSAPrivateKey], make_cache: Any) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "ec1"}
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    body = {"keys": [ec_jwk, jwk(small, "small"), {**jwk(keys[0], "k1"), "use": "enc"}, jwk(keys[0], "")]}
    cache, _ = make_cache(answer(body))
    with pytest.raises(PartnerJwksMalformed, match="no key in it is an RSA key usable for RS256") as caught:
        await cache.key_for(URL, "k1")
    message = caught.value.message
    for why in ("kty must be \"RSA\"", "1024 bits", "use must be \"sig\"", "kid must be a non-empty string"):
        assert why in message


async def test_a_jwks_with_private_parts_is_refused_whole(keys: list[rsa.RSAPrivateKey], make_cache: Any) -> None:
    private = jwt.algorithms.RSAAlgorithm.to_jwk(keys[1], as_dict=True)
    body = {"keys": [jwk(keys[0], "k1"), {**private, "kid": "leaky"}]}
    cache, _ = make_cache(answer(body))
    with pytest.raises(PartnerJwksMalformed, match=r"publishes private key material .*'leaky'") as caught:
        await cache.key_for(URL, "k1")
    for member in ("d", "p", "q"):
        assert private[member] not in caught.value.message
    assert cache.cached(URL) == {}


def test_unusable_keys_are_skipped_and_listed(keys: list[rsa.RSAPrivateKey]) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "ec1"}
    body = json.dumps({"keys": [ec_jwk, jwk(keys[0], "k1"), jwk(keys[1], "k1"), "junk"]}).encode()
    parsed = parse_jwks(body, URL)
    assert list(parsed.keys) == ["k1"]
    assert len(parsed.skipped) == 3 and "duplicate kid" in parsed.skipped[1]


async def test_the_timeout_is_enforced_here_too(make_cache: Any) -> None:
    cache = JwksCache(_never_answers, Clock(base=lambda: T0), timeout=0.01)
    with pytest.raises(PartnerJwksTimeout, match=r"within 0.01 s"):
        await cache.key_for(URL, "k1")


async def _never_answers(url: str) -> UserDetailResponse:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def test_urls_are_shown_without_credentials(make_cache: Any) -> None:
    cache, _ = make_cache(CallbackFailed("refused"))
    records: list[JwksFetchRecord] = []
    with pytest.raises(PartnerJwksUnreachable) as caught:
        await cache.key_for("https://user:hunter2@idp.example/jwks?token=s3cret", "k1", records)
    for shown in (caught.value.message, json.dumps(records[0].as_dict())):
        assert "hunter2" not in shown and "s3cret" not in shown and "idp.example/jwks" in shown


async def test_invalidate_and_reset(keys: list[rsa.RSAPrivateKey], make_cache: Any) -> None:
    cache, fetch = make_cache(answer({"keys": [jwk(keys[0], "k1")]}))
    await cache.key_for(URL, "k1")
    assert set(cache.cached(URL)) == {"k1"}
    cache.invalidate(URL)
    await cache.key_for(URL, "k1")
    cache.reset()
    await cache.key_for(URL, "k1")
    assert fetch.calls == 3


async def test_concurrent_first_uses_fetch_once(keys: list[rsa.RSAPrivateKey], make_cache: Any) -> None:
    cache, fetch = make_cache(answer({"keys": [jwk(keys[0], "k1")]}))
    found = await asyncio.gather(*(cache.key_for(URL, "k1") for _ in range(5)))
    assert all(k is not None for k in found) and fetch.calls == 1


async def test_verifying_a_token_through_the_cache(keys: list[rsa.RSAPrivateKey], make_cache: Any, clock: Clock) -> None:
    cache, _ = make_cache(answer({"keys": [jwk(keys[0], "k1")]}))
    now = int(clock.now())
    claims = {"email": "ada@example.com", "aud": "spotnana", "iat": now, "exp": now + 3600}
    token = jwt.encode(claims, keys[0], algorithm="RS256", headers={"kid": "k1"})
    verified = await averify_partner_jwt(token, cache.lookup(URL), JwtExpectations(), clock)
    assert verified.email == "ada@example.com" and verified.key.source == f"jwks {URL}"
    other = jwt.encode(claims, keys[1], algorithm="RS256", headers={"kid": "k9"})
    with pytest.raises(SubjectJwtUnknownKid):
        await averify_partner_jwt(other, cache.lookup(URL), JwtExpectations(), clock)


@pytest.mark.parametrize(("error", "status", "code"), [
    (PartnerJwksUnreachable, 502, "PARTNER_JWKS_UNREACHABLE"),
    (PartnerJwksTimeout, 504, "PARTNER_JWKS_TIMEOUT"),
    (PartnerJwksMalformed, 502, "PARTNER_JWKS_INVALID"),
])
def test_jwks_failure_rows(error: type[SimulatorError], status: int, code: str) -> None:
    table = ErrorTable()
    assert (table.render(error("x"), SPOTNANA).status, table.render(error("x"), SPOTNANA).error_code) == (status, code)
    rfc = table.render(error("x"), RFC6749)
    assert (rfc.status, rfc.body["error"]) == (503, "temporarily_unavailable")



async def test_an_unknown_kid_right_after_the_first_fetch_does_not_fetch_again() -> None:
    """The first fetch happened just now: the unknown-kid refetch interval counts from it, even though
    the clock moved on while the fetch ran."""
    import json as json_module

    from spotnana_sim.core.clock import Clock
    from spotnana_sim.core.partner_jwks import JwksCache
    from spotnana_sim.core.user_detail import UserDetailResponse
    from spotnana_sim.reference.partner_idp import PartnerIdentityProvider

    ticks = iter(range(1_000_000, 2_000_000))
    clock = Clock(base=lambda: float(next(ticks)) / 1000)  # every reading a millisecond later, as a real clock's
    body = json_module.dumps(PartnerIdentityProvider().jwks()).encode()
    fetches: list[str] = []

    async def fetch(url: str) -> UserDetailResponse:
        fetches.append(url)
        return UserDetailResponse(200, {"content-type": "application/json"}, body)

    cache = JwksCache(fetch=fetch, clock=clock)
    assert await cache.key_for("https://idp.example/jwks", "no-such-kid") is None
    assert len(fetches) == 1
