"""The live dashboard at ``/_sim/ui``: the journal as it grows, faults, clients, time, keys, scenarios, a chart.

The page itself (``static/dashboard/``: HTML, ES modules, CSS; no library, no CDN) holds no data and is
served to anyone, because off loopback it must load to ask for the admin token. Every byte of data comes
from the admin API or from the routes here under ``/_sim/ui/api/``, all behind the same
:class:`~spotnana_sim.server.admin_guard.AdminGuard`. The page keeps that token in the tab's
``sessionStorage`` and sends it as ``Authorization: Bearer``; it polls rather than using server-sent
events because ``EventSource`` cannot send that header.

Nothing here runs on the token endpoint's path: the feed and the chart are computed from the journal
when the page asks, so with no page open the simulator does exactly what it did without a dashboard.

Scenarios are a layer above the server, so running one is done by a :class:`ScenarioRunner` handed in
by whoever builds the app (``spotnana-sim serve`` passes one); without it the page says scenarios
cannot be run here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from spotnana_sim.core.error_table import ERROR_TABLE
from spotnana_sim.core.errors import AdminBadRequest, NotFound
from spotnana_sim.core.fault_rules import CONNECTION_FAULTS, TARGETS, USER_DETAIL_OBJECTS, USER_DETAIL_WORDS
from spotnana_sim.core.redaction import redact_url, shorten
from spotnana_sim.harness.endpoint import DEFAULT_FAULT_CODES
from spotnana_sim.harness.journal import Journal
from spotnana_sim.harness.journal_entry import KINDS, TOKEN, JournalEntry
from spotnana_sim.harness.simulator import Simulator
from spotnana_sim.server.admin_api import Handler, client_view, guarded, json_body
from spotnana_sim.server.admin_guard import AdminGuard

__all__ = ["UI_PATH", "ScenarioRunner", "chart", "dashboard_routes", "journal_feed"]

log = logging.getLogger("spotnana_sim.dashboard")

UI_PATH = "/_sim/ui"
API_PREFIX = UI_PATH + "/api"
STATIC_DIR = Path(__file__).resolve().parent / "static" / "dashboard"
PAGE_FILE = "index.html"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".svg": "image/svg+xml", ".png": "image/png"}
FEED_LIMIT = 250  # entries per answer by default: a full journal arrives in a few answers, rendered as they come
MAX_FEED_LIMIT = 1000
CHART_WINDOW_SECONDS = 300
CHART_BUCKET_SECONDS = 5
SUCCESS = "success"

# The page may be framed by nobody (clickjacking a loopback admin page) and load nothing from elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
ASSET_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


class ScenarioRunner(Protocol):
    """Runs shipped scenarios against this simulator (implemented above the server layer)."""

    def catalogue(self) -> list[dict[str, Any]]:
        """Each scenario: ``name``, ``description``, ``steps`` (count), ``runnable`` and ``why`` not."""
        ...

    async def run(self, name: str, report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Run one; ``report`` gets each step's result (``index``, ``name``, ``outcome``, ``problems``)
        as it is judged. Returns the scenario's ``outcome`` (passed, failed, skipped, error) and ``why``."""
        ...


# ------------------------------------------------------------------------------------------ journal


def journal_feed(journal: Journal, after: int = 0, after_id: int | None = None, limit: int = FEED_LIMIT) -> dict[str, Any]:
    """The entries recorded after position ``after`` (1, 2, … in the order they were recorded).

    Ids give the order requests *arrived* in; a slow request is recorded after faster later ones, so a
    reader that followed ids would miss it. Positions follow recording: the journal has recorded
    ``dropped + len`` entries since it was last cleared. ``after_id`` is the id of the entry at
    ``after`` as the reader saw it; when the journal no longer agrees (it was cleared since), the
    answer starts over with ``reset``.
    """
    dropped, entries = _snapshot(journal)
    seen = after - dropped  # how many of the kept entries the reader has
    reset = seen > len(entries) or (
        after_id is not None and 0 < seen <= len(entries) and entries[seen - 1].id != after_id
    )
    start = 0 if reset else max(seen, 0)
    chunk = entries[start:start + limit]
    last = start + len(chunk)
    return {
        "entries": [entry.to_json() for entry in chunk],
        "first_position": dropped + start + 1,
        "position": dropped + last,
        "position_id": chunk[-1].id if chunk else (entries[start - 1].id if start > 0 else None),
        "oldest_position": dropped + 1,  # a reader drops what it shows from before this
        "more": last < len(entries),
        "reset": reset,
        "dropped": dropped,
        "count": len(entries),
        "capacity": journal.max_entries,
    }


def _snapshot(journal: Journal) -> tuple[int, list[JournalEntry]]:
    """``dropped`` and the entries, consistent with each other: ``dropped`` changes only together with
    the entries (under the journal's lock), so an unchanged count around the copy means they agree."""
    for _ in range(10):
        dropped = journal.dropped
        entries = journal.entries()
        if journal.dropped == dropped:
            return dropped, entries
    return journal.dropped, journal.entries()  # a journal dropping entries this fast: a reader may see one twice


# -------------------------------------------------------------------------------------------- chart


def outcome_of(entry: JournalEntry) -> str:
    """How the chart groups an exchange: success, the error code answered, or connection:<kind>."""
    if entry.connection_fault:
        return f"connection:{entry.connection_fault}"
    if entry.status is not None and 200 <= entry.status < 300:
        return SUCCESS
    return entry.error_code or f"HTTP {entry.status}"


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None when there is nothing to rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def chart(entries: Sequence[JournalEntry], now: float, window: int = CHART_WINDOW_SECONDS,
          bucket: int = CHART_BUCKET_SECONDS) -> dict[str, Any]:
    """Token exchanges of the last ``window`` seconds (of the simulator's clock, which entries carry),
    counted by outcome per ``bucket``, with the user-detail calls' latency p50 and p99 per bucket."""
    slots = window // bucket
    start = now - slots * bucket
    counts: list[Counter[str]] = [Counter() for _ in range(slots)]
    latencies: list[list[float]] = [[] for _ in range(slots)]
    for entry in entries:
        if entry.kind != TOKEN or not start <= entry.timestamp <= now:
            continue
        slot = min(int((entry.timestamp - start) // bucket), slots - 1)
        counts[slot][outcome_of(entry)] += 1
        latencies[slot].extend(call.elapsed_ms for call in entry.user_detail_calls)
    totals: Counter[str] = Counter()
    for slot_counts in counts:
        totals.update(slot_counts)
    every_latency = [ms for slot_latencies in latencies for ms in slot_latencies]
    return {
        "now": now,
        "window": slots * bucket,
        "bucket": bucket,
        "outcomes": sorted(totals, key=lambda name: (name != SUCCESS, name.startswith("connection:"), name)),
        "totals": dict(totals),
        "latency": {"p50": percentile(every_latency, 0.5), "p99": percentile(every_latency, 0.99),
                    "calls": len(every_latency)},
        "buckets": [
            {"start": start + i * bucket, "counts": dict(counts[i]),
             "p50": percentile(latencies[i], 0.5), "p99": percentile(latencies[i], 0.99)}
            for i in range(slots)
        ],
    }


# ---------------------------------------------------------------------------------------- scenarios


@dataclass
class _Run:
    id: int
    name: str
    state: str = "running"  # running, done
    outcome: str | None = None
    why: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "state": self.state, "outcome": self.outcome, "why": self.why,
                "steps": list(self.steps)}


class _ScenarioRuns:
    """One scenario run at a time, in the background; the page polls its progress."""

    def __init__(self, runner: ScenarioRunner) -> None:
        self.runner = runner
        self.latest: _Run | None = None
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None

    def start(self, name: str) -> _Run:
        if self.latest is not None and self.latest.state == "running":
            raise AdminBadRequest(f"scenario {self.latest.name!r} is still running; wait for it to finish")
        run = self.latest = _Run(next(self._ids), name)
        self._task = asyncio.get_running_loop().create_task(self._run(run))
        return run

    async def _run(self, run: _Run) -> None:
        try:
            result = await self.runner.run(run.name, run.steps.append)
            run.outcome, run.why = str(result.get("outcome", "error")), str(result.get("why", ""))
        except Exception as exc:  # a bug in the runner: shown on the page, traced in the server log
            log.exception("running scenario %r from the dashboard failed", run.name)
            run.outcome, run.why = "error", f"the run failed: {type(exc).__name__}: {shorten(str(exc), 200)}"
        finally:
            run.state = "done"


# ------------------------------------------------------------------------------------------- routes


def _query_int(request: Request, name: str, default: int | None, low: int = 0, high: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        upper = f" to {high}" if high is not None else " or more"
        raise AdminBadRequest(f"{name} must be a whole number from {low}{upper}, got {shorten(raw, 30)!r}")
    return int(raw)


def _assets() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in STATIC_DIR.iterdir()
            if path.suffix in MEDIA_TYPES or path.name == PAGE_FILE}


def dashboard_routes(simulator: Simulator, guard: AdminGuard, scenario_runner: ScenarioRunner | None = None) -> list[BaseRoute]:
    """The page, its assets and its API, to splice into the app's routes."""
    assets = _assets()
    runs = _ScenarioRuns(scenario_runner) if scenario_runner is not None else None
    error_codes = sorted({row.error_code for row in ERROR_TABLE.values()} | set(DEFAULT_FAULT_CODES.values()))

    async def page(request: Request) -> Response:
        return Response(assets[PAGE_FILE], media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets or name == PAGE_FILE:
            raise NotFound(f"no dashboard asset {shorten(name, 60)!r}")
        return Response(assets[name], media_type=MEDIA_TYPES[Path(name).suffix], headers=ASSET_HEADERS)

    async def meta(request: Request) -> Any:
        return {
            "base_url": simulator.base_url,
            "dialect": simulator.endpoint.dialect,
            "kinds": list(KINDS),
            "targets": list(TARGETS),
            "connection_faults": list(CONNECTION_FAULTS),
            "user_detail_words": list(USER_DETAIL_WORDS),
            "user_detail_objects": list(USER_DETAIL_OBJECTS),
            "error_codes": error_codes,
            "journal_capacity": simulator.journal.max_entries,
            "chart": {"window": CHART_WINDOW_SECONDS, "bucket": CHART_BUCKET_SECONDS},
            "scenarios": runs is not None,
        }

    async def journal(request: Request) -> Any:
        after = _query_int(request, "after", 0)
        after_id = _query_int(request, "after_id", None)
        limit = _query_int(request, "limit", FEED_LIMIT, 1, MAX_FEED_LIMIT)
        assert after is not None and limit is not None
        return journal_feed(simulator.journal, after, after_id, limit)

    async def stats(request: Request) -> Any:
        return chart(simulator.journal.entries(kind=TOKEN), simulator.clock.now())

    async def clients(request: Request) -> Any:
        return {"clients": [_client_with_identity(client) for client in simulator.clients.all()]}

    async def scenarios(request: Request) -> Any:
        if runs is None:
            return {"available": False, "scenarios": [], "run": None,
                    "why": "this simulator was not started by `spotnana-sim serve`, which runs scenarios against itself"}
        catalogue = await run_in_threadpool(runs.runner.catalogue)  # loading YAML files: off the event loop
        return {"available": True, "scenarios": catalogue, "run": runs.latest.view() if runs.latest else None}

    async def run_scenario(request: Request) -> Any:
        if runs is None:
            raise AdminBadRequest("scenarios cannot be run here: this simulator was not started by `spotnana-sim serve`")
        if request.method == "GET":
            return {"run": runs.latest.view() if runs.latest else None}
        name = (await json_body(request)).get("name")
        names = [item["name"] for item in await run_in_threadpool(runs.runner.catalogue)]
        if not isinstance(name, str) or name not in names:
            raise AdminBadRequest(f'name: send {{"name": scenario}}, one of the shipped scenarios ({len(names)} of them)')
        return JSONResponse({"run": runs.start(name).view()}, status_code=202)

    def api(path: str, handler: Handler, methods: list[str]) -> Route:
        return Route(API_PREFIX + path, guarded(guard, handler), methods=methods)

    return [
        Route(UI_PATH, page, methods=["GET"]),
        Route(UI_PATH + "/static/{name}", asset, methods=["GET"]),
        api("/meta", meta, ["GET"]),
        api("/journal", journal, ["GET"]),
        api("/stats", stats, ["GET"]),
        api("/clients", clients, ["GET"]),
        api("/scenarios", scenarios, ["GET"]),
        api("/scenarios/run", run_scenario, ["GET", "POST"]),
    ]


def _client_with_identity(client: Any) -> dict[str, Any]:
    """A client as the admin API shows it, with its identity model and (redacted) JWKS URL."""
    view = client_view(client)
    view.setdefault("identity", getattr(client, "identity", "user-detail"))
    jwks_url = getattr(client, "jwks_url", None)
    view.setdefault("jwks_url", redact_url(jwks_url) if jwks_url else None)
    return view
