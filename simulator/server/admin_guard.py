"""Who may use the admin API (``/_sim/…``): its owner, never a web page or a stranger.

Checked on every admin request, in this order:

1. **Origin.** A request carrying an ``Origin`` other than the simulator's own (the scheme and
   ``Host`` it arrived on) is refused, whatever its method: browsers add ``Origin`` to cross-site
   requests, so this stops a page on another site from driving the simulator through the
   user's browser. ``Origin: null`` (sandboxed frames, file pages) is foreign too.
2. **Who is asking.** With an admin token configured, ``Authorization: Bearer <token>`` is required
   (compared in constant time) and is enough from anywhere. Without one, the peer address must be
   loopback (proxy headers are believed only from ``--forwarded-allow-ips``, see server.served) and
   the ``Host`` must be a loopback name or address or one of ``admin_hosts``: a page on
   ``rebind.attacker.example`` whose name now resolves to 127.0.0.1 (DNS rebinding) is refused.
3. **Body.** A request with a body must send ``application/json``; HTML forms cannot, so a
   cross-site form post is refused even where ``Origin`` is missing. No body needs no type.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.requests import Request

from spotnana_sim.core.errors import AdminForbidden, AdminUnsupportedMediaType
from spotnana_sim.core.hosts import is_loopback, split_host_header

JSON_MEDIA_TYPE = "application/json"
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class AdminGuard:
    def __init__(self, *, admin_token: str | None, admin_hosts: Iterable[str] = ()) -> None:
        self._expected = f"Bearer {admin_token}".encode() if admin_token else None
        self.admin_hosts = frozenset(host.lower() for host in admin_hosts)

    def check(self, request: Request) -> None:
        """Return when the request may proceed; raise the error that answers it otherwise."""
        host_header = request.headers.get("host", "")
        origin = request.headers.get("origin")
        if origin is not None and not _same_origin(origin, request.url.scheme, host_header):
            raise AdminForbidden(
                "the admin API refuses requests from web pages of other origins "
                f"(Origin {origin[:100]!r} is not this simulator's own)"
            )
        if self._expected is not None:
            sent = request.headers.get("authorization", "").encode("utf-8", "replace")
            if not hmac.compare_digest(sent, self._expected):
                raise AdminForbidden("the admin API needs 'Authorization: Bearer <admin token>'")
        else:
            peer = request.client.host if request.client else None
            if not is_loopback(peer):
                raise AdminForbidden("the admin API answers loopback clients only; start with --admin-token to open it")
            host = split_host_header(host_header).lower()
            if not (is_loopback(host) or host.strip("[]") in self.admin_hosts):
                raise AdminForbidden(
                    f"the admin API answers requests for a loopback host only, not {host[:100]!r}; "
                    "allow a name with --admin-host NAME, or start with --admin-token"
                )
        if _has_body(request):
            media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media_type != JSON_MEDIA_TYPE:
                got = repr(media_type[:60]) if media_type else "no Content-Type"
                raise AdminUnsupportedMediaType(f"admin request bodies must be {JSON_MEDIA_TYPE}, got {got}")


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


def _same_origin(origin: str, scheme: str, host_header: str) -> bool:
    own = f"{scheme}://{host_header}".lower()
    return _normalized(origin.lower()) == _normalized(own)


def _normalized(origin: str) -> str:
    scheme, sep, rest = origin.partition("://")
    if not sep:
        return origin
    default = _DEFAULT_PORTS.get(scheme)
    if default and rest.endswith(":" + default):
        rest = rest[: -len(default) - 1]
    return f"{scheme}://{rest.rstrip('/')}"
