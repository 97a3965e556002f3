"""Parsing and validating a token request body, per grant. No HTTP framework here.

Spotnana's schema (S6) requires grant_type, client_id and client_secret; the token-exchange
integration page adds subject_token, subject_token_type and scope with fixed values. A field the
grant uses must appear exactly once and be non-empty; fields the grant does not use are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from spotnana_sim.core.errors import InvalidScope, UnsupportedContentType, UnsupportedGrantType, ValidationFailed
from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    FORM_CONTENT_TYPE,
    JWT_TOKEN_TYPE,
    OPENID_SCOPE,
    SUPPORTED_GRANTS,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.redaction import SECRET_FIELDS, redact, shorten

Form = dict[str, list[str]]

MAX_FIELDS = 64
# Generous for JWT subject tokens, small enough that one field cannot fill the body cap unnoticed.
MAX_FIELD_LENGTH = {"subject_token": 8192, "client_secret": 1024, "audience": 1024}
DEFAULT_MAX_FIELD_LENGTH = 512

CLIENT_FIELDS = ("client_id", "client_secret")
GRANT_FIELDS: dict[str, tuple[str, ...]] = {
    TOKEN_EXCHANGE_GRANT: ("subject_token", "subject_token_type", "scope"),
    CLIENT_CREDENTIALS_GRANT: (),
}
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    TOKEN_EXCHANGE_GRANT: ("audience",),
    CLIENT_CREDENTIALS_GRANT: ("audience",),
}


@dataclass(frozen=True)
class TokenRequest:
    grant_type: str
    client_id: str
    client_secret: str
    subject_token: str | None = None
    subject_token_type: str | None = None
    scope: str | None = None
    audience: str | None = None

    def __repr__(self) -> str:  # the dataclass default would print the secrets
        return f"TokenRequest(grant_type={self.grant_type!r}, client_id={self.client_id!r}, scope={self.scope!r})"


def parse_form(content_type: str | None, body: bytes) -> Form:
    """Decode an application/x-www-form-urlencoded body into name → every value sent."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        got = shorten(media_type) if media_type else "no Content-Type"
        raise UnsupportedContentType(
            "Content-Type",
            f"the body must be form-encoded, got {got}",
            accepted=FORM_CONTENT_TYPE,
            received=shorten(content_type or ""),
        )
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise ValidationFailed(
            "body", "is not valid form encoding (non-ASCII bytes, or percent-escapes that are not UTF-8)",
            accepted="percent-encoded UTF-8",
        ) from None
    except ValueError:
        raise ValidationFailed("body", f"has more than {MAX_FIELDS} fields") from None
    form: Form = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def first_value(form: Form, name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _received(name: str, value: str) -> str:
    return redact(value) if name in SECRET_FIELDS else shorten(value)


def _single(form: Form, name: str, *, required: bool) -> str | None:
    values = form.get(name)
    if not values:
        if required:
            raise ValidationFailed(name, "is required but missing")
        return None
    if len(values) > 1:
        raise ValidationFailed(name, f"must appear once, appeared {len(values)} times", received=_received(name, values[0]))
    value = values[0]
    if value == "":
        raise ValidationFailed(name, "must not be empty")
    limit = MAX_FIELD_LENGTH.get(name, DEFAULT_MAX_FIELD_LENGTH)
    if len(value) > limit:
        raise ValidationFailed(name, f"is {len(value)} characters, longer than the limit of {limit}")
    return value


def validate(form: Form) -> TokenRequest:
    """Check every field the grant uses; the first problem found is the one reported."""
    grant_type = _single(form, "grant_type", required=True)
    assert grant_type is not None
    if grant_type not in SUPPORTED_GRANTS:
        raise UnsupportedGrantType(
            "grant_type", f"{shorten(grant_type)!r} is not supported",
            accepted=" or ".join(SUPPORTED_GRANTS), received=shorten(grant_type),
        )
    client_id, client_secret = (_single(form, name, required=True) for name in CLIENT_FIELDS)
    values = {name: _single(form, name, required=True) for name in GRANT_FIELDS[grant_type]}
    values.update({name: _single(form, name, required=False) for name in OPTIONAL_FIELDS[grant_type]})
    if grant_type == TOKEN_EXCHANGE_GRANT:
        if values["subject_token_type"] not in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
            raise ValidationFailed(
                "subject_token_type", f"{shorten(values['subject_token_type'] or '')!r} is not accepted",
                accepted=f"{ACCESS_TOKEN_TYPE} ({JWT_TOKEN_TYPE} too, for clients of identity model B)",
                received=shorten(values["subject_token_type"] or ""),
            )
        if values["scope"] != OPENID_SCOPE:
            raise InvalidScope(
                "scope", f"{shorten(values['scope'] or '')!r} is not accepted",
                accepted=OPENID_SCOPE, received=shorten(values["scope"] or ""),
            )
    assert client_id is not None and client_secret is not None
    return TokenRequest(grant_type=grant_type, client_id=client_id, client_secret=client_secret, **values)
