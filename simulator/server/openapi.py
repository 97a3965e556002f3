"""The OpenAPI 3.1 description of the simulator's HTTP surface, built from the same tables the code uses.

Statuses and error codes come from the error table in force (``ErrorTable``, with any configured
overrides of modeled rows), field limits from ``grants``, protocol values from ``protocol``: the
document cannot drift from the behaviour. ``dialect=None`` describes both error dialects (the
reference document); the served ``/openapi.json`` passes the configured dialect, so it lists exactly
the statuses and shapes that server answers with. Fault rules can force any answer: that is said in
the token operation's description, not listed status by status.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from spotnana_sim.core.clock import LATEST_TIME
from spotnana_sim.core.errors import DIALECTS, RFC6749, SPOTNANA, ErrorTable
from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    FORM_CONTENT_TYPE,
    OPENID_SCOPE,
    SUPPORTED_GRANTS,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.secret_scan import MAX_SCAN_CHARS
from spotnana_sim.core.token_request import DEFAULT_MAX_FIELD_LENGTH, MAX_FIELD_LENGTH
from spotnana_sim.core.validators import EMAIL_PATTERN, MAX_TIMEOUT
from spotnana_sim.harness.endpoint import MAX_BODY_BYTES
from spotnana_sim.harness.journal_entry import KINDS, JournalEntry, UserDetailCall

OPENAPI_PATH = "/openapi.json"
LATEST_CLOCK_TIME = int(LATEST_TIME)  # the admin clock refuses later times (clock.py)
OPENAPI_VERSION = "3.1.0"

# Rows of the error table a POST to the token endpoint never answers with (router, admin API, other methods).
NOT_TOKEN_POST_ROWS = frozenset({"not_found", "admin_forbidden", "admin_bad_request", "method_not_allowed",
                                 "admin_unsupported_media_type",
                                 "partner_key_conflict", "partner_key_not_found", "api_not_authenticated",
                                 "api_forbidden",  # the partner-keys and API-user endpoints
                                 "embed_token_invalid", "embed_message_malformed"})  # the last two: /_embed/* only

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


def _json(schema: Schema, description: str, headers: Schema | None = None) -> Schema:
    response: Schema = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


_NO_STORE_HEADERS: Schema = {
    "Cache-Control": {"description": "always `no-store` (RFC 6749 §5.1)", "schema": {"type": "string", "const": "no-store"}},
    "Pragma": {"description": "always `no-cache`", "schema": {"type": "string", "const": "no-cache"}},
}


def dataclass_schema(cls: type, refs: Mapping[type, str] | None = None) -> Schema:
    """A JSON Schema of a dataclass, from its type hints and each field's ``doc`` metadata."""
    hints = typing.get_type_hints(cls)
    properties: Schema = {}
    for item in dataclasses.fields(cls):
        schema = _type_schema(hints[item.name], refs or {})
        if item.metadata.get("doc"):
            schema = {**schema, "description": item.metadata["doc"]}
        properties[item.name] = schema
    doc = (cls.__doc__ or "").strip().splitlines()[0]
    return {"type": "object", "description": doc, "required": list(properties), "properties": properties}


def _type_schema(hint: Any, refs: Mapping[type, str]) -> Schema:
    if hint in refs:
        return _ref(refs[hint])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        schema = _type_schema(inner[0], refs)
        if "$ref" in schema:
            return {"anyOf": [schema, {"type": "null"}]}
        return {**schema, "type": [schema["type"], "null"]}
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0], refs)}
    if origin is dict:
        value = args[1] if args else Any
        return {"type": "object"} if value is Any else {"type": "object", "additionalProperties": _type_schema(value, refs)}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return {"type": simple[hint]} if hint in simple else {}


def _token_request_schemas() -> Schema:
    """One schema per grant: token exchange requires three more fields than client credentials."""

    def text(name: str, description: str) -> Schema:
        limit = MAX_FIELD_LENGTH.get(name, DEFAULT_MAX_FIELD_LENGTH)
        return {"type": "string", "minLength": 1, "maxLength": limit, "description": description}

    common = {
        "client_id": text("client_id", "the API client's id"),
        "client_secret": text("client_secret", "the API client's secret (never echoed whole anywhere)"),
        "audience": text("audience", "optional; becomes the access token's `aud` claim"),
    }
    note = "Each field must appear exactly once and be non-empty; fields the grant does not use are ignored."
    return {
        "TokenExchangeRequest": {
            "type": "object",
            "description": note,
            "required": ["grant_type", "client_id", "client_secret", "subject_token", "subject_token_type", "scope"],
            "properties": {
                "grant_type": {"type": "string", "const": TOKEN_EXCHANGE_GRANT},
                **common,
                "subject_token": text("subject_token", "the partner's user token, sent as `Authorization: Bearer` "
                                      "to the client's user-detail API"),
                "subject_token_type": {"type": "string", "const": ACCESS_TOKEN_TYPE},
                "scope": {"type": "string", "const": OPENID_SCOPE},
            },
        },
        "ClientCredentialsRequest": {
            "type": "object",
            "description": note,
            "required": ["grant_type", "client_id", "client_secret"],  # Spotnana's schema (S6)
            "properties": {"grant_type": {"type": "string", "const": CLIENT_CREDENTIALS_GRANT}, **common},
        },
        "TokenRequest": {"oneOf": [_ref("TokenExchangeRequest"), _ref("ClientCredentialsRequest")]},
    }


def _schemas() -> Schema:
    token = {"type": "string", "minLength": 1}
    return {
        **_token_request_schemas(),
        "TokenExchangeResponse": {
            "type": "object",
            "required": ["access_token", "refresh_token", "token_type", "expires_in", "scope"],
            "properties": {
                "access_token": {**token, "description": "RS256 JWT; verify with the JWKS"},
                "refresh_token": {**token, "description": "opaque to partners"},
                "token_type": {"type": "string", "const": "Bearer"},
                "expires_in": {"type": "integer", "minimum": 0},
                "scope": {"type": "string", "const": OPENID_SCOPE},
                "issued_token_type": {"type": "string", "const": ACCESS_TOKEN_TYPE,
                                      "description": "rfc6749 dialect only (RFC 8693 §2.2.1)"},
            },
        },
        "ClientCredentialsResponse": {
            "type": "object",
            "required": ["access_token", "expires_in", "token_type"],
            "properties": {
                "access_token": token,
                "expires_in": {"type": "integer", "minimum": 0},
                "token_type": {"type": "string", "const": "Bearer"},
            },
            "not": {"required": ["refresh_token"]},  # Spotnana: no refresh token for client_credentials (S6, S9)
        },
        "SpotnanaError": {
            "type": "object",
            "description": "Spotnana's documented error envelope (spotnana dialect, the default)",
            "required": ["debugIdentifier", "errorMessages"],
            "properties": {
                "debugIdentifier": {"type": "string", "format": "uri"},
                "errorMessages": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["errorCode", "message", "errorParameters"],
                        "properties": {
                            "errorCode": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
                            "message": {"type": "string"},
                            "errorParameters": {
                                "type": "array",
                                "description": "a validation error names the field here",
                                "items": {
                                    "type": "object",
                                    "required": ["name", "value"],
                                    "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                                },
                            },
                            "errorDetail": {"type": "string"},
                        },
                    },
                },
            },
        },
        "Rfc6749Error": {
            "type": "object",
            "description": "RFC 6749 §5.2 error (rfc6749 dialect, an extension)",
            "required": ["error", "error_description"],
            "properties": {"error": {"type": "string", "pattern": "^[a-z_]+$"}, "error_description": {"type": "string"}},
        },
        "Jwks": {
            "type": "object",
            "required": ["keys"],
            "properties": {
                "keys": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "object", "required": ["kty", "kid", "alg", "use"],
                              "properties": {"kty": {"type": "string"}, "kid": {"type": "string"},
                                             "alg": {"type": "string"}, "use": {"type": "string", "const": "sig"}}},
                }
            },
        },
        "OpenIdConfiguration": {
            "type": "object",
            "required": ["issuer", "token_endpoint", "jwks_uri", "grant_types_supported"],
            "properties": {
                "issuer": {"type": "string"},
                "token_endpoint": {"type": "string"},
                "jwks_uri": {"type": "string"},
                "grant_types_supported": {"type": "array", "items": {"type": "string", "enum": list(SUPPORTED_GRANTS)}},
                "token_endpoint_auth_methods_supported": {"type": "array", "items": {"type": "string"}},
                "scopes_supported": {"type": "array", "items": {"type": "string"}},
            },
        },
        "UserDetailCall": dataclass_schema(UserDetailCall),
        "JournalEntry": dataclass_schema(JournalEntry, refs={UserDetailCall: "UserDetailCall"}),
        "Journal": {
            "type": "object",
            "required": ["entries", "count", "dropped", "capacity"],
            "properties": {
                "entries": {"type": "array", "items": _ref("JournalEntry")},
                "count": {"type": "integer", "minimum": 0},
                "dropped": {"type": "integer", "minimum": 0, "description": "entries dropped because the journal was full"},
                "capacity": {"type": "integer", "minimum": 1},
            },
        },
        "Clock": {
            "type": "object",
            "required": ["now", "offset"],
            "properties": {"now": {"type": "number"}, "offset": {"type": "number"}},
        },
        "ClockChange": {
            "description": ("one of advance, set or reset (checked in that order; other keys are ignored); "
                            "the resulting time must stay between Unix 0 and 9999-12-31, else 400"),
            "anyOf": [
                {"type": "object", "required": ["advance"], "properties": {"advance": {"type": "number"}}},
                {"type": "object", "required": ["set"],
                 "properties": {"set": {"type": "number", "minimum": 0, "maximum": LATEST_CLOCK_TIME}}},
                {"type": "object", "required": ["reset"], "properties": {"reset": {"const": True}}},
            ],
        },
        "Client": {
            "type": "object",
            "required": ["id", "secret", "grants", "user_detail_url", "email_field", "timeout"],
            "properties": {
                "id": {"type": "string"},
                "secret": {"type": "string", "description": "redacted"},
                "grants": {"type": "array", "items": {"type": "string", "enum": list(SUPPORTED_GRANTS)}},
                "user_detail_url": _nullable("string"),
                "email_field": {"type": "string"},
                "timeout": {"type": "number"},
                "ca_file": _nullable("string"),
            },
        },
        "ClientChange": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "secret": {"type": "string", "minLength": 1, "description": "required for a new client"},
                "grants": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(SUPPORTED_GRANTS)}},
                "user_detail_url": {"type": "string", "minLength": 1},
                "email_field": {"type": "string", "minLength": 1},
                "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT},
                "ca_file": {"type": "string", "minLength": 1, "description": "a PEM file readable by the simulator"},
            },
        },
        "PartnerKeyRegistration": {
            "type": "object", "required": ["keyType", "jwks"],
            "properties": {
                "keyType": {"const": "JWKS"},
                "jwks": {"type": "object", "required": ["keys"], "properties": {"keys": {
                    "type": "array", "minItems": 1, "maxItems": 1, "items": {
                        "type": "object", "required": ["kty", "kid", "n", "e"],
                        "properties": {"kty": {"const": "RSA"}, "use": {"const": "sig"}, "alg": {"const": "RS256"},
                                       "kid": {"type": "string", "minLength": 1}, "n": {"type": "string"},
                                       "e": {"type": "string"}}}}}},
            },
        },
        "PartnerKeys": {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array", "items": {
            "type": "object", "required": ["id", "orgId", "kid", "status", "createdAt", "thumbprint"],
            "properties": {"id": {"type": "string"}, "orgId": {"type": "string"}, "kid": {"type": "string"},
                           "status": {"enum": ["ACTIVE", "REVOKED"]}, "createdAt": {"type": "string"},
                           "thumbprint": {"type": "string", "description": "RFC 7638 SHA-256, base64url"}}}}}},
        "ApiUser": {"type": "object", "required": ["clientId"],
                    "properties": {"clientId": {"type": "string", "minLength": 1}}},
        "FaultRule": {"type": "object", "description": "see the README section \"Faults and the request journal\" for the rule format"},
    }


def _error_schema(dialect: str | None) -> Schema:
    if dialect == SPOTNANA:
        return _ref("SpotnanaError")
    if dialect == RFC6749:
        return _ref("Rfc6749Error")
    return {"oneOf": [_ref("SpotnanaError"), _ref("Rfc6749Error")]}


def _error_responses(table: ErrorTable, dialects: tuple[str, ...], keys: frozenset[str] | None, extra_headers: bool) -> Schema:
    """One response per status the chosen rows answer with, each listing the failures behind it."""
    by_status: dict[int, list[str]] = {}
    for row in table.rows.values():
        if (keys is None and row.key in NOT_TOKEN_POST_ROWS) or (keys is not None and row.key not in keys):
            continue
        for dialect in dialects:
            status, code = (row.rfc_status, row.rfc_error) if dialect == RFC6749 else (row.status, row.error_code)
            label = f"{row.failure} ({dialect}: `{code}`{', modeled' if row.modeled else ''})"
            by_status.setdefault(status, []).append(label)
    schema = _error_schema(dialects[0] if len(dialects) == 1 else None)
    responses: Schema = {}
    for status in sorted(by_status):
        headers: Schema = dict(_NO_STORE_HEADERS) if extra_headers else {}
        if status == 401 and RFC6749 in dialects:
            headers["WWW-Authenticate"] = {"description": "rfc6749 dialect, invalid_client", "schema": {"type": "string"}}
        if status == 405:
            headers["Allow"] = {"schema": {"type": "string", "const": "POST"}}
        responses[str(status)] = _json(schema, "; ".join(by_status[status]), headers or None)
    return responses


def _admin_operation(summary: str, ok: Schema, table: ErrorTable, dialects: tuple[str, ...], *,
                     status: str = "200", body: Schema | None = None, not_found: bool = False,
                     bad_request: bool = False) -> Schema:
    keys = {"admin_forbidden"}
    if body is not None or bad_request:
        keys.add("admin_bad_request")
    if body is not None:
        keys.add("admin_unsupported_media_type")
    if not_found:
        keys.add("not_found")
    operation: Schema = {
        "summary": summary,
        "tags": ["admin (extension)"],
        "security": [{}, {"adminToken": []}],
        "responses": {status: _json(ok, "done"), **_error_responses(table, dialects, frozenset(keys), False)},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


def _partner_operation(summary: str, ok: Schema | None, table: ErrorTable, dialects: tuple[str, ...], *,
                       status: str = "200", body: Schema | None = None, extra: tuple[str, ...] = ()) -> Schema:
    """One of Spotnana's Bearer-protected management APIs (documented; FACTS §3, §6)."""
    keys = frozenset({"api_not_authenticated", "api_forbidden", *extra} | ({"validation"} if body is not None else set()))
    answer: Schema = _json(ok, "done") if ok is not None else {"description": "done, no body"}
    operation: Schema = {
        "summary": summary,
        "tags": ["Spotnana management APIs"],
        "security": [{"bearerAccessToken": []}],
        "responses": {status: answer, **_error_responses(table, dialects, keys, False)},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


def openapi_document(errors: ErrorTable | None = None, dialect: str | None = None, *, server_url: str | None = None) -> Schema:
    """The OpenAPI 3.1 document; ``dialect`` None describes both error dialects at once."""
    table = errors or ErrorTable()
    dialects = DIALECTS if dialect is None else (dialect,)
    token_ok = {"anyOf": [_ref("TokenExchangeResponse"), _ref("ClientCredentialsResponse")]}

    def admin(summary: str, ok: Schema, **kwargs: Any) -> Schema:
        return _admin_operation(summary, ok, table, dialects, **kwargs)

    def partner(summary: str, ok: Schema | None, **kwargs: Any) -> Schema:
        return _partner_operation(summary, ok, table, dialects, **kwargs)

    done = {"type": "object"}
    paths: Schema = {
        TOKEN_ENDPOINT_PATH: {
            "post": {
                "operationId": "fetchOauth2Token",
                "summary": "Token exchange and client credentials (Spotnana's fetchOauth2Token)",
                "description": (
                    f"Grants `{TOKEN_EXCHANGE_GRANT}` (calls the client's user-detail API with the subject token) "
                    f"and `{CLIENT_CREDENTIALS_GRANT}`. Bodies over {MAX_BODY_BYTES // 1024} KiB get 413 unread. "
                    "Error statuses other than Spotnana's documented ones are modeled (see the error table). "
                    "An armed fault rule may answer with any status, delay, or break the connection instead."
                ),
                "requestBody": {"required": True, "content": {FORM_CONTENT_TYPE: {"schema": _ref("TokenRequest")}}},
                "responses": {
                    "200": _json(token_ok, "tokens", dict(_NO_STORE_HEADERS)),
                    **_error_responses(table, dialects, None, True),
                },
            }
        },
        "/.well-known/jwks.json": {"get": {"summary": "the simulator's public keys (extension)",
                                           "responses": {"200": _json(_ref("Jwks"), "JWKS (RFC 7517)")}}},
        "/.well-known/openid-configuration": {"get": {"summary": "discovery document (extension)",
                                                      "responses": {"200": _json(_ref("OpenIdConfiguration"), "metadata")}}},
        "/.well-known/oauth-authorization-server": {"get": {
            "summary": "RFC 8414 authorization server metadata (extension)",
            "responses": {"200": _json(_ref("OpenIdConfiguration"), "metadata")}}},
        OPENAPI_PATH: {"get": {"summary": "this document", "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}},
        "/_sim/health": {"get": {"summary": "readiness (open to everyone)", "responses": {
            "200": _json({"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}, "ready")}}},
        "/_sim/reset": {"post": admin("journal, faults, clock, keys, runtime clients and profiles back to the start", done)},
        "/_sim/journal": {
            "get": {**admin("recorded token requests, oldest first", _ref("Journal"), bad_request=True), "parameters": [
                {"name": "client_id", "in": "query", "schema": {"type": "string"}},
                {"name": "status", "in": "query", "schema": {"type": "integer"}},
                {"name": "since", "in": "query", "schema": {"type": "number"}, "description": "Unix seconds"},
                {"name": "kind", "in": "query", "schema": {"enum": list(KINDS)},
                 "description": "token: token requests; embed: embedded-app handshake steps"},
            ]},
            "delete": admin("empty the journal", done),
        },
        "/_sim/faults": {
            "get": admin("armed fault rules", {"type": "object", "required": ["faults"],
                                               "properties": {"faults": {"type": "array", "items": _ref("FaultRule")}}}),
            "post": admin("arm a fault rule", _ref("FaultRule"), status="201", body=_ref("FaultRule")),
            "delete": admin("disarm every rule", done),
        },
        "/_sim/journal/{entry_id}": {
            "parameters": [{"name": "entry_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": admin("one journal entry: where an error answer's debugIdentifier leads (modeled)",
                         _ref("JournalEntry"), not_found=True),
        },
        "/_sim/faults/{rule_id}": {
            "parameters": [{"name": "rule_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "delete": admin("disarm one rule", done, not_found=True),
        },
        "/_sim/clock": {
            "get": admin("the simulated time", _ref("Clock")),
            "post": admin("move the simulated time", _ref("Clock"), body=_ref("ClockChange")),
        },
        "/_sim/keys/rotate": {"post": admin("new active signing key; the previous ones stay published", {
            "type": "object", "required": ["kid", "published"],
            "properties": {"kid": {"type": "string"}, "published": {"type": "array", "items": {"type": "string"}}}})},
        "/_sim/clients": {
            "get": admin("known API clients (secrets redacted)", {"type": "object", "required": ["clients"],
                                                                   "properties": {"clients": {"type": "array", "items": _ref("Client")}}}),
            "post": admin("add or change a client", _ref("Client"), status="201", body=_ref("ClientChange")),
        },
        "/_sim/scan-secrets": {"post": admin(
            "which clients' secrets occur in these texts (check frontend sends what the browser saw); ids only",
            {"type": "object", "required": ["clients"],
             "properties": {"clients": {"type": "array", "items": {"type": "string"}}}},
            body={"type": "object", "required": ["texts"], "additionalProperties": False,
                  "properties": {"texts": {"type": "array", "items": {"type": "string"},
                                           "description": f"at most {MAX_SCAN_CHARS} characters in all"}}},
        )},
        "/v2/companies/{companyId}/partner-public-keys": {
            "parameters": [{"name": "companyId", "in": "path", "required": True, "schema": {"type": "string"}}],
            "post": partner("register one partner public key (RSA, sig, RS256)", _ref("PartnerKeys"), status="201",
                            body=_ref("PartnerKeyRegistration"), extra=("partner_key_conflict",)),
            "get": {**partner("the company's partner public keys", _ref("PartnerKeys"), extra=("validation",)),
                    "parameters": [{"name": "status", "in": "query", "required": False,
                                    "schema": {"type": "string", "enum": ["ACTIVE", "REVOKED"]}}]},
        },
        "/v2/companies/{companyId}/partner-public-keys/{kid}": {
            "parameters": [{"name": "companyId", "in": "path", "required": True, "schema": {"type": "string"}},
                           {"name": "kid", "in": "path", "required": True, "schema": {"type": "string"}}],
            "delete": partner("revoke a partner public key", None, status="204", extra=("partner_key_not_found",)),
        },
        "/v2/api-users/rotate": {"post": partner(
            "a new secret for an API user; the old one and its tokens stop working at once",
            {"type": "object", "required": ["clientId", "clientSecret"],
             "properties": {"clientId": {"type": "string"}, "clientSecret": {"type": "string"}}},
            body=_ref("ApiUser"))},
        "/v2/api-users/revoke": {"post": partner(
            "every token of an API user stops working, and its secret until it is rotated", None, status="204",
            body=_ref("ApiUser"))},
        "/_sim/profiles": {
            "get": admin("Spotnana profile emails", {"type": "object", "required": ["accepts_every_email", "profiles"],
                                                     "properties": {"accepts_every_email": {"type": "boolean"},
                                                                    "profiles": {"type": "array", "items": {"type": "string"}}}}),
            "post": admin("add a profile", {"type": "object", "required": ["email", "user_id"]}, status="201",
                          body={"type": "object", "required": ["email"],
                                "properties": {"email": {"type": "string", "pattern": EMAIL_PATTERN}}}),
        },
    }
    document: Schema = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "spotnana-sim",
            "version": "1",
            "description": (
                "A simulator of Spotnana's OAuth 2.0 token endpoint. Documented behaviour is followed exactly; "
                "everything Spotnana does not publish is modeled and labelled so. "
                f"Error dialect{'s' if len(dialects) > 1 else ''}: {', '.join(dialects)}."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer",
                                               "description": "only when the simulator runs with --admin-token; "
                                                              "without it the admin API answers loopback clients only"},
                                "bearerAccessToken": {"type": "http", "scheme": "bearer",
                                                      "description": "an access token of an API user, from the "
                                                                     "client_credentials grant"}},
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
