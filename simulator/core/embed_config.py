"""The ``[embed]`` settings of the stand-in embedded app, as plain data.

Kept apart from ``embed.py`` (which checks tokens and imports the settings module) so that
:class:`~spotnana_sim.core.settings.Settings` can hold an :class:`EmbedConfig` without an import
cycle. Values are checked twice on purpose: ``config_file``/``overrides`` check each key through
``validators`` and name the key or flag; ``EmbedConfig`` itself refuses bad values (ValueError) for
code that builds one directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from spotnana_sim.core.redaction import shorten

__all__ = [
    "DEFAULT_ALLOWED_ORIGINS",
    "MAX_HANDSHAKE_TIMEOUT",
    "MAX_TOKEN_CHECK_INTERVAL",
    "MIN_EMBED_SECONDS",
    "REQUEST_TARGETS",
    "EmbedConfig",
    "normalize_origin",
]

DEFAULT_ALLOWED_ORIGINS: tuple[str, ...] = ("http://localhost:3000",)  # [doc] allowed by default (FACTS §5)
REQUEST_TARGETS = ("*", "allowed-origins")  # modeled: targetOrigin of TOKEN_EXCHANGE_REQUEST
MIN_EMBED_SECONDS = 0.05
MAX_HANDSHAKE_TIMEOUT = 300.0
MAX_TOKEN_CHECK_INTERVAL = 24 * 3600.0


def normalize_origin(value: object) -> str:
    """``scheme://host[:port]`` in the form browsers put in ``MessageEvent.origin``, or ValueError saying why not."""
    example = "e.g. http://localhost:3000"
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"an origin must be a non-empty string, {example}")
    text = value.strip()
    if "*" in text:
        raise ValueError(f"{shorten(text)!r}: wildcards are not allowed; list each origin, {example}")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{shorten(text)!r} is not an origin: it must start with http:// or https://, {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{shorten(text)!r}: an origin carries no user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{shorten(text)!r}: an origin has no path, query or fragment: use scheme://host[:port], {example}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{shorten(text)!r}: the port is not a number between 0 and 65535") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"{shorten(text)!r}: the host is missing, {example}")
    if ":" in host:
        host = f"[{host}]"
    default_port = 80 if scheme == "http" else 443
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default_port else "")


def check_seconds(value: object, name: str, low: float, high: float) -> float:
    """``value`` as seconds between ``low`` and ``high``, or ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g} seconds, got {value:g}")
    return float(value)


@dataclass(frozen=True)
class EmbedConfig:
    """How the stand-in embedded app behaves. Origins are normalized; bad values raise ValueError."""

    allowed_origins: tuple[str, ...] = DEFAULT_ALLOWED_ORIGINS  # [doc] localhost:3000 by default
    port: int | None = None  # a second port serving the app too (a separate embed origin); None: none
    handshake_timeout: float = 10.0  # modeled: seconds the page waits for TOKEN_EXCHANGE_RESPONSE
    token_check_interval: float = 30.0  # modeled: how often a signed-in page asks the simulator if its token expired
    request_target: str = "*"  # modeled: targetOrigin of TOKEN_EXCHANGE_REQUEST ("*" or "allowed-origins")
    check_refresh_token: bool = True  # modeled: the refresh token must be one this simulator issued, for the same user

    def __post_init__(self) -> None:
        if isinstance(self.allowed_origins, str):
            raise ValueError("allowed_origins must be a list of origins, not one string")  # config errors are ValueErrors (TypeError would escape ConfigError handling)
        origins: list[str] = []
        for value in self.allowed_origins:
            origin = normalize_origin(value)
            if origin not in origins:
                origins.append(origin)
        object.__setattr__(self, "allowed_origins", tuple(origins))
        if self.port is not None and (isinstance(self.port, bool) or not isinstance(self.port, int)
                                      or not 0 <= self.port <= 65535):
            raise ValueError("port must be a whole number from 0 to 65535 (0 picks a free port)")
        check_seconds(self.handshake_timeout, "handshake_timeout", MIN_EMBED_SECONDS, MAX_HANDSHAKE_TIMEOUT)
        check_seconds(self.token_check_interval, "token_check_interval", MIN_EMBED_SECONDS, MAX_TOKEN_CHECK_INTERVAL)
        if self.request_target not in REQUEST_TARGETS:
            raise ValueError(f"request_target must be one of {', '.join(REQUEST_TARGETS)}, got {shorten(str(self.request_target))!r}")
        if not isinstance(self.check_refresh_token, bool):
            raise ValueError("check_refresh_token must be true or false")

    def allows(self, origin: str) -> bool:
        return origin in self.allowed_origins
