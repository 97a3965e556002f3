"""The secret check of ``check frontend``: collect everything the browser saw and ask the simulator
(``POST /_sim/scan-secrets``) which configured clients' secrets occur in it. The simulator answers
client ids only, so the secrets never travel back; labels name URLs without their query strings.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from spotnana_sim.core.redaction import shorten
from spotnana_sim.kit.report import FAIL, PASS, CheckResult

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Frame, Page

SCAN_SECRETS_PATH = "/_sim/scan-secrets"
SCAN_BATCH_CHARS = 512 * 1024
_OVERLAP = 1024  # a secret split across two pieces of a long text is still found
_ITEMS_LOCATED = 40  # texts of a leaking group scanned one by one, to say where the secret is
FIX_SECRET = ("keep the client secret on the backend: only the backend calls /v2/auth/oauth2-token, and the browser "
              "receives nothing but accessToken and refreshToken")
READ_CAPTURE = "window.__spotnanaSimCapture ? window.__spotnanaSimCapture.messages : []"
READ_STORAGE = """(() => {
  const dump = (s) => { const o = {}; try { for (let i = 0; i < s.length; i++) o[s.key(i)] = s.getItem(s.key(i)); } catch (e) {} return o; };
  let local = {}, session = {};
  try { local = dump(window.localStorage); } catch (e) {}
  try { session = dump(window.sessionStorage); } catch (e) {}
  return JSON.stringify({ localStorage: local, sessionStorage: session });
})()"""


class _ScanFailed(Exception):
    """The simulator did not answer the secret scan as documented."""


def where(url: str) -> str:
    """A URL without its query and fragment: safe to print even if the query held a secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else shorten(url.split("?")[0], 120)


def evaluate(frame: Frame, script: str) -> Any:
    from playwright.sync_api import Error as PlaywrightError

    try:
        return frame.evaluate(script)
    except PlaywrightError:  # detached or navigating: nothing to read this time
        return None


def collect_texts(page: Page, context: BrowserContext, requests: list[Any], responses: list[Any],
                  console: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Everything the browser saw, grouped; each text labelled without its query string."""
    from playwright.sync_api import Error as PlaywrightError

    groups: dict[str, list[tuple[str, str]]] = {
        "URLs": [], "requests": [], "response bodies": [], "response headers": [], "storage and cookies": [],
        "page content": [], "messages between frames": [], "console": [],
    }
    for request in requests:
        place = where(request.url)
        groups["URLs"].append((f"URL {place}", request.url))
        body = request.post_data
        groups["requests"].append((f"request to {place}", json.dumps(request.headers) + "\n" + (body or "")))
    for response in responses:
        place = where(response.url)
        groups["response headers"].append((f"response headers of {place}", json.dumps(response.headers)))
        with contextlib.suppress(PlaywrightError):  # redirects and aborted responses have no body
            groups["response bodies"].append((f"response body of {place}", response.body().decode("utf-8", "replace")))
    with contextlib.suppress(PlaywrightError):
        groups["storage and cookies"].append(("cookies", json.dumps(context.cookies())))
    for frame in page.frames:
        place = where(frame.url)
        groups["URLs"].append((f"frame URL {place}", frame.url))
        storage = evaluate(frame, READ_STORAGE)
        if isinstance(storage, str):
            groups["storage and cookies"].append((f"storage of {place}", storage))
        with contextlib.suppress(PlaywrightError):
            groups["page content"].append((f"DOM of {place}", frame.content()))
        captured = evaluate(frame, READ_CAPTURE)
        if captured:
            groups["messages between frames"].append((f"messages received by {place}", json.dumps(captured, default=str)))
    if console:
        groups["console"].append(("console", "\n".join(console)))
    return {name: items for name, items in groups.items() if items}


def _pieces(texts: list[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for text in texts:
        step = SCAN_BATCH_CHARS - _OVERLAP
        chunks = [text] if len(text) <= SCAN_BATCH_CHARS else [text[i:i + SCAN_BATCH_CHARS] for i in range(0, len(text), step)]
        for chunk in chunks:
            if batch and size + len(chunk) > SCAN_BATCH_CHARS:
                yield batch
                batch, size = [], 0
            batch.append(chunk)
            size += len(chunk)
    if batch:
        yield batch


def _scan(http: httpx.Client, url: str, texts: list[str], admin_token: str | None) -> set[str]:
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    leaked: set[str] = set()
    for batch in _pieces(texts):
        response = http.post(url, json={"texts": batch}, headers=headers)
        if response.status_code != 200:
            raise _ScanFailed(f"POST {SCAN_SECRETS_PATH} answered {response.status_code}")
        clients = response.json().get("clients")
        if not isinstance(clients, list):
            raise _ScanFailed(f"POST {SCAN_SECRETS_PATH} answered without a clients list")
        leaked.update(str(c) for c in clients)
    return leaked


def grade_secrets(simulator: str | None, groups: dict[str, list[tuple[str, str]]],
                   admin_token: str | None, http: httpx.Client | None) -> CheckResult:
    name = "no-client-secret-in-browser"
    if simulator is None:
        return CheckResult(name, FAIL, "nothing to judge: no simulator to ask (no embed iframe; give --sim URL)")
    url = simulator.rstrip("/") + SCAN_SECRETS_PATH
    client = http or httpx.Client(timeout=30.0)
    try:
        leaked: set[str] = set()
        places: list[str] = []
        for group, items in groups.items():
            found = _scan(client, url, [text for _, text in items], admin_token)
            if not found:
                continue
            leaked |= found
            located = [label for label, text in items[:_ITEMS_LOCATED]
                       if _scan(client, url, [text], admin_token)]
            places += located or [group]
    except (httpx.HTTPError, ValueError, AttributeError, _ScanFailed) as exc:
        return CheckResult(name, FAIL, f"could not ask the simulator at {where(simulator)} about secrets: "
                           f"{shorten(str(exc), 200)}",
                           fix=f"the simulator must answer POST {SCAN_SECRETS_PATH} (from loopback, or pass --admin-token)")
    finally:
        if http is None:
            client.close()
    count = sum(len(items) for items in groups.values())
    if leaked:
        return CheckResult(
            name, FAIL, f"the client secret of {', '.join(sorted(leaked))} reached the browser", critical=True,
            details=tuple(f"in {place}" for place in places[:10]), fix=FIX_SECRET,
        )
    return CheckResult(name, PASS, f"no configured client's secret in the {count} texts the browser saw "
                       "(URLs, requests, responses, scripts, storage, DOM, messages)")
