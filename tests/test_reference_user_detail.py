"""The reference partner user-detail API (reference_impl.user_detail), exercised in-process over ASGI.

starlette.testclient is not used: with this Starlette it warns on import (httpx vs httpx2), and
warnings are errors here. httpx.AsyncClient over httpx.ASGITransport needs no server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from spotnana_sim.reference.user_detail import (
    DEMO_SUBJECT_TOKEN,
    DEMO_USERS,
    USER_DETAIL_PATH,
    UserDirectory,
    create_user_detail_app,
)

INVALID_CHALLENGE = 'Bearer error="invalid_token"'


def request(
    app: Starlette,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Send one request to ``app`` in-process and return the (fully read) response."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://partner.test") as client:
            return await client.request(method, path, headers=headers)

    return asyncio.run(go())


def get_detail(app: Starlette, authorization: str | None, path: str = USER_DETAIL_PATH) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return request(app, "GET", path, headers)


def assert_invalid_token(response: httpx.Response, challenge: str = INVALID_CHALLENGE) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == challenge
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "invalid_token"
    assert isinstance(body["error_description"], str) and body["error_description"]
    assert set(body) == {"error", "error_description"}


@pytest.fixture
def app() -> Starlette:
    return create_user_detail_app()


def test_constants() -> None:
    assert USER_DETAIL_PATH == "/v1/user-detail"
    assert len(DEMO_USERS) >= 3
    assert DEMO_USERS[DEMO_SUBJECT_TOKEN] == "ada@example.com"
    assert DEMO_USERS["demo-token-grace"] == "grace@example.com"
    assert DEMO_USERS["demo-token-linus"] == "linus@example.com"


@pytest.mark.parametrize("token, email", sorted(DEMO_USERS.items()))
def test_known_token_returns_exact_email_body(app: Starlette, token: str, email: str) -> None:
    response = get_detail(app, f"Bearer {token}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"user": {"email": email}}
    assert token not in response.text


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_scheme_is_case_insensitive(app: Starlette, scheme: str) -> None:
    response = get_detail(app, f"{scheme} {DEMO_SUBJECT_TOKEN}")
    assert response.status_code == 200
    assert response.json() == {"user": {"email": "ada@example.com"}}


def test_missing_header_gets_realm_challenge_without_error(app: Starlette) -> None:
    response = get_detail(app, None)
    assert_invalid_token(response, challenge='Bearer realm="user-detail"')
    assert "error=" not in response.headers["www-authenticate"]


def test_basic_scheme_is_rejected(app: Starlette) -> None:
    # even when the "credentials" happen to be a valid bearer token
    response = get_detail(app, f"Basic {DEMO_SUBJECT_TOKEN}")
    assert_invalid_token(response)


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer ", "Bearer    ", ""])
def test_empty_bearer_token_is_rejected(app: Starlette, authorization: str) -> None:
    assert_invalid_token(get_detail(app, authorization))


def test_token_with_inner_whitespace_is_rejected(app: Starlette) -> None:
    assert_invalid_token(get_detail(app, f"Bearer {DEMO_SUBJECT_TOKEN} extra"))


def test_unknown_token_is_rejected_and_not_echoed(app: Starlette) -> None:
    token = "not-a-real-token-7f3a"
    response = get_detail(app, f"Bearer {token}")
    assert_invalid_token(response)
    assert token not in response.text
    assert all(token not in value for value in response.headers.values())


def test_token_is_case_sensitive(app: Starlette) -> None:
    assert_invalid_token(get_detail(app, f"Bearer {DEMO_SUBJECT_TOKEN.upper()}"))


def test_query_string_token_is_not_accepted(app: Starlette) -> None:
    response = get_detail(app, None, path=f"{USER_DETAIL_PATH}?access_token={DEMO_SUBJECT_TOKEN}")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "ada@example.com" not in response.text


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(app: Starlette, method: str) -> None:
    response = request(app, method, USER_DETAIL_PATH, {"Authorization": f"Bearer {DEMO_SUBJECT_TOKEN}"})
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


def test_health(app: Starlette) -> None:
    response = request(app, "GET", "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_mounted_under_prefix() -> None:
    outer = Starlette(routes=[Mount("/partner", app=create_user_detail_app())])
    ok = get_detail(outer, f"Bearer {DEMO_SUBJECT_TOKEN}", path="/partner/v1/user-detail")
    assert ok.status_code == 200
    assert ok.json() == {"user": {"email": "ada@example.com"}}
    assert_invalid_token(get_detail(outer, "Bearer nope", path="/partner/v1/user-detail"))
    assert request(outer, "GET", "/partner/health").json() == {"status": "ok"}
    assert get_detail(outer, f"Bearer {DEMO_SUBJECT_TOKEN}").status_code == 404


def test_custom_users_replace_demo_users() -> None:
    app = create_user_detail_app({"tok-x": "x@corp.example"})
    assert get_detail(app, "Bearer tok-x").json() == {"user": {"email": "x@corp.example"}}
    assert_invalid_token(get_detail(app, f"Bearer {DEMO_SUBJECT_TOKEN}"))


def test_directory_add_remove_reset(app: Starlette) -> None:
    users: UserDirectory = app.state.users
    assert isinstance(users, UserDirectory)

    users.add("tok-new", "new@example.com")
    assert get_detail(app, "Bearer tok-new").json() == {"user": {"email": "new@example.com"}}

    users.add(DEMO_SUBJECT_TOKEN, "ada.lovelace@example.com")  # re-point an existing token
    assert get_detail(app, f"Bearer {DEMO_SUBJECT_TOKEN}").json() == {
        "user": {"email": "ada.lovelace@example.com"}
    }

    users.remove("demo-token-grace")
    assert_invalid_token(get_detail(app, "Bearer demo-token-grace"))
    users.remove("never-existed")  # no-op

    users.reset()
    assert_invalid_token(get_detail(app, "Bearer tok-new"))
    assert get_detail(app, "Bearer demo-token-grace").json() == {"user": {"email": "grace@example.com"}}
    assert get_detail(app, f"Bearer {DEMO_SUBJECT_TOKEN}").json() == {"user": {"email": "ada@example.com"}}
    assert users.snapshot() == DEMO_USERS


def test_directory_does_not_mutate_caller_mapping() -> None:
    initial = {"tok-a": "a@example.com"}
    app = create_user_detail_app(initial)
    app.state.users.add("tok-b", "b@example.com")
    assert initial == {"tok-a": "a@example.com"}
    assert DEMO_USERS["demo-token-ada"] == "ada@example.com"
    assert "tok-b" in app.state.users and len(app.state.users) == 2


def test_apps_have_independent_directories() -> None:
    first, second = create_user_detail_app(), create_user_detail_app()
    first.state.users.add("tok-only-first", "f@example.com")
    assert get_detail(first, "Bearer tok-only-first").status_code == 200
    assert_invalid_token(get_detail(second, "Bearer tok-only-first"))


@pytest.mark.parametrize("token, email", [("", "a@example.com"), ("has space", "a@example.com"), ("t", "")])
def test_directory_rejects_unusable_entries(token: str, email: str) -> None:
    with pytest.raises(ValueError):
        UserDirectory({}).add(token, email)
