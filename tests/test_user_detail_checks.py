"""The user-detail checks against the reference API and deliberately broken ones, on real loopback ports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from spotnana_sim.cli import main as cli
from spotnana_sim.kit.report import FAIL, PASS, SKIP, WARN, Report
from spotnana_sim.kit.user_detail_checks import (
    CHECKS,
    CLI_OPTIONS,
    PYTEST_OPTIONS,
    REPEAT_CALLS,
    ROOT_CHECK,
    UserDetailProbe,
    UserDetailTarget,
    run_check,
    run_checks,
)
from spotnana_sim.reference.user_detail import create_user_detail_app

from .servers import AppSlot, Gate, ServerThread, free_port

pytestmark = pytest.mark.e2e  # the checks probe partner APIs served on loopback

TOKEN = "good-token-0123456789abcdef"
EXPIRED = "expired-token-0123456789abcdef"
EMAIL = "ada@example.com"
PATH = "/v1/user-detail"

Handler = Callable[[Request], Awaitable[Response]]


def app_of(handler: Handler) -> Starlette:
    return Starlette(routes=[Route(PATH, handler, methods=["GET"])])


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def unauthorized() -> JSONResponse:
    return JSONResponse({"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


@pytest.fixture(scope="module")
def slots() -> Iterator[list[tuple[ServerThread, AppSlot]]]:
    """Loopback servers kept for the module, each with a slot a test puts its own partner app in."""
    started: list[tuple[ServerThread, AppSlot]] = []
    yield started
    for server, _ in started:
        server.stop()


@pytest.fixture
def serve(slots: list[tuple[ServerThread, AppSlot]]) -> Iterator[Callable[[Any], str]]:
    """Serves this test's partner apps on loopback, one server each; returns each one's user-detail URL."""
    used = 0

    def start(app: Any) -> str:
        nonlocal used
        if used == len(slots):
            app_slot = AppSlot()
            slots.append((ServerThread(app_slot).start(), app_slot))
        server, app_slot = slots[used]
        app_slot.app = app
        used += 1
        return server.url + PATH

    yield start
    for _, app_slot in slots:
        app_slot.app = None


def check(url: str, **target: Any) -> Report:
    target = {"token": TOKEN, "expect_email": EMAIL, **target}
    with httpx.Client() as http:
        return run_checks(UserDetailTarget(url=url, **target), http)


def statuses(report: Report) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


def test_reference_api_passes_every_check(serve: Callable[[Any], str]) -> None:
    url = serve(create_user_detail_app({TOKEN: EMAIL}))
    report = check(url, expired_token=EXPIRED)
    assert statuses(report) == {name: PASS for name in CHECKS}, report.to_table()
    assert report.exit_status == 0


def test_expired_token_check_is_skipped_when_no_expired_token_is_given(serve: Callable[[Any], str]) -> None:
    report = check(serve(create_user_detail_app({TOKEN: EMAIL})))
    assert report.result("expired-token").status == SKIP
    assert "--expired-token" in report.result("expired-token").summary
    assert not report.failed


def test_api_that_answers_200_to_any_token_is_a_critical_failure(serve: Callable[[Any], str]) -> None:
    async def anyone(request: Request) -> Response:
        return JSONResponse({"user": {"email": EMAIL}})

    report = check(serve(app_of(anyone)), expired_token=EXPIRED)
    for name in ("garbage-token", "no-authorization", "non-bearer-scheme", "empty-bearer", "expired-token"):
        result = report.result(name)
        assert result.status == FAIL and result.critical, name
        assert "CRITICAL" in result.summary and "anyone could obtain Spotnana tokens" in result.summary
    assert "FAIL (critical)" in report.to_table()
    assert report.result("token-in-query").status == FAIL and not report.result("token-in-query").critical
    assert report.result("valid-token").status == PASS
    assert report.exit_status == 1


def test_email_in_the_wrong_field_is_caught_and_the_right_mapping_suggested(serve: Callable[[Any], str]) -> None:
    async def flat(request: Request) -> Response:
        if bearer(request) != TOKEN:
            return unauthorized()
        return JSONResponse({"data": {"mail": EMAIL}, "name": "Ada"})

    url = serve(app_of(flat))
    result = check(url).result("valid-token-email")
    assert result.status == FAIL
    assert "'data.mail'" in result.summary
    assert "--email-field data.mail" in result.fix

    assert check(url, email_field="data.mail").result("valid-token-email").status == PASS


def test_another_users_email_fails_and_a_case_only_difference_warns(serve: Callable[[Any], str]) -> None:
    answers = {TOKEN: "grace@example.com", "upper": "Ada@Example.com"}

    async def handler(request: Request) -> Response:
        email = answers.get(bearer(request) or "")
        return JSONResponse({"user": {"email": email}}) if email else unauthorized()

    url = serve(app_of(handler))
    assert check(url).result("valid-token-email").status == FAIL
    case_only = check(url, token="upper").result("valid-token-email")
    assert case_only.status == WARN and "only in case" in case_only.summary


def test_html_pages_are_caught(serve: Callable[[Any], str]) -> None:
    async def html(request: Request) -> Response:
        if bearer(request) == TOKEN:
            return HTMLResponse(f"<html><body><p>Signed in as {EMAIL}</p></body></html>")
        return HTMLResponse("<html><body><h1>401 Unauthorized</h1></body></html>", status_code=401)

    report = check(serve(app_of(html)))
    json_check = report.result("valid-token-json")
    assert json_check.status == FAIL and "text/html" in json_check.summary
    assert report.result("valid-token-email").status == SKIP
    challenge = report.result("www-authenticate")
    assert challenge.status == WARN and len(challenge.details) == 5  # every 401 lacked the header
    assert report.result("no-authorization").status == PASS  # a 401 is a 401, whatever the body


def test_json_body_with_a_wrong_content_type_warns(serve: Callable[[Any], str]) -> None:
    async def text(request: Request) -> Response:
        if bearer(request) != TOKEN:
            return unauthorized()
        return Response(json.dumps({"user": {"email": EMAIL}}), media_type="text/plain")

    report = check(serve(app_of(text)))
    assert report.result("valid-token-json").status == WARN
    assert report.result("valid-token-email").status == PASS


def test_slow_api_fails_the_response_time_check(serve: Callable[[Any], str]) -> None:
    gate = Gate()

    async def slow(request: Request) -> Response:
        await gate.wait()  # answers only after the checks gave up on it
        return JSONResponse({"user": {"email": EMAIL}})

    with gate:
        report = check(serve(app_of(slow)), timeout=0.05)  # a small timeout keeps the test fast
    assert report.result("response-time").status == FAIL
    assert "no answer within" in report.result("response-time").summary
    assert report.result("valid-token").status == FAIL


def test_server_error_without_authorization_is_caught(serve: Callable[[Any], str]) -> None:
    async def crashes(request: Request) -> Response:
        token = request.headers["authorization"].split(" ", 1)[1]  # KeyError without the header → 500
        return JSONResponse({"user": {"email": EMAIL}}) if token == TOKEN else unauthorized()

    report = check(serve(Starlette(routes=[Route(PATH, crashes)])))
    result = report.result("no-authorization")
    assert result.status == FAIL and not result.critical
    assert "500" in result.summary and "server error" in result.summary
    assert "answer 401" in result.fix


def test_token_accepted_from_the_query_string_fails(serve: Callable[[Any], str]) -> None:
    async def lenient(request: Request) -> Response:
        token = bearer(request) or request.query_params.get("access_token")
        return JSONResponse({"user": {"email": EMAIL}}) if token == TOKEN else unauthorized()

    report = check(serve(app_of(lenient)))
    assert statuses(report)["token-in-query"] == FAIL
    assert statuses(report)["garbage-token"] == PASS


def test_redirects_and_403_warn(serve: Callable[[Any], str]) -> None:
    async def login_page(request: Request) -> Response:
        if request.headers.get("authorization") is None:
            return RedirectResponse("/login", status_code=302)
        if bearer(request) == TOKEN:
            return JSONResponse({"user": {"email": EMAIL}})
        return JSONResponse({"error": "forbidden"}, status_code=403)

    report = check(serve(app_of(login_page)))
    assert report.result("no-authorization").status == WARN
    assert "redirect" in report.result("no-authorization").summary
    assert report.result("garbage-token").status == WARN
    assert "403" in report.result("garbage-token").summary
    assert not report.failed


def test_different_emails_on_repeated_calls_fail(serve: Callable[[Any], str]) -> None:
    calls = iter(range(100))

    async def flaky(request: Request) -> Response:
        if bearer(request) != TOKEN:
            return unauthorized()
        return JSONResponse({"user": {"email": EMAIL if next(calls) % 2 == 0 else "grace@example.com"}})

    assert check(serve(app_of(flaky))).result("repeatable").status == FAIL


def test_oversized_answer_fails(serve: Callable[[Any], str]) -> None:
    async def huge(request: Request) -> Response:
        if bearer(request) != TOKEN:
            return unauthorized()
        return JSONResponse({"user": {"email": EMAIL}, "padding": "x" * 100_000})

    assert check(serve(app_of(huge))).result("response-size").status == FAIL


def test_each_probe_is_sent_once_and_checks_can_run_alone(serve: Callable[[Any], str]) -> None:
    seen: list[str | None] = []

    async def counting(request: Request) -> Response:
        seen.append(request.headers.get("authorization"))
        return JSONResponse({"user": {"email": EMAIL}}) if bearer(request) == TOKEN else unauthorized()

    url = serve(app_of(counting))
    with httpx.Client() as http:
        probe = UserDetailProbe(UserDetailTarget(url=url, token=TOKEN, expect_email=EMAIL), http)
        assert run_check("valid-token-email", probe).status == PASS
        assert len(seen) == 1
        for name in CHECKS:
            run_check(name, probe)
    assert seen.count(f"Bearer {TOKEN}") == 1 + REPEAT_CALLS
    assert len(seen) == 6 + REPEAT_CALLS  # valid, none, Basic, empty, garbage, query (+ repeats)


def test_plain_http_to_a_remote_host_warns() -> None:
    with httpx.Client() as http:
        remote = UserDetailProbe(UserDetailTarget(url="http://partner.example.com/v1/user-detail", token=TOKEN, expect_email=EMAIL), http)
        secure = UserDetailProbe(UserDetailTarget(url="https://partner.example.com/v1/user-detail", token=TOKEN, expect_email=EMAIL), http)
        assert run_check("https", remote).status == WARN  # no request is made for this check
        assert run_check("https", secure).status == PASS


@pytest.mark.parametrize(
    "fields, named",
    [({"url": "ftp://x"}, "url"), ({"token": ""}, "token"), ({"expect_email": "nobody"}, "expect_email"), ({"timeout": 0}, "timeout")],
)
def test_bad_targets_are_refused_naming_the_field(fields: dict[str, Any], named: str) -> None:
    values = {"url": "http://127.0.0.1:1/x", "token": TOKEN, "expect_email": EMAIL, **fields}
    with pytest.raises(ValueError, match=f"^{named}:"):
        UserDetailTarget(**values)


def test_tokens_never_appear_whole_in_any_output(serve: Callable[[Any], str]) -> None:
    async def echo(request: Request) -> Response:  # a careless API that echoes the credential back
        return JSONResponse({"error": f"bad token {request.headers.get('authorization')}"}, status_code=500)

    report = check(serve(app_of(echo)), expired_token=EXPIRED)
    for text in (report.to_table(), report.to_json(), report.to_junit(), repr(report)):
        assert TOKEN not in text and EXPIRED not in text
    assert "…cdef" in report.to_table()


def test_junit_and_json_renderings(serve: Callable[[Any], str]) -> None:
    async def anyone(request: Request) -> Response:
        return JSONResponse({"user": {"email": EMAIL}})

    report = check(serve(app_of(anyone)))
    suite = ET.fromstring(report.to_junit()).find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(CHECKS))
    failed = {case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None}
    assert failed == {r.name for r in report.results if r.status == FAIL}
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["counts"]["fail"] == len(failed)


def test_cli_exit_status_json_and_junit(serve: Callable[[Any], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    good = serve(create_user_detail_app({TOKEN: EMAIL}))
    args = ["check", "user-detail", "--url", good, "--token", TOKEN, "--expect-email", EMAIL]
    assert cli.main([*args, "--header", "X-Api-Key: k"]) == 0
    assert "0 fail" in capsys.readouterr().out

    async def anyone(request: Request) -> Response:
        return JSONResponse({"user": {"email": EMAIL}})

    junit = tmp_path / "ud.xml"
    bad = serve(app_of(anyone))
    assert cli.main(["check", "user-detail", "--url", bad, "--token", TOKEN, "--expect-email", EMAIL, "--json", "--junit", str(junit)]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert ET.parse(junit).getroot().find("testsuite") is not None

    assert cli.main(["check", "user-detail", "--url", "nope", "--token", TOKEN, "--expect-email", EMAIL]) == 2
    assert "--url: expected an http:// or https:// URL" in capsys.readouterr().err
    assert cli.main([*args, "--header", "no-colon"]) == 2
    assert "--header: expected NAME:VALUE" in capsys.readouterr().err


# ------------------------------------------------------------------ one root cause, not one failure per probe


def _only_root_cause_fails(report: Report) -> None:
    """reachable fails; every check that needs an answer is skipped because of it; https still judges the URL."""
    assert [r.name for r in report.results if r.status == FAIL] == [ROOT_CHECK]
    for result in report.results:
        if result.name not in (ROOT_CHECK, "https"):
            assert result.status == SKIP, result
            assert result.summary.startswith(f"skipped because {ROOT_CHECK} failed")


def test_nothing_listening_is_one_failure_naming_host_and_port() -> None:
    port = free_port()
    report = check(f"http://127.0.0.1:{port}{PATH}")
    _only_root_cause_fails(report)
    root = report.result(ROOT_CHECK)
    assert root.summary == f"nothing listens at 127.0.0.1:{port} (connection refused)"
    assert "check the host and port in --url" in root.fix


def test_a_name_that_does_not_resolve_is_one_failure_naming_it() -> None:
    report = check(f"http://user-detail.spotnana-sim-test.invalid{PATH}")
    _only_root_cause_fails(report)
    root = report.result(ROOT_CHECK)
    assert root.summary.startswith("the name 'user-detail.spotnana-sim-test.invalid' does not resolve")
    assert "check the host name in --url" in root.fix


def test_a_url_that_answers_404_to_everything_says_the_path_is_wrong(serve: Callable[[Any], str]) -> None:
    url = serve(Starlette(routes=[]))  # nothing at any path
    report = check(url.replace(PATH, "/v1/user-detial"))
    _only_root_cause_fails(report)
    root = report.result(ROOT_CHECK)
    assert root.summary == "every request got 404: there is no API at this path"
    assert "check the path in --url" in root.fix
    assert "answer 200" not in report.to_table()  # not the advice for an API that is there


def test_a_url_that_answers_405_to_get_says_spotnana_calls_with_get(serve: Callable[[Any], str]) -> None:
    async def post_only(request: Request) -> Response:
        return JSONResponse({"user": {"email": EMAIL}})

    report = check(serve(Starlette(routes=[Route(PATH, post_only, methods=["POST"])])))
    _only_root_cause_fails(report)
    root = report.result(ROOT_CHECK)
    assert root.summary.startswith("every request got 405 Method Not Allowed") and "Allow: POST" in root.summary
    assert "with GET" in root.fix


def test_404_for_the_valid_token_only_is_not_a_root_cause(serve: Callable[[Any], str]) -> None:
    async def unknown_user(request: Request) -> Response:
        return JSONResponse({"error": "no such user"}, status_code=404) if bearer(request) == TOKEN else unauthorized()

    report = check(serve(app_of(unknown_user)))
    assert report.result(ROOT_CHECK).status == PASS
    assert report.result("valid-token").status == FAIL and "check the path in --url" in report.result("valid-token").fix
    assert report.result("garbage-token").status == PASS


@pytest.fixture(scope="module")
def tls_user_detail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from .test_user_detail_client_tls import _self_signed

    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    server = ServerThread(create_user_detail_app({TOKEN: EMAIL}), ssl_certfile=str(cert), ssl_keyfile=str(key))
    with server:
        yield server.url + PATH, cert


def test_an_untrusted_certificate_is_one_failure_pointing_at_user_detail_ca(tls_user_detail: tuple[str, Path]) -> None:
    url, _ = tls_user_detail
    report = check(url)
    _only_root_cause_fails(report)
    root = report.result(ROOT_CHECK)
    assert root.summary.startswith("TLS with 127.0.0.1:") and "certificate" in root.summary
    assert "--user-detail-ca FILE" in root.fix


def test_cli_user_detail_ca_trusts_a_private_ca(tls_user_detail: tuple[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    url, cert = tls_user_detail
    args = ["check", "user-detail", "--url", url, "--token", TOKEN, "--expect-email", EMAIL]
    assert cli.main(args) == 1
    table = capsys.readouterr().out
    assert [line.split()[1] for line in table.splitlines() if line.startswith("FAIL")] == [ROOT_CHECK]
    assert "--user-detail-ca FILE" in table
    assert cli.main([*args, "--user-detail-ca", str(cert)]) == 0
    assert "0 fail" in capsys.readouterr().out
    assert cli.main([*args, "--user-detail-ca", str(tmp_path / "missing.pem")]) == 2
    assert "--user-detail-ca: no such file" in capsys.readouterr().err
    (tmp_path / "junk.pem").write_text("not a certificate")
    assert cli.main([*args, "--user-detail-ca", str(tmp_path / "junk.pem")]) == 2
    assert "is not a readable PEM bundle" in capsys.readouterr().err


def test_cli_prints_one_failure_when_nothing_listens(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}{PATH}"
    assert cli.main(["check", "user-detail", "--url", url, "--token", TOKEN, "--expect-email", EMAIL]) == 1
    table = capsys.readouterr().out
    assert [line.split()[1] for line in table.splitlines() if line.startswith("FAIL")] == [ROOT_CHECK]
    assert table.count("onnection refused") == 2  # the summary and what was received, once each
    assert "answer 401 promptly" not in table
    assert table.rstrip().endswith(f"1 pass, 0 warn, 1 fail, {len(CHECKS) - 2} skip — FAILED")


def test_fixes_name_the_options_of_the_front_end_in_use(serve: Callable[[Any], str]) -> None:
    async def mapped(request: Request) -> Response:
        return JSONResponse({"data": {"mail": EMAIL}}) if bearer(request) == TOKEN else unauthorized()

    url = serve(app_of(mapped))
    with httpx.Client() as http:
        cli_report = run_checks(UserDetailTarget(url=url, token=TOKEN, expect_email=EMAIL), http)
        pytest_report = run_checks(UserDetailTarget(url=url, token=TOKEN, expect_email=EMAIL), http, options=PYTEST_OPTIONS)
    assert "--email-field data.mail" in cli_report.result("valid-token-email").fix
    assert "--spotnana-email-field data.mail" in pytest_report.result("valid-token-email").fix
    assert pytest_report.result("expired-token").summary == "no expired token given (--spotnana-expired-token)"
    assert set(CLI_OPTIONS) == set(PYTEST_OPTIONS)
