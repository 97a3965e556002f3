"""Host names and addresses: which ones are this machine, and how one is written inside a URL."""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8 or ``::1`` (brackets allowed); anything else, or nothing, is not."""
    if not host:
        return False
    name = host.strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):  # RFC 6761 §6.3: *.localhost is loopback
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host_header(value: str) -> str:
    """The host part of a ``Host`` header value (``[::1]:8080`` → ``[::1]``, ``a.b:80`` → ``a.b``)."""
    value = value.strip()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def url_host(host: str) -> str:
    """How a bind address appears in a URL: wildcards become 127.0.0.1, IPv6 gets brackets."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
