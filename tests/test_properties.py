"""Properties over generated token requests and generated user-detail answers (hypothesis).

Every request goes through the real app in-process (httpx.ASGITransport): one event loop per module
(``asyncio.Runner``) so hypothesis drives plain synchronous tests. Invariants checked on every example:
no 500; every answer is JSON matching the OpenAPI document for its status in the configured dialect;
a validation error names a field that really is wrong; a success's tokens verify against the JWKS
with consistent claims; no secret or token appears whole in a response, the journal or a log line;
the journal grows by exactly one entry per request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import jsonschema
import jwt
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from spotnana_sim.core.errors import RFC6749, SPOTNANA
from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    FORM_CONTENT_TYPE,
    OPENID_SCOPE,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.settings import ClientConfig, Settings
from spotnana_sim.core.token_request import DEFAULT_MAX_FIELD_LENGTH, MAX_FIELD_LENGTH, MAX_FIELDS
from spotnana_sim.core.tokens import KeySet
from spotnana_sim.core.user_detail import MAX_BODY_BYTES as USER_DETAIL_CAP
from spotnana_sim.core.user_detail import CallbackFailed, CallbackTimedOut, UserDetailResponse
from spotnana_sim.harness.endpoint import MAX_BODY_BYTES as BODY_CAP
from spotnana_sim.harness.simulator import build_simulator
from spotnana_sim.reference.user_detail import DEMO_USERS
from spotnana_sim.server.app import create_app
from spotnana_sim.server.inprocess import build_in_process
from spotnana_sim.server.openapi import openapi_document

KEYS = KeySet.generate()  # one RSA key for the module: generating one per example would dominate the run
CLIENT_ID, CLIENT_SECRET = "prop-client", "prop-secret-3f9a1c77e0"
FIELDS = ("grant_type", "client_id", "client_secret", "subject_token", "subject_token_type", "scope", "audience")
SECRET_FIELDS = ("client_secret", "subject_token")
GRANT_FIELDS = {
    TOKEN_EXCHANGE_GRANT: ("grant_type", "client_id", "client_secret", "subject_token", "subject_token_type", "scope"),
    CLIENT_CREDENTIALS_GRANT: ("grant_type", "client_id", "client_secret"),
}
VALID = {
    "grant_type": TOKEN_EXCHANGE_GRANT,
    "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET,
    "subject_token": "demo-token-grace",
    "subject_token_type": ACCESS_TOKEN_TYPE,
    "scope": OPENID_SCOPE,
    "audience": "https://apis.spotnana.com/v2",
}
# Values that appear legitimately in answers; a "secret" equal to a piece of them proves nothing.
PUBLIC_TEXT = " ".join([*VALID.values(), CLIENT_CREDENTIALS_GRANT, FORM_CONTENT_TYPE, TOKEN_ENDPOINT_PATH])
LEAK_MIN_LENGTH = 10  # shorter generated values occur by chance inside ordinary text


def _limit(name: str) -> int:
    return MAX_FIELD_LENGTH.get(name, DEFAULT_MAX_FIELD_LENGTH)


class LogCapture(logging.Handler):
    """Every formatted log line (tracebacks included) emitted while a harness is alive."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))



@contextmanager
def _capturing_logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(previous)


def _schema_for(document: dict[str, Any], status: int, method: str = "post") -> dict[str, Any]:
    """The response schema the OpenAPI document gives the token endpoint for ``status``."""
    responses = document["paths"][TOKEN_ENDPOINT_PATH][method]["responses"]
    assert str(status) in responses, f"status {status} is not documented; documented: {sorted(responses)}"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}  # so "#/components/..." refs resolve


@dataclass
class Harness:
    runner: asyncio.Runner
    app: Any
    journal: Any
    dialect: str
    document: dict[str, Any]
    logs: LogCapture
    client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://sim.test")

    def send(self, method: str, content_type: str | None, body: bytes) -> httpx.Response:
        headers = {"content-type": content_type} if content_type is not None else {}
        return self.runner.run(self.client.request(method, TOKEN_ENDPOINT_PATH, content=body, headers=headers))

    def jwks(self) -> dict[str, Any]:
        return self.runner.run(self.client.get("/.well-known/jwks.json")).json()

    def last_id(self) -> int:
        entries = self.journal.entries()
        return entries[-1]["id"] if entries else 0


def _check_error_shape(harness: Harness, response: httpx.Response, *, post: bool = True) -> dict[str, Any]:
    body = response.json()
    if post:
        schema = _schema_for(harness.document, response.status_code)
    else:  # other methods are not operations of the document: they get the dialect's error shape
        name = "SpotnanaError" if harness.dialect == SPOTNANA else "Rfc6749Error"
        schema = {"$ref": f"#/components/schemas/{name}", "components": harness.document["components"]}
    jsonschema.validate(body, schema)
    if harness.dialect == SPOTNANA:
        assert "error" not in body
    else:
        assert "errorMessages" not in body
    return body


def _named_field(dialect: str, body: dict[str, Any]) -> str:
    if dialect == SPOTNANA:
        parameters = body["errorMessages"][0]["errorParameters"]
        assert parameters, f"a validation error must name its field: {body}"
        name = parameters[0]["name"]
        assert body["errorMessages"][0]["message"].startswith(f"{name}:")
        return str(name)
    description = body["error_description"]
    return str(description.split(":", 1)[0])


def _verify_tokens(harness: Harness, body: dict[str, Any], client_id: str, email: str | None) -> dict[str, Any]:
    jwks = jwt.PyJWKSet.from_dict(harness.jwks())
    kid = jwt.get_unverified_header(body["access_token"])["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = jwt.decode(body["access_token"], key.key, algorithms=["RS256"], options={"verify_aud": False})
    assert claims["client_id"] == client_id
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert body["token_type"] == "Bearer"
    if email is None:
        assert "refresh_token" not in body
    else:
        assert claims["email"] == email
        assert body["refresh_token"] and body["scope"] == OPENID_SCOPE
    return claims


def _assert_nothing_leaks(harness: Harness, response_text: str, secrets: set[str], tokens: set[str], first_log: int) -> None:
    journal_text = json.dumps(harness.journal.entries()[-1].to_json(), ensure_ascii=False)  # only this request's entry
    logs = "\n".join(harness.logs.lines[first_log:])
    for secret in secrets:
        assert secret not in response_text, "a secret came back whole in the response"
    for value in secrets | tokens:
        assert value not in journal_text, "a secret or token is whole in the journal"
        assert value not in logs, "a secret or token is whole in a log line"


# ----------------------------------------------------------------------------- generated requests ----

text_values = st.one_of(
    st.just(""),
    st.text(max_size=24),
    st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x2FFF), min_size=1, max_size=12),
)


@st.composite
def field_value(draw: st.DrawFn, name: str) -> str:
    limit = _limit(name)
    return draw(st.one_of(
        st.just(VALID[name]),
        st.just(VALID[name]),
        st.just(VALID[name]),
        st.just(VALID[name]),
        text_values,
        st.integers(limit - 1, limit + 2).map(lambda n: "x" * n),  # either side of the length cap
    ))


@dataclass(frozen=True)
class GeneratedRequest:
    method: str
    content_type: str | None
    pairs: tuple[tuple[str, str], ...]
    raw: bytes | None  # sent instead of the encoded pairs

    def body(self) -> bytes:
        return self.raw if self.raw is not None else urlencode(self.pairs).encode("ascii")

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]


@st.composite
def near_valid_requests(draw: st.DrawFn) -> GeneratedRequest:
    """A correct request with at most one field changed: reaches client auth, the callback and success."""
    grant = draw(st.sampled_from([TOKEN_EXCHANGE_GRANT, CLIENT_CREDENTIALS_GRANT]))
    values = {name: VALID[name] for name in GRANT_FIELDS[grant]}
    values["grant_type"] = grant
    if grant == TOKEN_EXCHANGE_GRANT:
        values["subject_token"] = draw(st.sampled_from(sorted(DEMO_USERS)))
    if draw(st.booleans()):
        values["audience"] = VALID["audience"]
    changed = draw(st.sampled_from([None, None, *values]))
    if changed is not None:
        values[changed] = draw(field_value(changed))
    return GeneratedRequest("POST", FORM_CONTENT_TYPE, tuple(values.items()), None)


@st.composite
def wild_requests(draw: st.DrawFn) -> GeneratedRequest:
    grant = draw(st.sampled_from([TOKEN_EXCHANGE_GRANT, CLIENT_CREDENTIALS_GRANT]))
    pairs: list[tuple[str, str]] = []
    for name in FIELDS:
        if name == "grant_type":
            value = draw(st.one_of(st.just(grant), st.just(grant), field_value(name)))
        elif name in GRANT_FIELDS[TOKEN_EXCHANGE_GRANT] and name in ("subject_token",):
            value = draw(st.one_of(st.sampled_from(sorted(DEMO_USERS)), field_value(name)))
        else:
            value = draw(field_value(name))
        copies = draw(st.sampled_from([1] * 12 + [0, 2]))
        if name == "audience":
            copies = draw(st.sampled_from([0, 1]))
        pairs += [(name, value)] * copies
    pairs += draw(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=8)), max_size=3))
    pairs = draw(st.permutations(pairs))
    content_type = draw(st.one_of(
        *[st.just(FORM_CONTENT_TYPE)] * 6,
        st.just(FORM_CONTENT_TYPE + "; charset=UTF-8"),
        st.just("APPLICATION/X-WWW-FORM-URLENCODED"),
        st.sampled_from(["application/json", "multipart/form-data; boundary=x", "text/plain", ""]),
        st.none(),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    ))
    method = draw(st.sampled_from(["POST"] * 16 + ["GET", "PUT", "DELETE", "PATCH"]))
    raw = draw(st.one_of(*[st.none()] * 8, st.binary(max_size=64),
                         st.just(b"a=1&" * (MAX_FIELDS + 1))))
    return GeneratedRequest(method, content_type, tuple(pairs), raw)


token_requests = st.one_of(near_valid_requests(), wild_requests())


def _problems(request: GeneratedRequest) -> set[str]:
    """The fields a correct implementation may name, by a simple model of the rules in grants.py."""
    grant_values = request.values("grant_type")
    grant = grant_values[0] if len(grant_values) == 1 else None
    used = GRANT_FIELDS.get(grant or "", ("grant_type",))
    bad = set()
    for name in (*used, "audience"):
        values = request.values(name)
        if name == "audience" and not values:
            continue
        if len(values) != 1 or values[0] == "" or len(values[0]) > _limit(name):
            bad.add(name)
    if grant not in GRANT_FIELDS:
        bad |= {"grant_type"}
    if grant == TOKEN_EXCHANGE_GRANT:
        if request.values("subject_token_type") != [ACCESS_TOKEN_TYPE]:
            bad.add("subject_token_type")
        if request.values("scope") != [OPENID_SCOPE]:
            bad.add("scope")
    return bad


def _is_form(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == FORM_CONTENT_TYPE


@pytest.fixture(scope="module", params=[SPOTNANA, RFC6749])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    dialect = request.param
    profiles = tuple(DEMO_USERS.values())
    config = Settings(clients=(ClientConfig(CLIENT_ID, CLIENT_SECRET),), profiles=profiles, errors=dialect,
                      journal_size=100_000)
    with asyncio.Runner() as runner, _capturing_logs() as capture:
        sim = build_in_process(config, keys=KEYS)
        harness = Harness(runner, sim.app, sim.simulator.journal, dialect,
                          openapi_document(sim.simulator.endpoint.errors, dialect), capture)
        yield harness
        runner.run(harness.client.aclose())
        runner.run(sim.aclose())


@settings(max_examples=150, deadline=None)
@given(request=token_requests)
def test_generated_token_requests_keep_every_invariant(harness: Harness, request: GeneratedRequest) -> None:
    before, first_log = harness.last_id(), len(harness.logs.lines)
    response = harness.send(request.method, request.content_type, request.body())

    event(f"status {response.status_code}")
    assert response.status_code != 500, response.text
    assert harness.last_id() == before + 1, "exactly one journal entry per request"
    entry = harness.journal.entries()[-1]
    assert entry["method"] == request.method and entry["status"] == response.status_code
    assert response.headers["cache-control"] == "no-store"

    tokens: set[str] = set()
    if response.status_code == 200:
        body = response.json()
        jsonschema.validate(body, _schema_for(harness.document, 200))
        grant = request.values("grant_type")[0]
        email = DEMO_USERS[request.values("subject_token")[0]] if grant == TOKEN_EXCHANGE_GRANT else None
        _verify_tokens(harness, body, CLIENT_ID, email)
        tokens = {body["access_token"], body.get("refresh_token") or body["access_token"]}
        assert request.method == "POST" and request.raw is None and not _problems(request)
    elif request.method != "POST":
        assert response.status_code in (405, 413)
        _check_error_shape(harness, response, post=False)
    else:
        body = _check_error_shape(harness, response)
        if response.status_code == 400:
            named = _named_field(harness.dialect, body)
            if not _is_form(request.content_type):
                assert named == "Content-Type"
            elif request.raw is not None:
                assert named in (*FIELDS, "body")
            elif harness.dialect == RFC6749 and not _problems(request):
                # Well-formed, yet refused: rfc6749 answers these with 400 as well (RFC 6749 §5.2: a
                # client authenticated in the body; RFC 8693 §2.2.2: a subject token nobody owns).
                assert body["error"] in {"invalid_client", "invalid_request", "invalid_grant", "unauthorized_client"}
            else:
                assert named in _problems(request), f"{named!r} was named but is fine"
        elif response.status_code == 413:  # the size cap comes before any field is looked at
            assert len(request.body()) > BODY_CAP, f"413 for a body of {len(request.body())} bytes"
        elif request.raw is None and _is_form(request.content_type):
            assert not _problems(request), f"{response.status_code} although {_problems(request)} are wrong"
        if len(request.body()) > BODY_CAP:
            assert response.status_code == 413, f"{response.status_code} for a body of {len(request.body())} bytes"

    secrets = {CLIENT_SECRET}
    secrets |= {v for k, v in request.pairs if k in SECRET_FIELDS and len(v) >= LEAK_MIN_LENGTH}
    # A value also sent in a non-secret field (or as a name) may be echoed from there. Hypothesis also
    # draws strings from the code's own constants: a "secret" that is a word every answer carries anyway
    # (an envelope key such as debugIdentifier, an error code: all in the OpenAPI document) is no leak.
    public = PUBLIC_TEXT + json.dumps(harness.document) + " ".join(
        f"{k} {v}" for k, v in request.pairs if k not in SECRET_FIELDS)
    secrets = {s for s in secrets if s not in public}
    _assert_nothing_leaks(harness, response.text, secrets, tokens, first_log)


def test_the_served_document_is_the_one_checked_against(harness: Harness) -> None:
    served = harness.runner.run(harness.client.get("/openapi.json"))
    assert served.status_code == 200
    assert served.json() == harness.document


# ------------------------------------------------------------------- generated user-detail answers ----


@dataclass(frozen=True)
class Answer:
    kind: str  # "response", "timeout" or "unreachable"
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


class ScriptedHttp:
    """A ``UserDetailHttp`` that answers with whatever the current example scripted, cut at the cap as httpx is."""

    def __init__(self) -> None:
        self.answer = Answer("unreachable")
        self.calls = 0

    async def get(
        self, url: str, headers: Mapping[str, str], timeout: float, max_bytes: int, *, ca_file: str | None = None,
    ) -> UserDetailResponse:
        self.calls += 1
        answer = self.answer
        assert headers["Authorization"].startswith("Bearer ")
        if answer.delay:
            await asyncio.sleep(0)  # a slow answer lets other work run first; its time is not waited out
        if answer.kind == "timeout" or answer.delay >= timeout:  # as a real client would, by the client's timeout
            raise CallbackTimedOut(f"no answer within {timeout:g} s")
        if answer.kind == "unreachable":
            raise CallbackFailed("ConnectError: connection refused")
        truncated = len(answer.body) > max_bytes
        return UserDetailResponse(answer.status, dict(answer.headers), answer.body[:max_bytes], truncated)


PROFILES = ("ada@example.com", "Grace@Example.com")
CUSTOM_FIELD = "data.attributes.mail"
UD_CLIENTS = (ClientConfig("ud-default", "ud-default-secret-1"), ClientConfig("ud-custom", "ud-custom-secret-22",
                                                                              email_field=CUSTOM_FIELD))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
emails = st.one_of(
    st.sampled_from(PROFILES),
    st.sampled_from(PROFILES).map(str.upper),
    st.sampled_from(PROFILES).map(lambda e: f"  {e}\t"),
    st.emails().map(str),
    st.text(max_size=10),
    json_values,
)


def _nest(path: str, value: Any) -> Any:
    for segment in reversed(path.split(".")):
        value = {segment: value}
    return value


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    kind = draw(st.sampled_from(["response"] * 8 + ["timeout", "unreachable"]))
    delay = draw(st.sampled_from([0.0, 0.0, 0.0, 0.005]))  # well below the client's 5 s timeout
    status = draw(st.one_of(st.just(200), st.just(200), st.just(200), st.sampled_from([401, 403, 404, 302, 500, 503]),
                            st.integers(100, 599)))
    path = draw(st.sampled_from(["user.email", CUSTOM_FIELD]))
    document = draw(st.one_of(st.builds(_nest, st.just(path), emails), json_values))
    body = draw(st.one_of(
        st.just(json.dumps(document).encode()),
        st.just(json.dumps(document).encode()),
        st.binary(max_size=40),
        st.just(b" " * USER_DETAIL_CAP + json.dumps(document).encode()),  # valid JSON, but past the read cap
    ))
    headers = draw(st.dictionaries(st.sampled_from(["content-type", "location", "x-any"]),
                                   st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
                                   max_size=3))
    return Answer(kind, status, headers, body, delay)


def _expected(answer: Answer, email_field: str) -> tuple[int, str | None, str | None]:
    """(status, errorCode, email claim): the documented and modeled outcomes, as a model independent of identity.py."""
    if answer.kind == "timeout":
        return 504, "USER_DETAIL_TIMEOUT", None
    if answer.kind == "unreachable":
        return 502, "USER_DETAIL_UNREACHABLE", None
    if answer.status in (401, 403):
        return 401, "USER_NOT_AUTHENTICATED", None
    if answer.status >= 500:
        return 502, "USER_DETAIL_SERVER_ERROR", None
    if answer.status != 200:
        return 502, "USER_DETAIL_UNEXPECTED_STATUS", None
    if len(answer.body) > USER_DETAIL_CAP:
        return 502, "USER_DETAIL_RESPONSE_TOO_LARGE", None
    try:
        node = json.loads(answer.body)
    except ValueError:
        return 502, "USER_DETAIL_INVALID_RESPONSE", None
    for segment in email_field.split("."):
        node = node.get(segment) if isinstance(node, dict) else None
    if not isinstance(node, str) or "@" not in node:
        return 502, "USER_DETAIL_EMAIL_MISSING", None
    match = [p for p in PROFILES if p.casefold() == node.strip().casefold()]
    return (200, None, match[0]) if match else (403, "USER_NOT_FOUND", None)


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[asyncio.Runner, httpx.AsyncClient, ScriptedHttp, Any]]:
    http = ScriptedHttp()
    sim = build_simulator(Settings(clients=UD_CLIENTS, profiles=PROFILES), base_url="http://sim.test", keys=KEYS, http=http)
    with asyncio.Runner() as runner:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sim)), base_url="http://sim.test")
        yield runner, client, http, sim
        runner.run(client.aclose())


@settings(max_examples=120, deadline=None)
@given(answer=answers(), which=st.sampled_from(UD_CLIENTS))
def test_every_user_detail_answer_has_its_documented_outcome(
    scripted: tuple[asyncio.Runner, httpx.AsyncClient, ScriptedHttp, Any], answer: Answer, which: ClientConfig
) -> None:
    runner, client, http, sim = scripted
    http.answer = answer
    calls = http.calls
    form = {"grant_type": TOKEN_EXCHANGE_GRANT, "client_id": which.client_id, "client_secret": which.client_secret,
            "subject_token": "partner-subject-token-7d1e", "subject_token_type": ACCESS_TOKEN_TYPE, "scope": OPENID_SCOPE}
    response = runner.run(client.post(TOKEN_ENDPOINT_PATH, data=form))

    status, code, email = _expected(answer, which.email_field)
    event(f"expected {status} {code}")
    assert http.calls == calls + 1, "exactly one user-detail call per exchange"
    assert response.status_code == status, response.text
    body = response.json()
    if code is None:
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert claims["email"] == email and claims["client_id"] == which.client_id
    else:
        assert body["errorMessages"][0]["errorCode"] == code
    entry = sim.journal.entries()[-1]
    assert entry["status"] == status and len(entry["user_detail_calls"]) == 1
    assert "partner-subject-token-7d1e" not in json.dumps(entry.to_json()) + response.text


def test_the_documented_clock_bound_is_the_enforced_one() -> None:
    from spotnana_sim.core import clock
    from spotnana_sim.server import openapi_schemas

    assert openapi_schemas.LATEST_CLOCK_TIME == clock.LATEST_TIME
