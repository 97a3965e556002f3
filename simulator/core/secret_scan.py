"""Which clients' secrets occur in some text: the core of ``POST /_sim/scan-secrets``.

``spotnana-sim check frontend`` sends what a browser saw (response bodies, scripts, URLs, storage)
and learns which configured clients' secrets leaked into it, never the secrets themselves. Besides
the secret as is, the forms it takes on its way into a page are looked for: URL-encoded, JSON- and
HTML-escaped, base64 (alone, or as HTTP Basic ``id:secret``).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Sequence
from urllib.parse import quote, quote_plus

from spotnana_sim.core.settings import ClientConfig

__all__ = ["MAX_SCAN_CHARS", "clients_whose_secret_occurs", "secret_variants"]

#: A route serving this should refuse more characters than this per request (the frontend check
#: sends batches of at most 512 Ki characters).
MAX_SCAN_CHARS = 4 * 1024 * 1024
_MIN_VARIANT_CHARS = 6  # an encoded form shorter than this would match by chance


def _b64(raw: str) -> list[str]:
    data = raw.encode("utf-8")
    return [base64.b64encode(data).decode("ascii").rstrip("="), base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")]


def secret_variants(client_id: str, secret: str) -> frozenset[str]:
    """The secret and the encodings it takes in pages, URLs and headers."""
    variants = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        *_b64(secret),
        *_b64(f"{client_id}:{secret}"),
        *_b64(f"{quote_plus(client_id)}:{quote_plus(secret)}"),  # RFC 6749 §2.3.1 Basic credentials
    }
    return frozenset(v for v in variants if v == secret or len(v) >= _MIN_VARIANT_CHARS)


def clients_whose_secret_occurs(texts: Sequence[str], clients: Iterable[ClientConfig]) -> list[str]:
    """Ids (sorted) of the clients whose secret, in any of its forms, occurs in any of ``texts``."""
    leaked = []
    for client in clients:
        if not client.client_secret:
            continue
        variants = secret_variants(client.client_id, client.client_secret)
        if any(variant in text for text in texts for variant in variants):
            leaked.append(client.client_id)
    return sorted(leaked)
