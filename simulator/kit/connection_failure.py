"""Why a connection failed, in words a user can act on: nothing listens, the name does not resolve,
TLS failed, or no connection within the timeout.

HTTP clients wrap the system's error (httpx wraps httpcore's, which wraps the ``OSError``), so the
cause is found by walking the exception chain. No HTTP client is imported here.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

REFUSED = "refused"
NAME = "name"
TLS = "tls"
CONNECT_TIMEOUT = "connect-timeout"
OTHER = "other"


@dataclass(frozen=True)
class ConnectionFailure:
    """``kind`` is one of the constants above; ``reason`` is the system's own words, one line."""

    kind: str
    reason: str


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify(exc: BaseException, *, connect_timeout: bool = False) -> ConnectionFailure:
    """The kind of failure behind ``exc`` (an HTTP client's connection error, or the OSError itself).

    ``connect_timeout`` says the client reported a timeout while connecting (not while waiting for
    an answer): a host that drops packets, usually a firewall or a wrong address.
    """
    chain = _chain(exc)
    for error in chain:
        if isinstance(error, ssl.SSLCertVerificationError):
            return ConnectionFailure(TLS, error.verify_message or str(error))
        if isinstance(error, ssl.SSLError):
            return ConnectionFailure(TLS, error.reason or str(error))
        if isinstance(error, socket.gaierror):
            return ConnectionFailure(NAME, error.strerror or str(error))
        if isinstance(error, ConnectionRefusedError):
            return ConnectionFailure(REFUSED, error.strerror or "connection refused")
    if connect_timeout:
        return ConnectionFailure(CONNECT_TIMEOUT, "no connection within the timeout")
    text = next((str(e) for e in chain if str(e)), type(exc).__name__)
    # Some clients flatten the cause into their message only.
    lowered = text.lower()
    if "certificate verify failed" in lowered or "ssl" in lowered:
        return ConnectionFailure(TLS, text)
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered:
        return ConnectionFailure(NAME, text)
    if "connection refused" in lowered or "all connection attempts failed" in lowered:
        return ConnectionFailure(REFUSED, text)
    return ConnectionFailure(OTHER, text)


def host_and_port(url: str) -> str:
    """``host:port`` of a URL, with the scheme's default port when none is written."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def explain(failure: ConnectionFailure, url: str) -> str:
    """One sentence: what happened at which address."""
    where = host_and_port(url)
    host = urlsplit(url).hostname or "?"
    return {
        REFUSED: f"nothing listens at {where} (connection refused)",
        NAME: f"the name {host!r} does not resolve ({failure.reason})",
        TLS: f"TLS with {where} failed: {failure.reason}",
        CONNECT_TIMEOUT: f"no connection to {where} within the timeout (a firewall dropping packets, or a wrong address)",
        OTHER: f"could not connect to {where}: {failure.reason}",
    }[failure.kind]
