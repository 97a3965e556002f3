"""How secrets look wherever the simulator shows them: never whole, at most their last 4 characters."""

from __future__ import annotations

from typing import Any, Mapping

# Fields whose values are secrets or bearer credentials wherever they appear.
SECRET_FIELDS = frozenset(
    {"client_secret", "subject_token", "access_token", "refresh_token", "authorization", "admin_token", "secret"}
)


def redact(value: str) -> str:
    """Keep at most the last 4 characters, fewer for short values, so a short secret is never whole."""
    keep = min(4, len(value) // 4)
    return "…" + value[-keep:] if keep else "…"


def redact_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of form-like fields with every secret field's value(s) redacted."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name.lower() in SECRET_FIELDS:
            out[name] = [redact(v) for v in value] if isinstance(value, list) else redact(str(value))
        else:
            out[name] = value
    return out


def shorten(value: str, limit: int = 80) -> str:
    """Echo a non-secret value in a message without letting a huge input flood it."""
    return value if len(value) <= limit else value[:limit] + f"… ({len(value)} characters)"
