"""The error table and its two renderings."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotnana_sim.core.error_rendering import ErrorTable
from spotnana_sim.core.error_table import ERROR_TABLE, RFC6749, SPOTNANA
from spotnana_sim.core.errors import (
    InvalidClient,
    ProfileNotFound,
    SubjectTokenRejected,
    ValidationFailed,
)

README = Path(__file__).resolve().parent.parent / "README.md"


def test_documented_rows_match_spotnanas_pages() -> None:
    # FACTS.md §4: 400 API_VALIDATION_FAILED, 401 USER_NOT_AUTHENTICATED, 429 TOO_MANY_REQUESTS.
    assert (ERROR_TABLE["validation"].status, ERROR_TABLE["validation"].error_code) == (400, "API_VALIDATION_FAILED")
    assert (ERROR_TABLE["subject_token_rejected"].status, ERROR_TABLE["subject_token_rejected"].error_code) == (401, "USER_NOT_AUTHENTICATED")
    assert (ERROR_TABLE["rate_limited"].status, ERROR_TABLE["rate_limited"].error_code) == (429, "TOO_MANY_REQUESTS")
    assert ERROR_TABLE["invalid_client"].status == 403  # the only declared error status of the endpoint


def test_spotnana_envelope_shape() -> None:
    rendered = ErrorTable().render(ValidationFailed("scope", "is wrong", accepted="openid", received="x"), SPOTNANA)
    assert rendered.status == 400
    assert set(rendered.body) == {"debugIdentifier", "errorMessages"}
    assert rendered.body["debugIdentifier"].startswith("urn:spotnana-sim:unrecorded:")  # no journal entry to point at
    pointed = ErrorTable().render(ValidationFailed("scope", "is wrong"), SPOTNANA, debug_identifier="http://sim/_sim/journal/7")
    assert pointed.body["debugIdentifier"] == "http://sim/_sim/journal/7"
    (message,) = rendered.body["errorMessages"]
    assert message["errorCode"] == "API_VALIDATION_FAILED"
    assert message["errorParameters"] == [{"name": "scope", "value": "x"}]
    assert "openid" in message["message"]


def test_debug_identifiers_are_unique() -> None:
    table = ErrorTable()
    ids = {table.render(InvalidClient("x"), SPOTNANA).body["debugIdentifier"] for _ in range(20)}
    assert len(ids) == 20


def test_rfc6749_invalid_client_is_400_without_a_challenge() -> None:
    rendered = ErrorTable().render(InvalidClient("bad"), RFC6749)
    assert rendered.status == 400
    assert rendered.body == {"error": "invalid_client", "error_description": "bad"}
    assert "WWW-Authenticate" not in rendered.headers


@pytest.mark.parametrize("error, status, code", [
    (SubjectTokenRejected("x"), 400, "invalid_request"),
    (ProfileNotFound("x"), 400, "invalid_grant"),
])
def test_rfc6749_rows(error: Exception, status: int, code: str) -> None:
    rendered = ErrorTable().render(error, RFC6749)  # type: ignore[arg-type]
    assert (rendered.status, rendered.body["error"]) == (status, code)


def test_modeled_rows_can_be_overridden() -> None:
    table = ErrorTable({"profile_not_found": {"status": 404, "errorCode": "PROFILE_MISSING"}})
    rendered = table.render(ProfileNotFound("x"), SPOTNANA)
    assert rendered.status == 404 and rendered.body["errorMessages"][0]["errorCode"] == "PROFILE_MISSING"


def test_documented_rows_cannot_be_overridden() -> None:
    with pytest.raises(ValueError, match="documented"):
        ErrorTable({"validation": {"status": 418}})


def test_unknown_rows_are_named() -> None:
    with pytest.raises(KeyError, match="no_such_row"):
        ErrorTable({"no_such_row": {"status": 400}})


