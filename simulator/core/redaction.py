"""How secrets look wherever the simulator shows them: never whole, at most their last 4 characters.

Form fields and URLs are the two shapes secrets arrive in. A form field is secret by its name (the
known credential fields, and any name ending in ``_token``, ``_secret`` or ``_password``); a URL
keeps its scheme, host, port, path and query *names*, and loses its userinfo and query *values*.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

# Fields whose values are secrets or bearer credentials wherever they appear (RFC 6749, 7521, 8693).
SECRET_FIELDS = frozenset({
    "client_secret", "subject_token", "actor_token", "access_token", "refresh_token", "id_token",
    "client_assertion", "assertion", "password", "code", "authorization", "admin_token", "secret",
})
SECRET_SUFFIXES = ("_token", "_secret", "_password")


def redact(value: str) -> str:
    """Keep at most the last 4 characters, fewer for short values, so a short secret is never whole."""
    keep = min(4, len(value) // 4)
    return "…" + value[-keep:] if keep else "…"


def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_FIELDS or lowered.endswith(SECRET_SUFFIXES)


def redact_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of form-like fields with every secret field's value(s) redacted."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if is_secret_field(name):
            out[name] = [redact(str(v)) for v in value] if isinstance(value, list) else redact(str(value))
        else:
            out[name] = value
    return out


@functools.lru_cache(maxsize=1024)  # the same few configured URLs, once per user-detail call
def redact_url(url: str) -> str:
    """The URL as it may be shown: userinfo and query values replaced, the rest kept for debugging."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return "…" + url.rpartition("@")[2].partition("?")[0][-40:]
    netloc = f"…@{host}" if "@" in parts.netloc else host
    shown_query = "&".join(f"{quote(name, safe='')}=…" for name, _ in query)
    return urlunsplit((parts.scheme, netloc, parts.path, shown_query, ""))


def shorten(value: str, limit: int = 80) -> str:
    """Echo a non-secret value in a message without letting a huge input flood it."""
    return value if len(value) <= limit else value[:limit] + f"… ({len(value)} characters)"
