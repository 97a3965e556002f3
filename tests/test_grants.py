"""Form parsing and per-grant validation: every rule of the integration page's parameter table."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from spotnana_sim.core.errors import InvalidScope, UnsupportedContentType, UnsupportedGrantType, ValidationFailed
from spotnana_sim.core.protocol import ACCESS_TOKEN_TYPE, CLIENT_CREDENTIALS_GRANT, TOKEN_EXCHANGE_GRANT
from spotnana_sim.core.token_request import MAX_FIELDS, parse_form, validate

FORM = "application/x-www-form-urlencoded"
EXCHANGE = {
    "grant_type": TOKEN_EXCHANGE_GRANT,
    "client_id": "acme",
    "client_secret": "s3cret-value-1234",
    "subject_token": "user-token-abcdef",
    "subject_token_type": ACCESS_TOKEN_TYPE,
    "scope": "openid",
}


def form_of(fields: dict[str, str] | list[tuple[str, str]]) -> dict[str, list[str]]:
    return parse_form(FORM, urlencode(fields).encode())


def test_a_complete_exchange_request_validates() -> None:
    request = validate(form_of(EXCHANGE))
    assert (request.grant_type, request.client_id, request.subject_token, request.scope) == (
        TOKEN_EXCHANGE_GRANT, "acme", "user-token-abcdef", "openid")
    assert request.audience is None


def test_audience_is_optional_and_kept() -> None:
    request = validate(form_of({**EXCHANGE, "audience": "https://apis.spotnana.com/v2"}))
    assert request.audience == "https://apis.spotnana.com/v2"


def test_client_credentials_needs_only_client_fields() -> None:
    request = validate(form_of({"grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": "a", "client_secret": "b"}))
    assert request.grant_type == CLIENT_CREDENTIALS_GRANT and request.subject_token is None


@pytest.mark.parametrize("content_type", [FORM, "application/x-www-form-urlencoded; charset=UTF-8", "Application/X-WWW-Form-Urlencoded"])
def test_form_content_types_are_accepted(content_type: str) -> None:
    assert parse_form(content_type, b"a=1&b=2") == {"a": ["1"], "b": ["2"]}


@pytest.mark.parametrize("content_type", [None, "application/json", "multipart/form-data; boundary=x", "text/plain"])
def test_other_content_types_are_refused_naming_what_is_accepted(content_type: str | None) -> None:
    with pytest.raises(UnsupportedContentType) as caught:
        parse_form(content_type, b'{"grant_type": "client_credentials"}')
    assert caught.value.field == "Content-Type"
    assert FORM in caught.value.message


@pytest.mark.parametrize("field", list(EXCHANGE))
def test_each_required_field_missing_is_named(field: str) -> None:
    fields = {k: v for k, v in EXCHANGE.items() if k != field}
    with pytest.raises(ValidationFailed) as caught:
        validate(form_of(fields))
    assert caught.value.field == field
    assert "missing" in caught.value.message


@pytest.mark.parametrize("field", list(EXCHANGE))
def test_each_required_field_empty_is_named(field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate(form_of({**EXCHANGE, field: ""}))
    assert caught.value.field == field
    assert "empty" in caught.value.message


@pytest.mark.parametrize("field", list(EXCHANGE))
def test_each_field_repeated_is_named(field: str) -> None:
    pairs = [*list(EXCHANGE.items()), (field, EXCHANGE[field])]
    with pytest.raises(ValidationFailed) as caught:
        validate(form_of(pairs))
    assert caught.value.field == field
    assert "2 times" in caught.value.message


def test_wrong_grant_type_lists_the_supported_ones() -> None:
    with pytest.raises(UnsupportedGrantType) as caught:
        validate(form_of({**EXCHANGE, "grant_type": "password"}))
    assert TOKEN_EXCHANGE_GRANT in caught.value.message and CLIENT_CREDENTIALS_GRANT in caught.value.message


def test_refresh_token_grant_is_not_supported_because_spotnana_documents_none() -> None:
    with pytest.raises(UnsupportedGrantType):
        validate(form_of({**EXCHANGE, "grant_type": "refresh_token"}))


def test_wrong_subject_token_type_names_the_accepted_urn() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate(form_of({**EXCHANGE, "subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}))
    assert caught.value.field == "subject_token_type" and ACCESS_TOKEN_TYPE in caught.value.message


@pytest.mark.parametrize("scope", ["profile", "openid profile", "OPENID"])
def test_scope_must_be_exactly_openid(scope: str) -> None:
    with pytest.raises(InvalidScope) as caught:
        validate(form_of({**EXCHANGE, "scope": scope}))
    assert caught.value.field == "scope" and "openid" in caught.value.message


def test_unknown_parameters_are_ignored() -> None:
    assert validate(form_of({**EXCHANGE, "nonce": "x", "extra": ""})).client_id == "acme"


def test_fields_the_grant_does_not_use_are_ignored_even_when_odd() -> None:
    fields = {"grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": "a", "client_secret": "b", "scope": "weird"}
    assert validate(form_of(fields)).scope is None


def test_oversized_field_is_refused_with_its_limit() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate(form_of({**EXCHANGE, "client_id": "x" * 600}))
    assert caught.value.field == "client_id" and "limit of 512" in caught.value.message


def test_too_many_fields_is_a_validation_error() -> None:
    body = "&".join(f"f{i}=1" for i in range(MAX_FIELDS + 1)).encode()
    with pytest.raises(ValidationFailed) as caught:
        parse_form(FORM, body)
    assert caught.value.field == "body"


@pytest.mark.parametrize("body", [b"a=\xff", b"a=%ff%fe"])
def test_non_utf8_bodies_are_validation_errors(body: bytes) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_form(FORM, body)
    assert caught.value.field == "body"


def test_percent_encoded_utf8_is_decoded() -> None:
    assert parse_form(FORM, b"name=%C3%A9t%C3%A9") == {"name": ["été"]}


def test_secret_values_are_never_echoed_whole_in_errors() -> None:
    pairs = [*list(EXCHANGE.items()), ("client_secret", EXCHANGE["client_secret"])]
    with pytest.raises(ValidationFailed) as caught:
        validate(form_of(pairs))
    rendered = repr(caught.value.parameters) + caught.value.message
    assert EXCHANGE["client_secret"] not in rendered


def test_token_request_repr_hides_secrets() -> None:
    text = repr(validate(form_of(EXCHANGE)))
    assert EXCHANGE["client_secret"] not in text and EXCHANGE["subject_token"] not in text
