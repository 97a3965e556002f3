"""The OpenAPI 3.1 description of the simulator's HTTP surface, built from the same tables the code uses.

Statuses and error codes come from the error table in force (``ErrorTable``, with any configured
overrides of modeled rows), the body schemas from ``openapi_schemas`` (field limits, protocol values,
the journal entry's dataclass): the document cannot drift from the behaviour. ``dialect=None``
describes both error dialects (the reference document); the served ``/openapi.json`` passes the
configured dialect, so it lists exactly the statuses and shapes that server answers with. Fault rules can force any answer: that is said in
the token operation's description, not listed status by status.
"""

from __future__ import annotations

from typing import Any

from spotnana_sim.core.error_rendering import ErrorTable
from spotnana_sim.core.error_table import DIALECTS, RFC6749, SPOTNANA
from spotnana_sim.core.protocol import (
    CLIENT_CREDENTIALS_GRANT,
    FORM_CONTENT_TYPE,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.secret_scan import MAX_SCAN_CHARS
from spotnana_sim.core.validators import EMAIL_PATTERN
from spotnana_sim.harness.endpoint import MAX_BODY_BYTES
from spotnana_sim.harness.journal_entry import KINDS
from spotnana_sim.server.openapi_schemas import Schema, component_schemas, ref

OPENAPI_PATH = "/openapi.json"
OPENAPI_VERSION = "3.1.0"

# Rows of the error table a POST to the token endpoint never answers with (router, admin API, other methods).
NOT_TOKEN_POST_ROWS = frozenset({"not_found", "admin_forbidden", "admin_bad_request", "method_not_allowed",
                                 "admin_unsupported_media_type",
                                 "partner_key_conflict", "partner_key_not_found", "api_not_authenticated",
                                 "api_forbidden",  # the partner-keys and API-user endpoints
                                 "embed_token_invalid", "embed_message_malformed"})  # the last two: /_embed/* only


def _json(schema: Schema, description: str, headers: Schema | None = None) -> Schema:
    response: Schema = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


_NO_STORE_HEADERS: Schema = {
    "Cache-Control": {"description": "always `no-store` (RFC 6749 §5.1)", "schema": {"type": "string", "const": "no-store"}},
    "Pragma": {"description": "always `no-cache`", "schema": {"type": "string", "const": "no-cache"}},
}


def _error_schema(dialect: str | None) -> Schema:
    if dialect == SPOTNANA:
        return ref("SpotnanaError")
    if dialect == RFC6749:
        return ref("Rfc6749Error")
    return {"oneOf": [ref("SpotnanaError"), ref("Rfc6749Error")]}


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
    token_ok = {"anyOf": [ref("TokenExchangeResponse"), ref("ClientCredentialsResponse")]}

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
                "requestBody": {"required": True, "content": {FORM_CONTENT_TYPE: {"schema": ref("TokenRequest")}}},
                "responses": {
                    "200": _json(token_ok, "tokens", dict(_NO_STORE_HEADERS)),
                    **_error_responses(table, dialects, None, True),
                },
            }
        },
        "/.well-known/jwks.json": {"get": {"summary": "the simulator's public keys (extension)",
                                           "responses": {"200": _json(ref("Jwks"), "JWKS (RFC 7517)")}}},
        "/.well-known/openid-configuration": {"get": {"summary": "discovery document (extension)",
                                                      "responses": {"200": _json(ref("OpenIdConfiguration"), "metadata")}}},
        "/.well-known/oauth-authorization-server": {"get": {
            "summary": "RFC 8414 authorization server metadata (extension)",
            "responses": {"200": _json(ref("OpenIdConfiguration"), "metadata")}}},
        OPENAPI_PATH: {"get": {"summary": "this document", "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}},
        "/_sim/health": {"get": {"summary": "readiness (open to everyone)", "responses": {
            "200": _json({"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}, "ready")}}},
        "/_sim/reset": {"post": admin("journal, faults, clock, keys, runtime clients and profiles back to the start", done)},
        "/_sim/journal": {
            "get": {**admin("recorded token requests, oldest first", ref("Journal"), bad_request=True), "parameters": [
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
                                               "properties": {"faults": {"type": "array", "items": ref("FaultRule")}}}),
            "post": admin("arm a fault rule", ref("FaultRule"), status="201", body=ref("FaultRule")),
            "delete": admin("disarm every rule", done),
        },
        "/_sim/journal/{entry_id}": {
            "parameters": [{"name": "entry_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": admin("one journal entry: where an error answer's debugIdentifier leads (modeled)",
                         ref("JournalEntry"), not_found=True),
        },
        "/_sim/faults/{rule_id}": {
            "parameters": [{"name": "rule_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "delete": admin("disarm one rule", done, not_found=True),
        },
        "/_sim/clock": {
            "get": admin("the simulated time", ref("Clock")),
            "post": admin("move the simulated time", ref("Clock"), body=ref("ClockChange")),
        },
        "/_sim/keys/rotate": {"post": admin("new active signing key; the previous ones stay published", {
            "type": "object", "required": ["kid", "published"],
            "properties": {"kid": {"type": "string"}, "published": {"type": "array", "items": {"type": "string"}}}})},
        "/_sim/clients": {
            "get": admin("known API clients (secrets redacted)", {"type": "object", "required": ["clients"],
                                                                   "properties": {"clients": {"type": "array", "items": ref("Client")}}}),
            "post": admin("add or change a client", ref("Client"), status="201", body=ref("ClientChange")),
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
            "post": partner("register one partner public key (RSA, sig, RS256)", ref("PartnerKeys"), status="201",
                            body=ref("PartnerKeyRegistration"), extra=("partner_key_conflict",)),
            "get": {**partner("the company's partner public keys", ref("PartnerKeys"), extra=("validation",)),
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
            body=ref("ApiUser"))},
        "/v2/api-users/revoke": {"post": partner(
            "every token of an API user stops working, and its secret until it is rotated", None, status="204",
            body=ref("ApiUser"))},
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
            "schemas": component_schemas(),
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
