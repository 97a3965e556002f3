"""``spotnana-sim check frontend``: drive headless Chromium to a partner page and grade its half of the
embed handshake (FACTS.md §5) against the simulator's stand-in embedded app.

The checks, in order (names are stable):

* ``iframe-url``: an iframe loads ``…/embed/…?idp=token-exchange-auth&orgId=…`` [doc];
* ``answer-in-time``: the page answers TOKEN_EXCHANGE_REQUEST within 5 s (modeled, ``answer_deadline``);
* ``answer-shape``: the answer is exactly ``{"type":"TOKEN_EXCHANGE_RESPONSE","payload":{"accessToken",
  "refreshToken"}}`` [doc];
* ``answer-origin``: it comes from an origin the embedded app allows [doc];
* ``tokens-valid``: the embedded app signs in with them (the simulator checks them), as ``expect_email``;
* ``no-client-secret-in-browser`` (critical): no configured client's secret occurs in any URL, request,
  response body or header, script, storage, DOM or message the browser saw. The texts go to the
  simulator's ``POST /_sim/scan-secrets``, which answers only *which* clients leaked.

Nothing to judge is a failure, never a pass. Playwright is an optional dependency, imported when a
check runs; the browser is Debian's Chromium unless another path is given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx

from spotnana_sim.core.embed import EMBED_FROM, REQUEST_TYPE, TOKEN_EXCHANGE_AUTH_IDP
from spotnana_sim.core.embed_message import (
    RESPONSE_MALFORMED,
    RESPONSE_OK,
    UNRELATED,
    MessageVerdict,
    classify_exchange_message,
)
from spotnana_sim.core.redaction import shorten
from spotnana_sim.kit.frontend_secrets import (
    READ_CAPTURE,
    SCAN_SECRETS_PATH,
    collect_texts,
    evaluate,
    grade_secrets,
    where,
)
from spotnana_sim.kit.report import FAIL, PASS, WARN, CheckResult, Report

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Frame, Page

__all__ = [
    "ANSWER_DEADLINE",
    "CHECK_NAMES",
    "CHROMIUM_FLAGS",
    "CHROMIUM_PATH",
    "SCAN_SECRETS_PATH",
    "FrontendCheckError",
    "FrontendCheckOptions",
    "run_frontend_check",
]

CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
)
ANSWER_DEADLINE = 5.0  # modeled: Spotnana publishes no deadline; its app (our stand-in) gives up after 10 s
CHECK_NAMES = ("iframe-url", "answer-in-time", "answer-shape", "answer-origin", "tokens-valid",
               "no-client-secret-in-browser")

DOCUMENTED_SHAPE = '{type: "TOKEN_EXCHANGE_RESPONSE", payload: {accessToken, refreshToken}}'
FIX_LISTEN = (
    "listen for message events from the iframe (check event.origin is the embed's origin) whose data.type is "
    f'"{REQUEST_TYPE}", then call iframe.contentWindow.postMessage({DOCUMENTED_SHAPE}, embedOrigin)'
)
FIX_SLOW = ("answer at once: have the backend reuse tokens until they expire (the reference client caches them) "
            "and fetch them when the page loads, not after the request")

# Runs at document start in every frame: records each message the frame receives, before page scripts see it.
CAPTURE_SCRIPT = """
(() => {
  if (window.__spotnanaSimCapture) return;
  const capture = { messages: [] };
  Object.defineProperty(window, "__spotnanaSimCapture", { value: capture });
  window.addEventListener("message", (event) => {
    if (capture.messages.length >= 200) return;
    let fromParent = false;
    try { fromParent = window.parent !== window && event.source === window.parent; } catch (e) { fromParent = false; }
    let data;
    try { data = JSON.parse(JSON.stringify(event.data === undefined ? null : event.data)); }
    catch (e) { data = { __unreadable__: String(e) }; }
    capture.messages.push({ t: Date.now(), origin: event.origin, fromParent: fromParent, data: data });
  }, true);
})();
"""
_READ_EMBED = """(() => {
  const config = document.getElementById("embed-config");
  const text = (id) => { const e = document.getElementById(id); return e ? e.textContent : null; };
  return { config: config ? JSON.parse(config.textContent) : null,
           state: document.body ? document.body.dataset.state || null : null,
           email: text("email"), org: text("org"), message: text("message") };
})()"""


class FrontendCheckError(Exception):
    """The check cannot run at all (bad arguments, no Playwright, no browser): a usage error, not a grade."""


@dataclass(frozen=True)
class FrontendCheckOptions:
    answer_deadline: float = ANSWER_DEADLINE  # modeled
    page_timeout: float = 20.0  # seconds to load the partner page
    iframe_wait: float = 5.0  # seconds for the embed iframe to appear after load
    settle: float = 2.0  # seconds beyond the deadline (or the app's own timeout) to see what happens
    admin_token: str | None = field(default=None, repr=False)
    storage_state: str | None = None  # Playwright storage-state JSON (cookies of a signed-in user)
    chromium_path: str = CHROMIUM_PATH


@dataclass
class _Observed:
    embed_url: str | None = None
    embed: dict[str, Any] = field(default_factory=dict)  # config, state, email, org, message
    request_times: list[float] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)  # captured in the embed frame, from its parent
    waited: float = 0.0

    @property
    def allowed_origins(self) -> list[str] | None:
        config = self.embed.get("config")
        origins = config.get("allowedOrigins") if isinstance(config, dict) else None
        return [o for o in origins if isinstance(o, str)] if isinstance(origins, list) else None

    def answer(self) -> tuple[dict[str, Any], MessageVerdict] | None:
        """The first message from the parent meant as the answer (others are someone else's messages)."""
        for message in self.answers:
            verdict = classify_exchange_message(message.get("data"))
            if verdict.kind != UNRELATED:
                return message, verdict
        return None


def _check_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FrontendCheckError(f"{what} must be an http(s) URL, got {shorten(value, 80)!r}")
    return value


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def run_frontend_check(
    url: str,
    *,
    sim_url: str | None = None,
    expect_email: str | None = None,
    options: FrontendCheckOptions | None = None,
    browser: Browser | None = None,
    http: httpx.Client | None = None,
) -> Report:
    """Grade the partner page at ``url``. ``browser`` (reused, not closed) and ``http`` are for tests."""
    options = options or FrontendCheckOptions()
    _check_url(url, "--url")
    if sim_url is not None:
        _check_url(sim_url, "--sim")
    if browser is not None:
        return _run(browser, url, sim_url, expect_email, options, http)
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise FrontendCheckError("check frontend needs Playwright: pip install 'spotnana-simulator[browser]'") from None
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=options.chromium_path, args=list(CHROMIUM_FLAGS))
        except PlaywrightError as exc:
            raise FrontendCheckError(
                f"could not start Chromium at {options.chromium_path}: {str(exc).splitlines()[0]}"
            ) from None
        try:
            return _run(launched, url, sim_url, expect_email, options, http)
        finally:
            launched.close()


def _run(browser: Browser, url: str, sim_url: str | None, expect_email: str | None,
         options: FrontendCheckOptions, http: httpx.Client | None) -> Report:
    from playwright.sync_api import Error as PlaywrightError

    report = Report(title="check frontend", subject=url)
    context = browser.new_context(storage_state=options.storage_state)
    try:
        context.add_init_script(script=CAPTURE_SCRIPT)
        page = context.new_page()
        requests: list[Any] = []
        responses: list[Any] = []
        console: list[str] = []
        page.on("request", lambda request: requests.append(request))  # Playwright wants Python callables
        page.on("response", lambda response: responses.append(response))
        page.on("console", lambda message: console.append(message.text))
        try:
            page.goto(url, wait_until="load", timeout=options.page_timeout * 1000)
        except PlaywrightError as exc:
            reason = f"the page did not load: {shorten(str(exc).splitlines()[0], 200)}"
            for name in CHECK_NAMES:
                report.add(CheckResult(name, FAIL, f"nothing to judge: {reason}", fix="check --url and that the app runs"))
            return report
        frame = _embed_frame(page, options.iframe_wait)
        observed = _observe(page, frame, options) if frame is not None else _Observed()
        _grade_handshake(report, page, frame, observed, expect_email, options)
        texts = collect_texts(page, context, requests, responses, console)
        simulator = sim_url or (_origin(frame.url) if frame is not None else None)
        report.add(grade_secrets(simulator, texts, options.admin_token, http))
        return report
    finally:
        context.close()


def _embed_frame(page: Page, wait: float) -> Frame | None:
    deadline = time.monotonic() + wait
    while True:
        for frame in page.frames:
            if frame is page.main_frame:
                continue
            path = urlsplit(frame.url).path
            if path == "/embed" or path.startswith("/embed/"):
                return frame
        if time.monotonic() >= deadline:
            return None
        page.wait_for_timeout(100)


def _observe(page: Page, frame: Frame, options: FrontendCheckOptions) -> _Observed:
    observed = _Observed(embed_url=frame.url)
    started = time.monotonic()
    embed = evaluate(frame, _READ_EMBED) or {}
    config = embed.get("config") if isinstance(embed.get("config"), dict) else {}
    app_timeout = float(config.get("handshakeTimeoutMs", 10000)) / 1000 if config else 10.0
    limit = started + min(60.0, max(options.answer_deadline, app_timeout) + options.settle)
    while True:
        embed = evaluate(frame, _READ_EMBED) or embed
        captured = evaluate(frame, READ_CAPTURE) or []
        observed.embed = embed if isinstance(embed, dict) else {}
        observed.answers = [m for m in captured if isinstance(m, dict) and m.get("fromParent")]
        if observed.embed.get("state") in ("signed-in", "error"):
            break
        found = observed.answer()
        allowed = observed.allowed_origins
        if found and (found[1].kind == RESPONSE_MALFORMED or (allowed is not None and found[0].get("origin") not in allowed)):
            break  # the app will not sign in with this answer: nothing more to wait for
        if time.monotonic() >= limit:
            break
        page.wait_for_timeout(100)
    observed.waited = time.monotonic() - started
    for other in page.frames:
        if other is frame:
            continue
        for message in evaluate(other, READ_CAPTURE) or []:
            data = message.get("data") if isinstance(message, dict) else None
            if isinstance(data, dict) and data.get("from") == EMBED_FROM and data.get("type") == REQUEST_TYPE:
                observed.request_times.append(float(message.get("t", 0)))
    return observed


# -- grades ----------------------------------------------------------------------------------------


def _grade_handshake(report: Report, page: Page, frame: Frame | None, observed: _Observed,
                     expect_email: str | None, options: FrontendCheckOptions) -> None:
    if frame is None:
        frames = [where(f.url) for f in page.frames if f is not page.main_frame][:5]
        report.add(CheckResult(
            "iframe-url", FAIL, "no iframe of the page loads the simulator's /embed/… page",
            received="iframes: " + (", ".join(frames) if frames else "none"),
            fix=f"embed <iframe src=\"<simulator>/embed/?idp={TOKEN_EXCHANGE_AUTH_IDP}&orgId=<your org id>\">",
        ))
        for name in CHECK_NAMES[1:-1]:
            report.add(CheckResult(name, FAIL, "nothing to judge: no embed iframe"))
        return
    report.add(_grade_iframe_url(frame.url))
    found = observed.answer()
    report.add(_grade_timing(observed, found, options.answer_deadline))
    report.add(_grade_shape(found))
    report.add(_grade_origin(observed, found))
    report.add(_grade_tokens(observed, found, expect_email))


def _grade_iframe_url(url: str) -> CheckResult:
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    idp = query.get("idp", [])
    org = [o for o in query.get("orgId", []) if o.strip()]
    problems = []
    if idp != [TOKEN_EXCHANGE_AUTH_IDP]:
        problems.append(f"idp is {idp[0]!r}" if idp else "idp is missing")
    if not org:
        problems.append("orgId is missing or empty")
    if problems:
        return CheckResult("iframe-url", FAIL, "the iframe URL " + " and ".join(problems), received=where(url),
                           fix=f"use <embed host>/…?idp={TOKEN_EXCHANGE_AUTH_IDP}&orgId=<your org id>")
    return CheckResult("iframe-url", PASS, f"{where(url)} with idp={TOKEN_EXCHANGE_AUTH_IDP} and orgId={shorten(org[0], 60)}")


def _grade_timing(observed: _Observed, found: tuple[dict[str, Any], MessageVerdict] | None, deadline: float) -> CheckResult:
    name = "answer-in-time"
    if not observed.request_times:
        why = observed.embed.get("message") or "its page shows no reason"
        return CheckResult(name, FAIL, "nothing to judge: the iframe never sent TOKEN_EXCHANGE_REQUEST to this page",
                           received=shorten(str(why), 300), fix="load the iframe with the documented URL (see iframe-url)")
    if found is None:
        others = sorted({_type_of(m.get("data")) for m in observed.answers})
        return CheckResult(
            name, FAIL, f"no answer to TOKEN_EXCHANGE_REQUEST within {observed.waited:.1f} s",
            received=("messages that are no answer: " + ", ".join(others)) if others else "no message from the page",
            fix=FIX_LISTEN,
        )
    elapsed = max(0.0, (float(found[0].get("t", 0)) - min(observed.request_times)) / 1000)
    if elapsed > deadline:
        return CheckResult(name, FAIL, f"answered after {elapsed:.1f} s; the page must answer within {deadline:g} s "
                           "(modeled; the embedded app gives up after its own timeout)", fix=FIX_SLOW)
    return CheckResult(name, PASS, f"answered in {elapsed:.2f} s (limit {deadline:g} s, modeled)")


def _type_of(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("type"), str):
        return shorten(data["type"], 60)
    return type(data).__name__


def _grade_shape(found: tuple[dict[str, Any], MessageVerdict] | None) -> CheckResult:
    name = "answer-shape"
    if found is None:
        return CheckResult(name, FAIL, "nothing to judge: no answer")
    verdict = found[1]
    if verdict.kind == RESPONSE_MALFORMED:
        text = verdict.explanation
        if "camelCase" in text:
            fix = "rename the keys: payload.accessToken and payload.refreshToken (your backend's access_token and " \
                  "refresh_token, mapped to camelCase)"
        elif text.startswith("type"):
            fix = 'set type to exactly "TOKEN_EXCHANGE_RESPONSE"'
        elif "string" in text:
            fix = f"post the object itself, {DOCUMENTED_SHAPE}; postMessage clones objects, no JSON.stringify"
        else:
            fix = f"post exactly {DOCUMENTED_SHAPE}"
        return CheckResult(name, FAIL, verdict.problems[0], details=verdict.problems[1:], fix=fix)
    if verdict.extra_keys:
        return CheckResult(name, WARN, "the documented shape, with keys Spotnana does not document: "
                           + ", ".join(verdict.extra_keys), fix=f"send exactly {DOCUMENTED_SHAPE}")
    return CheckResult(name, PASS, f"exactly {DOCUMENTED_SHAPE}")


def _grade_origin(observed: _Observed, found: tuple[dict[str, Any], MessageVerdict] | None) -> CheckResult:
    name = "answer-origin"
    if found is None:
        return CheckResult(name, FAIL, "nothing to judge: no answer")
    origin = str(found[0].get("origin"))
    allowed = observed.allowed_origins
    if allowed is None:
        return CheckResult(name, FAIL, "could not read the embedded app's allowed origins: is the iframe a "
                           "spotnana-sim /embed/ page?", received=where(observed.embed_url or ""))
    if origin not in allowed:
        return CheckResult(
            name, FAIL, f"answered from {shorten(origin, 100)}, which the embedded app does not allow, so it ignores the answer",
            received="allowed: " + ", ".join(allowed),
            fix=f"serve the page from an allowed origin, or allow this one: spotnana-sim serve --embed-origin "
                f"{shorten(origin, 100)} (or [embed] allowed_origins); in production, Spotnana must allow your origin",
        )
    return CheckResult(name, PASS, f"answered from {origin}, an allowed origin")


def _grade_tokens(observed: _Observed, found: tuple[dict[str, Any], MessageVerdict] | None,
                  expect_email: str | None) -> CheckResult:
    name = "tokens-valid"
    state = observed.embed.get("state")
    message = shorten(str(observed.embed.get("message") or ""), 300)
    if state == "signed-in":
        email = str(observed.embed.get("email") or "")
        if expect_email is not None and email.casefold() != expect_email.strip().casefold():
            return CheckResult(name, FAIL, f"the tokens sign in {email}, not {expect_email}",
                               fix="exchange the signed-in user's own token: check which subject_token your backend sends")
        return CheckResult(name, PASS, f"the embedded app signed in {email} (org {observed.embed.get('org')})")
    if found is None or found[1].kind != RESPONSE_OK:
        return CheckResult(name, FAIL, "nothing to judge: no well-formed answer reached the embedded app")
    if state == "error":
        return CheckResult(name, FAIL, "the embedded app refused the tokens", received=message,
                           fix="hand over the access_token and refresh_token of a fresh token exchange for this user, "
                               "for the org in the iframe URL")
    return CheckResult(name, FAIL, f"nothing to judge: the embedded app did not sign in (state {state})", received=message)
