"""The OpenAPI document's component schemas: request and response bodies, the journal, the admin API's.

Field limits come from ``token_request``, protocol values from ``protocol``, the journal entry from its
dataclass (``dataclass_schema``): the schemas cannot drift from the code. The paths and their answers
are in ``spotnana_sim.server.openapi``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from spotnana_sim.core.clock import LATEST_TIME
from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    OPENID_SCOPE,
    SUPPORTED_GRANTS,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.token_request import DEFAULT_MAX_FIELD_LENGTH, MAX_FIELD_LENGTH
from spotnana_sim.core.validators import MAX_TIMEOUT
from spotnana_sim.harness.journal_entry import JournalEntry, UserDetailCall

LATEST_CLOCK_TIME = int(LATEST_TIME)  # the admin clock refuses later times (clock.py)

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to one of the component schemas below."""
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}



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
        return ref(refs[hint])
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
        "TokenRequest": {"oneOf": [ref("TokenExchangeRequest"), ref("ClientCredentialsRequest")]},
    }


def component_schemas() -> Schema:
    """Every component schema, by name."""
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
                "entries": {"type": "array", "items": ref("JournalEntry")},
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

