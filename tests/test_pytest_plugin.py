"""The pytest plugin, exercised the way integrators use it: inner pytest runs through ``pytester``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from spotnana_sim.kit import testing
from spotnana_sim.reference.user_detail import create_user_detail_app

from .servers import ServerThread

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.e2e  # the inner runs serve simulators on loopback

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
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*spotnana_sim: dialect: not a simulator setting; accepted: *errors*"])


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


@pytest.mark.e2e  # the fixture serves its JWKS on loopback
def test_partner_idp_fixture_and_model_b_clients(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import httpx
        import pytest
        from helpers import FORM
        from spotnana_sim.core.settings import ConfigError

        SERVED = []

        def form(token):
            return {**FORM, "client_id": "acme", "client_secret": "acme-secret", "subject_token": token}

        def test_jwks_url(spotnana_sim, spotnana_partner_idp):
            SERVED.append(spotnana_partner_idp.jwks_url)
            assert spotnana_partner_idp.jwks_url.startswith("http://127.0.0.1:")
            assert httpx.get(spotnana_partner_idp.jwks_url).json() == spotnana_partner_idp.jwks()
            client = spotnana_sim.add_jwt_client("acme", "acme-secret", jwks_url=spotnana_partner_idp.jwks_url)
            assert client.identity == "jwt"
            assert httpx.post(spotnana_sim.token_url, data=form(spotnana_partner_idp.sign("ada@example.com"))).status_code == 200
            wrong = httpx.post(spotnana_sim.token_url, data=form(spotnana_partner_idp.sign("ada@example.com", aud="x")))
            assert wrong.json()["errorMessages"][0]["errorCode"] == "SUBJECT_TOKEN_AUDIENCE_INVALID"

        def test_torn_down_after_its_test():
            with pytest.raises(httpx.ConnectError):
                httpx.get(SERVED[0])

        def test_keys_in_process(spotnana_sim_app, spotnana_partner_idp):
            spotnana_sim_app.add_jwt_client("acme", "acme-secret", keys=spotnana_partner_idp.jwks()["keys"])
            token = spotnana_partner_idp.sign("ada@example.com")
            assert spotnana_sim_app.post("/v2/auth/oauth2-token", data=form(token)).status_code == 200

        def test_bad_keys_and_values_are_named(spotnana_sim, spotnana_partner_idp):
            spotnana_sim.add_jwt_client("acme", "acme-secret")
            jwk = spotnana_partner_idp.jwks()["keys"][0]
            with pytest.raises(ValueError, match="private key members") as leaked:
                spotnana_sim.register_partner_key("acme", {**jwk, "d": "cHJpdmF0ZQ"})
            assert "cHJpdmF0ZQ" not in str(leaked.value)
            assert spotnana_sim.register_partner_key("acme", jwk)["status"] == "ACTIVE"
            with pytest.raises(ValueError, match="already ACTIVE"):
                spotnana_sim.register_partner_key("acme", jwk)
            with pytest.raises(ValueError, match="no client 'nobody'"):
                spotnana_sim.register_partner_key("nobody", jwk)
            with pytest.raises(ConfigError, match="jwks_url"):
                spotnana_sim.add_jwt_client("other", "s", jwks_url="ftp://example.com/jwks")
        """
    )
    inner.runpytest().assert_outcomes(passed=4)


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
    result.assert_outcomes(passed=14, skipped=1, deselected=1)
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


@pytest.mark.parametrize("marker, hint", [
    ('error="rfc6749"', "spotnana_sim: error: not a simulator setting (did you mean 'errors'?); accepted: *"),
    ('errors="rfc6479"', "spotnana_sim: errors: must be one of 'spotnana', 'rfc6749', got 'rfc6479' (did you mean 'rfc6749'?)"),
    ("journal_sze=10", "spotnana_sim: journal_sze: not a simulator setting (did you mean 'journal_size'?)*"),
    ('journal_size="10"', "spotnana_sim: journal_size: must be of type int (as the Settings field), got str '10'"),
    ('profiles=["ada"]', "profiles: must be an email address*"),
    ('faults=[{"target": "token-endpoint", "tims": 1}]', "faults[[]0[]].tims: unknown key (did you mean 'times'?)*"),
])
def test_marker_typos_are_usage_errors_with_a_suggestion_and_no_traceback(
    inner: pytest.Pytester, marker: str, hint: str,
) -> None:
    inner.makepyfile(
        f"""
        import pytest

        def test_fine(spotnana_sim):
            pass

        @pytest.mark.spotnana_sim({marker})
        def test_typo(spotnana_sim):
            pass

        @pytest.mark.spotnana_sim({marker})
        def test_typo_in_process(spotnana_sim_app):
            pass
        """
    )
    result = inner.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # before any test runs: no simulator is started
    result.stderr.fnmatch_lines([f"ERROR: test_marker_typos_are_usage_errors*.py::test_typo: @pytest.mark.spotnana_sim: {hint}"])
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "pytest_plugin.py" not in output
    assert "passed" not in output


def test_a_marker_the_sessions_own_settings_reject_fails_that_test_alone_without_a_traceback(inner: pytest.Pytester) -> None:
    inner.makeconftest(
        """
        import pytest
        from spotnana_sim.core.settings import ClientConfig, Settings

        @pytest.fixture(scope="session")
        def spotnana_sim_settings():
            return Settings(clients=(ClientConfig("acme", "acme-secret-1234"),))
        """
    )
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.spotnana_sim(clients=["acme:other-secret-5678"])
        def test_replaced_secret(spotnana_sim):
            assert spotnana_sim.clients[0].client_secret == "other-secret-5678"
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


def test_user_detail_items_with_nothing_listening_fail_once_and_skip_the_rest(inner: pytest.Pytester) -> None:
    from .servers import free_port

    url = f"http://127.0.0.1:{free_port()}/v1/user-detail"
    result = inner.runpytest("-v", "--spotnana-user-detail-url", url, "--spotnana-token", "tok-0123456789",
                             "--spotnana-email", "ada@example.com")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1 and outcomes["passed"] == 1 and outcomes["skipped"] == 13  # https still passes
    result.stdout.fnmatch_lines([
        "spotnana-user-detail::reachable FAILED*",
        "*FAIL: reachable: nothing listens at 127.0.0.1:*",
        "*fix: check the host and port in --spotnana-user-detail-url *",
    ])
    assert "--url " not in result.stdout.str()


def test_user_detail_items_print_pytest_options_in_their_fixes(inner: pytest.Pytester) -> None:
    async def mapped(request: Request) -> Response:
        if request.headers.get("authorization") == "Bearer tok-0123456789":
            return JSONResponse({"data": {"mail": "ada@example.com"}})
        return JSONResponse({}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    with ServerThread(Starlette(routes=[Route("/v1/user-detail", mapped)])) as server:
        result = inner.runpytest(
            "--spotnana-user-detail-url", server.url + "/v1/user-detail",
            "--spotnana-token", "tok-0123456789", "--spotnana-email", "ada@example.com",
        )
    result.stdout.fnmatch_lines(["*fix: *check it with --spotnana-email-field data.mail*"])
    assert " --email-field" not in result.stdout.str()


def test_user_detail_ca_option_trusts_a_private_ca(inner: pytest.Pytester, tmp_path: Path) -> None:
    from .test_user_detail_client_tls import _self_signed

    cert, key = _self_signed(tmp_path)
    app = create_user_detail_app({"tok-0123456789": "ada@example.com"})
    with ServerThread(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as server:
        options = ["--spotnana-user-detail-url", server.url + "/v1/user-detail",
                   "--spotnana-token", "tok-0123456789", "--spotnana-email", "ada@example.com"]
        untrusted = inner.runpytest(*options)
        untrusted.stdout.fnmatch_lines(["*FAIL: reachable: TLS with 127.0.0.1:*", "*--spotnana-user-detail-ca FILE*"])
        trusted = inner.runpytest(*options, f"--spotnana-user-detail-ca={cert}")  # "=": not a path argument
    assert trusted.ret == 0, trusted.stdout.str()
    missing = inner.runpytest(*options, f"--spotnana-user-detail-ca={tmp_path / 'missing.pem'}")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*--spotnana-user-detail-ca: no such file*"])
