"""The admin API (/_sim/...) answers its owner only, over real HTTP; and no secret shows anywhere.

A web page the developer happens to visit can make their browser send requests to
http://127.0.0.1:PORT: a "simple" cross-site POST (text/plain, no preflight) or, after DNS
rebinding, any request with a foreign Host header. The loopback check alone lets both in. So:
a foreign Origin (``null`` included) or a foreign Host is refused, admin bodies must be JSON,
admin values pass the same validators as the config file, and proxy headers are not trusted
unless asked for. Then: credentials in user-detail URLs and secret-like form fields are redacted
everywhere the simulator shows them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from spotnana_sim.core.config_file import settings_from_document
from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    OPENID_SCOPE,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.settings import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    ClientConfig,
    ConfigError,
    Settings,
)
from spotnana_sim.harness.simulator import Simulator

from ..hostile_servers import (
    HANG_GUARD,
    RawConnection,
    ScriptedServer,
    SeenRequest,
    email_body,
    http_answer,
)
from ..serve_process import ServeProcess
from ..servers import ServerThread, free_port, running_simulator

pytestmark = pytest.mark.e2e

ATTACKER = "http://attacker.example"
ADMIN_TOKEN = "t0ken-for-the-admin-api-7c1e"


@pytest.fixture
def sim(module_simulator: tuple[ServerThread, Simulator]) -> Iterator[ServerThread]:
    """The shared simulator, put back to its starting state after each test (whatever got through)."""
    server, simulator = module_simulator
    simulator.reset()
    yield server
    simulator.reset()


def own_origin(sim: ServerThread) -> str:
    return f"http://127.0.0.1:{sim.port}"


def clients_view(sim: ServerThread) -> Any:
    response = httpx.get(sim.url + "/_sim/clients")
    assert response.status_code == 200, response.text
    return response.json()


def message_of(response: httpx.Response) -> str:
    return str(response.json()["errorMessages"][0]["message"])


# Every admin route and method; bodies are ones the route accepts.
ADMIN_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/_sim/journal", None),
    ("DELETE", "/_sim/journal", None),
    ("GET", "/_sim/clients", None),
    ("POST", "/_sim/clients", {"id": DEMO_CLIENT_ID, "user_detail_url": "http://127.0.0.1:9/v1/user-detail"}),
    ("GET", "/_sim/faults", None),
    ("POST", "/_sim/faults", {"target": "token-endpoint", "delay": 0.01}),
    ("DELETE", "/_sim/faults", None),
    ("GET", "/_sim/clock", None),
    ("POST", "/_sim/clock", {"advance": 1}),
    ("POST", "/_sim/keys/rotate", None),
    ("GET", "/_sim/profiles", None),
    ("POST", "/_sim/profiles", {"email": "new@example.com"}),
    ("POST", "/_sim/reset", None),
]
CALL_IDS = [f"{method} {path}" for method, path, _ in ADMIN_CALLS]


def admin_call(sim: ServerThread, method: str, path: str, body: dict[str, Any] | None, **headers: str) -> httpx.Response:
    return httpx.request(method, sim.url + path, json=body, headers=headers)


# ------------------------------------------------------------------------------- Origin ----


def test_a_cross_site_text_plain_post_cannot_repoint_a_client(sim: ServerThread) -> None:
    before = clients_view(sim)
    body = json.dumps({"id": DEMO_CLIENT_ID, "user_detail_url": "http://attacker.example/v1/user-detail"})
    response = httpx.post(sim.url + "/_sim/clients", content=body,
                          headers={"Content-Type": "text/plain", "Origin": ATTACKER})
    assert response.status_code == 403, response.text
    assert clients_view(sim) == before


@pytest.mark.parametrize("origin", [ATTACKER, "null", "http://127.0.0.1:{other}"], ids=["attacker", "null", "other-port"])
@pytest.mark.parametrize("method, path, body", ADMIN_CALLS, ids=CALL_IDS)
def test_a_foreign_origin_is_refused(sim: ServerThread, method: str, path: str, body: Any, origin: str) -> None:
    before = clients_view(sim)
    response = admin_call(sim, method, path, body, Origin=origin.format(other=sim.port + 1))
    assert response.status_code == 403, response.text
    assert clients_view(sim) == before


@pytest.mark.parametrize("method, path, body", ADMIN_CALLS, ids=CALL_IDS)
def test_the_simulators_own_origin_is_allowed(sim: ServerThread, method: str, path: str, body: Any) -> None:
    response = admin_call(sim, method, path, body, Origin=own_origin(sim))
    assert 200 <= response.status_code < 300, response.text


# --------------------------------------------------------------------------------- Host ----


def test_a_rebound_host_is_refused(sim: ServerThread) -> None:
    response = httpx.get(sim.url + "/_sim/journal", headers={"Host": "rebind.attacker.example"})
    assert response.status_code == 403, response.text
    response = httpx.get(sim.url + "/_sim/journal", headers={"Host": f"rebind.attacker.example:{sim.port}"})
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "localhost"])
def test_loopback_hosts_are_allowed(sim: ServerThread, host: str) -> None:
    response = httpx.get(sim.url + "/_sim/journal", headers={"Host": host.format(port=sim.port)})
    assert response.status_code == 200, response.text


def test_configured_admin_hosts_are_allowed() -> None:
    settings = Settings(admin_hosts=("sim.internal",))  # type: ignore[call-arg]  # the field the fix adds
    with running_simulator(settings) as (server, _):
        allowed = httpx.get(server.url + "/_sim/journal", headers={"Host": f"sim.internal:{server.port}"})
        refused = httpx.get(server.url + "/_sim/journal", headers={"Host": f"rebind.attacker.example:{server.port}"})
    assert allowed.status_code == 200, allowed.text
    assert refused.status_code == 403, refused.text


# -------------------------------------------------------------------------- admin token ----


@pytest.fixture(scope="module")
def token_sim() -> Iterator[ServerThread]:
    with running_simulator(Settings(admin_token=ADMIN_TOKEN)) as (server, _):
        yield server


def test_the_admin_token_opens_the_api(token_sim: ServerThread) -> None:
    response = httpx.get(token_sim.url + "/_sim/journal", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200, response.text


def test_a_wrong_admin_token_is_refused(token_sim: ServerThread) -> None:
    response = httpx.get(token_sim.url + "/_sim/journal", headers={"Authorization": f"Bearer {ADMIN_TOKEN}x"})
    assert response.status_code == 403, response.text
    assert ADMIN_TOKEN not in response.text


def test_a_foreign_host_needs_the_admin_token(token_sim: ServerThread) -> None:
    foreign = {"Host": f"sim.example.net:{token_sim.port}"}
    with_token = httpx.get(token_sim.url + "/_sim/journal", headers={**foreign, "Authorization": f"Bearer {ADMIN_TOKEN}"})
    without = httpx.get(token_sim.url + "/_sim/journal", headers=foreign)
    assert with_token.status_code == 200, with_token.text
    assert without.status_code == 403, without.text


# ------------------------------------------------------------------------ content types ----


def test_an_admin_body_that_is_not_json_is_refused_with_415(sim: ServerThread) -> None:
    response = httpx.post(sim.url + "/_sim/faults", content=json.dumps({"target": "token-endpoint", "delay": 0.01}),
                          headers={"Content-Type": "text/plain"})
    assert response.status_code == 415, response.text
    assert "application/json" in message_of(response)
    assert httpx.get(sim.url + "/_sim/faults").json()["faults"] == []


def test_an_admin_body_without_a_content_type_is_refused_with_415(sim: ServerThread) -> None:
    response = httpx.post(sim.url + "/_sim/clock", content=b'{"advance": 100}')
    assert response.status_code == 415, response.text
    assert "application/json" in message_of(response)


def test_json_with_a_charset_is_accepted(sim: ServerThread) -> None:
    response = httpx.post(sim.url + "/_sim/faults", content=json.dumps({"target": "token-endpoint", "delay": 0.01}),
                          headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201, response.text


def test_a_bodyless_admin_post_needs_no_content_type(sim: ServerThread) -> None:
    response = httpx.post(sim.url + "/_sim/reset")
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------- validated values ----


def loader_problem(field: str, value: Any) -> str:
    """What the config file loader says about ``[[clients]] <field> = <value>``."""
    document = {"clients": [{"id": DEMO_CLIENT_ID, "secret": DEMO_CLIENT_SECRET, field: value}]}
    try:
        settings_from_document(document, "x")
    except ConfigError as exc:
        return exc.problem
    pytest.fail(f"the config loader accepts [[clients]] {field} = {value!r}; it must refuse it too")


BAD_VALUES = [
    ("timeout", "NaN"),
    ("timeout", "-1"),
    ("timeout", "1e9"),
    ("user_detail_url", '"file:///etc/passwd"'),
    ("user_detail_url", '"http://169.254.169.254/latest/meta-data"'),
    ("user_detail_url", '"http://[fe80::1]/x"'),
    ("user_detail_url", '"ftp://x"'),
]


@pytest.mark.parametrize("field, raw", BAD_VALUES, ids=[f"{f}={r}" for f, r in BAD_VALUES])
def test_admin_values_pass_the_config_validators(sim: ServerThread, field: str, raw: str) -> None:
    before = clients_view(sim)
    response = httpx.post(sim.url + "/_sim/clients", content=f'{{"id": "{DEMO_CLIENT_ID}", "{field}": {raw}}}',
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    message = message_of(response)
    assert field in message, message
    problem = loader_problem(field, json.loads(raw))
    assert problem in message, f"admin says {message!r}; the config loader says {problem!r}"
    assert clients_view(sim) == before


def test_the_timeout_problem_reads_as_in_the_config_file(sim: ServerThread) -> None:
    response = httpx.post(sim.url + "/_sim/clients", json={"id": DEMO_CLIENT_ID, "timeout": -1})
    assert response.status_code == 400, response.text
    with pytest.raises(ConfigError) as caught:
        settings_from_document({"clients": [{"id": "a", "secret": "s", "timeout": -1}]}, "x")
    assert caught.value.problem in message_of(response)


# ------------------------------------------------------------------------ proxy headers ----


@pytest.mark.parametrize("args, expected", [((), 200), (("--forwarded-allow-ips", "127.0.0.1"), 403)],
                         ids=["ignored-by-default", "trusted-when-asked"])
def test_forwarded_for_is_trusted_only_when_asked(
    start_serve: Callable[..., ServeProcess], args: tuple[str, ...], expected: int,
) -> None:
    server = start_serve("--log-level", "warning", *args)
    response = httpx.get(server.url + "/_sim/journal", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == expected, response.text


# ---------------------------------------------------------------------------- redaction ----

URL_PASSWORD, URL_KEY = "pw-SECRET1", "SECRET2"


async def answer_with_ada(request: SeenRequest, connection: RawConnection) -> bool:
    return await connection.send(http_answer(200, email_body("ada@example.com")))


def test_credentials_in_user_detail_urls_never_show(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="spotnana_sim")
    with ScriptedServer(answer_with_ada) as partner:
        reachable = (f"http://user:{URL_PASSWORD}@127.0.0.1:{partner.port}/v1/user-detail"
                     f"?api_key={URL_KEY}&x=1")
        unreachable = f"http://user:{URL_PASSWORD}@127.0.0.1:{free_port()}/v1/user-detail?api_key={URL_KEY}&x=1"
        clients = (ClientConfig("keyed", "keyed-secret-0123456789", user_detail_url=reachable, timeout=HANG_GUARD),
                   ClientConfig("down", "down-secret-0123456789", user_detail_url=unreachable))
        with running_simulator(Settings(clients=clients)) as (server, _):
            answers = [httpx.post(server.url + TOKEN_ENDPOINT_PATH, timeout=HANG_GUARD * 2, data={
                "grant_type": TOKEN_EXCHANGE_GRANT, "client_id": client.client_id,
                "client_secret": client.client_secret, "subject_token": "tok-ada-0001",
                "subject_token_type": ACCESS_TOKEN_TYPE, "scope": OPENID_SCOPE}) for client in clients]
            shown_clients = httpx.get(server.url + "/_sim/clients")
            journal = httpx.get(server.url + "/_sim/journal")
    assert shown_clients.status_code == 200 and journal.status_code == 200
    calls = [call for entry in journal.json()["entries"] for call in entry["user_detail_calls"]]
    assert len(calls) >= 2, journal.text
    assert f"127.0.0.1:{partner.port}/v1/user-detail" in calls[0]["url"]  # still recognisable
    places = {
        "GET /_sim/clients": shown_clients.text,
        "journal": journal.text,
        "token endpoint answers": "\n".join(a.text for a in answers),
        "logs": caplog.text,
    }
    leaks = [f"{secret} in {where}" for where, text in places.items() for secret in (URL_PASSWORD, URL_KEY)
             if secret in text]
    assert not leaks, f"credentials from the URL show: {leaks}"


SECRET_LIKE_FIELDS = ("actor_token", "client_assertion", "assertion", "password", "code", "refresh_token",
                      "foo_token", "bar_secret", "x_password")


def test_secret_like_form_fields_never_show_whole_in_the_journal(sim: ServerThread) -> None:
    values = {name: f"QZXJ-{name}-VALUE-7731" for name in SECRET_LIKE_FIELDS}
    form = {"grant_type": TOKEN_EXCHANGE_GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
            "subject_token": "demo-token-ada", "subject_token_type": ACCESS_TOKEN_TYPE, "scope": OPENID_SCOPE,
            **values}
    response = httpx.post(sim.url + TOKEN_ENDPOINT_PATH, data=form)
    entry = httpx.get(sim.url + "/_sim/journal").json()["entries"][-1]
    shown = json.dumps(entry, ensure_ascii=False)
    leaked = sorted(name for name, value in values.items() if value in shown)
    assert not leaked, f"whole in the journal: {leaked}"
    assert not [name for name, value in values.items() if value in response.text]
    assert set(SECRET_LIKE_FIELDS) <= set(entry["form"])  # redacted, not dropped: a reader sees they came
