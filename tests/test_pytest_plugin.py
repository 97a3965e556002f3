"""The pytest plugin, exercised the way integrators use it: inner pytest runs through ``pytester``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from spotnana_sim.kit import testing
from spotnana_sim.reference.user_detail import create_user_detail_app

from .servers import ServerThread

pytest_plugins = ["pytester"]

INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

EXCHANGE = '''
import httpx

FORM = {
    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
    "client_id": "demo-client", "client_secret": "demo-secret",
    "subject_token": "demo-token-ada",
    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "openid",
}

def exchange(url, **changes):
    return httpx.post(url, data={**FORM, **changes})
'''


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(helpers=EXCHANGE)
    pytester.syspathinsert()
    return pytester


def test_server_starts_once_per_session_and_is_reset_before_each_test(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        from helpers import exchange
        URLS = []

        def test_first(spotnana_sim):
            URLS.append(spotnana_sim.url)
            assert spotnana_sim.url.startswith("http://127.0.0.1:")
            assert spotnana_sim.token_url == spotnana_sim.url + "/v2/auth/oauth2-token"
            assert spotnana_sim.jwks_url.endswith("/.well-known/jwks.json")
            assert exchange(spotnana_sim.token_url).status_code == 200
            spotnana_sim.add_profile("new@example.com")
            spotnana_sim.assert_exchanges(email="ada@example.com", count=1)

        def test_second(spotnana_sim):
            URLS.append(spotnana_sim.url)
            assert URLS[0] == URLS[1]
            assert spotnana_sim.journal() == []
            assert "new@example.com" not in spotnana_sim.simulator.profiles.emails()
        """
    )
    inner.runpytest().assert_outcomes(passed=2)


def test_failed_assertion_lists_the_requests_that_did_happen(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        from helpers import exchange

        def test_fetches_twice(spotnana_sim):
            exchange(spotnana_sim.token_url)
            exchange(spotnana_sim.token_url, client_secret="wrong")
            exchange(spotnana_sim.token_url)
            spotnana_sim.assert_exchanges(email="ada@example.com", count=1)

        def test_nothing_sent(spotnana_sim):
            spotnana_sim.assert_exchanges(email="ada@example.com", count=1)
        """
    )
    result = inner.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*expected 1 token-endpoint request(s) matching email=ada@example.com, status=200, found 2.",
        "*Requests the simulator received:",
        "*#1 * POST token-exchange client=demo-client email=ada@example.com -> 200",
        "*#2 * POST token-exchange client=demo-client -> 403 INVALID_CLIENT_CREDENTIALS",
        "*#3 * POST token-exchange client=demo-client email=ada@example.com -> 200",
    ])
    result.stdout.fnmatch_lines(["*received no token-endpoint request at all*"])
    assert "demo-secret" not in result.stdout.str()


def test_settings_fixture_override_and_marker(inner: pytest.Pytester) -> None:
    inner.makeconftest(
        """
        import pytest
        from spotnana_sim.core.settings import Settings

        @pytest.fixture(scope="session")
        def spotnana_sim_settings():
            return Settings(profiles=("grace@example.com",))
        """
    )
    inner.makepyfile(
        """
        import pytest
        from helpers import exchange

        def test_overridden(spotnana_sim):
            assert exchange(spotnana_sim.token_url).status_code == 403  # ada has no profile here
            assert exchange(spotnana_sim.token_url, subject_token="demo-token-grace").status_code == 200

        @pytest.mark.spotnana_sim(errors="rfc6749", profiles=["ada@example.com"])
        def test_marked(spotnana_sim):
            assert exchange(spotnana_sim.token_url).status_code == 200
            body = exchange(spotnana_sim.token_url, scope="email").json()
            assert body["error"] == "invalid_scope"

        @pytest.mark.spotnana_sim(errors="rfc6749")
        async def test_marked_in_process(spotnana_sim_app):
            async with spotnana_sim_app.client() as http:
                response = await http.post("/v2/auth/oauth2-token", data={"grant_type": "password"})
            assert response.json()["error"] == "unsupported_grant_type"
        """
    )
    inner.runpytest().assert_outcomes(passed=3)


def test_unknown_marker_setting_is_a_usage_error_naming_it(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.spotnana_sim(dialect="rfc6749")
        def test_typo(spotnana_sim):
            pass
        """
    )
    result = inner.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*spotnana_sim: dialect: not a simulator setting; accepted: *errors*"])


def test_in_process_fixture_faults_clients_and_user_detail(inner: pytest.Pytester) -> None:
    with ServerThread(create_user_detail_app({"partner-token": "lin@example.com"})) as partner:
        inner.makepyfile(
            f"""
            import httpx
            from helpers import FORM

            async def test_own_user_detail_api(spotnana_sim_app):
                spotnana_sim_app.use_user_detail("{partner.url}/v1/user-detail")
                spotnana_sim_app.add_profile("lin@example.com")
                async with spotnana_sim_app.client() as http:
                    response = await http.post("/v2/auth/oauth2-token", data={{**FORM, "subject_token": "partner-token"}})
                assert response.status_code == 200, response.text
                spotnana_sim_app.assert_exchanges(email="lin@example.com")

            def test_fault_then_success(spotnana_sim):
                rule = spotnana_sim.arm_fault({{"target": "token-endpoint", "times": 1, "response": {{"status": 503}}}})
                assert rule["id"]
                assert httpx.post(spotnana_sim.token_url, data=FORM).status_code == 503
                assert httpx.post(spotnana_sim.token_url, data=FORM).status_code == 200
                assert [e["status"] for e in spotnana_sim.journal()] == [503, 200]

            def test_added_client_and_user(spotnana_sim):
                spotnana_sim.add_client("acme", "acme-secret-1234")
                spotnana_sim.add_user("acme-user-token", "ada@example.com")
                form = {{**FORM, "client_id": "acme", "client_secret": "acme-secret-1234", "subject_token": "acme-user-token"}}
                assert httpx.post(spotnana_sim.token_url, data=form).status_code == 200
                spotnana_sim.assert_exchanges(client_id="acme", email="ada@example.com")
            """
        )
        inner.runpytest().assert_outcomes(passed=3)


def test_unused_plugin_starts_nothing(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object) -> None:
        raise AssertionError("a server was started though no test asked for one")

    monkeypatch.setattr(testing.AppServer, "start", refuse)  # the inner session runs in this process
    inner.makepyfile(
        """
        def test_plain(request):
            assert "spotnana_sim_server" not in request.fixturenames

        def test_other(tmp_path):
            assert tmp_path.exists()
        """
    )
    inner.runpytest().assert_outcomes(passed=2)


@pytest.fixture
def user_detail_url() -> Iterator[str]:
    with ServerThread(create_user_detail_app({"tok-0123456789": "ada@example.com"})) as server:
        yield server.url + "/v1/user-detail"


def test_user_detail_checks_become_test_items(inner: pytest.Pytester, user_detail_url: str) -> None:
    inner.makepyfile("def test_unrelated():\n    pass\n")
    result = inner.runpytest(
        "-v", "-m", "spotnana_user_detail", "--spotnana-user-detail-url", user_detail_url,
        "--spotnana-token", "tok-0123456789", "--spotnana-email", "Ada@example.com",
    )
    result.assert_outcomes(passed=13, skipped=1, deselected=1)
    result.stdout.fnmatch_lines([
        "spotnana-user-detail::valid-token PASSED*",
        "spotnana-user-detail::garbage-token PASSED*",
        "spotnana-user-detail::expired-token SKIPPED*",
        "*spotnana user-detail warnings*",
        "WARN: valid-token-email: *only in case*",
    ])


def test_broken_user_detail_api_fails_the_right_items(inner: pytest.Pytester) -> None:
    async def anyone(request: Request) -> Response:
        return JSONResponse({"user": {"email": "ada@example.com"}})

    with ServerThread(Starlette(routes=[Route("/v1/user-detail", anyone)])) as server:
        result = inner.runpytest(
            "--spotnana-user-detail-url", server.url + "/v1/user-detail",
            "--spotnana-token", "tok-0123456789", "--spotnana-email", "ada@example.com",
        )
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 5  # no-authorization, non-bearer, empty, garbage, token in query
    result.stdout.fnmatch_lines([
        "*FAIL (critical): garbage-token: CRITICAL: a garbage token got 200*",
        "*fix: validate the bearer token*",
    ])
    assert "tok-0123456789" not in result.stdout.str()


def test_user_detail_options_need_token_and_email(inner: pytest.Pytester) -> None:
    result = inner.runpytest("--spotnana-user-detail-url", "http://127.0.0.1:1/v1/user-detail")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--spotnana-user-detail-url needs --spotnana-token and --spotnana-email*"])
