"""The one place a failure becomes an answer, in either dialect, by the error table in force.

The table in force is ``ERROR_TABLE`` (``spotnana_sim.core.error_table``) with the configured
overrides of its modeled rows (``[errors.modeled]``); a fault rule's forced answer brings its own row.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from spotnana_sim.core.error_table import ERROR_TABLE, RFC6749, ErrorRow
from spotnana_sim.core.errors import ErrorParameter, FaultAnswer, SimulatorError


@dataclass(frozen=True)
class RenderedError:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    error_code: str  # the Spotnana errorCode or RFC 6749 error, for the journal


class ErrorTable:
    """The error table in force: ``ERROR_TABLE`` with the configured overrides of its modeled rows.

    :meth:`render` is the one place a failure becomes an answer, in either dialect.
    """

    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        rows = dict(ERROR_TABLE)
        for key, change in (overrides or {}).items():
            row = rows.get(key)
            if row is None:
                raise KeyError(f"unknown error row {key!r}; known rows: {', '.join(sorted(rows))}")
            if row.documented:
                raise ValueError(f"error row {key!r} is documented by Spotnana and cannot be overridden")
            rows[key] = replace(
                row,
                status=int(change.get("status", row.status)),
                error_code=str(change.get("errorCode", change.get("code", row.error_code))),
            )
        self.rows = rows

    def row_for(self, error: SimulatorError) -> ErrorRow:
        if isinstance(error, FaultAnswer):
            return error.row
        return self.rows[error.row_key]

    def render(self, error: SimulatorError, dialect: str, *, debug_identifier: str | None = None) -> RenderedError:
        """The answer to ``error``. ``debug_identifier`` is where the simulator keeps the request's
        record (modeled: Spotnana's identifiers lead to its own support tools)."""
        row = self.row_for(error)
        headers = dict(error.headers)
        if dialect == RFC6749:
            return RenderedError(row.rfc_status, {"error": row.rfc_error, "error_description": error.message},
                                 headers, row.rfc_error)
        body = spotnana_envelope(row.error_code, error.message, error.parameters, error.detail,
                                 debug_identifier=debug_identifier)
        return RenderedError(row.status, body, headers, row.error_code)


def spotnana_envelope(
    error_code: str, message: str, parameters: tuple[ErrorParameter, ...] = (), detail: str | None = None, *,
    debug_identifier: str | None = None,
) -> dict[str, Any]:
    """Spotnana's documented error envelope (S11, developer.spotnana.com/spotnana/error_handling)."""
    entry: dict[str, Any] = {
        "errorCode": error_code,
        "message": message,
        "errorParameters": [{"name": p.name, "value": p.value} for p in parameters],
    }
    if detail:
        entry["errorDetail"] = detail
    identifier = debug_identifier or f"urn:spotnana-sim:unrecorded:{secrets.token_hex(8)}"
    return {"debugIdentifier": identifier, "errorMessages": [entry]}

