"""Running scenarios: each against a fresh in-process simulator, or against a server at ``--target``.

Against a target, control goes through the admin API: ``POST /_sim/reset`` before and after each
scenario, ``POST /_sim/clients`` for a client patch, ``POST /_sim/faults`` for each rule, and
``GET /_sim/journal`` to see the user-detail calls. A target without that API (the real Spotnana
sandbox) still runs every scenario that needs none of it; the others are skipped with the reason.

Results come out as a table (scenario, result, why) and, for CI, a JUnit XML file.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from spotnana_sim.core.redaction import redact_url
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ConfigError, Settings
from spotnana_sim.core.tokens import KeySet
from spotnana_sim.core.user_detail import UserDetailHttp, UserDetailResponse
from spotnana_sim.harness.faults import FaultRuleError
from spotnana_sim.kit.connection_failure import REFUSED, classify, explain
from spotnana_sim.scenarios.judge import Observed, check_step
from spotnana_sim.scenarios.loader import (
    MODELED,
    BuiltRequest,
    Scenario,
    ScenarioError,
    placeholder_values,
    settings_for,
    subject_token_placeholder,
    substitute_all,
)
from spotnana_sim.server.inprocess import build_in_process

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"
TARGET_TIMEOUT = 30.0  # seconds per request to a target; a slow sandbox is not a failure of ours


@dataclass
class ScenarioResult:
    name: str
    file: str
    outcome: str  # PASSED, FAILED, SKIPPED or ERROR
    why: str = ""
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Credentials:
    """What ``--client-id/--client-secret/--subject-token`` set; None leaves the runner's default.

    ``more_subject_tokens`` are the 2nd, 3rd… ``--subject-token``: they fill ``${subject_token_2}``…
    With no subject token given at all, those are the embedded demo users' tokens (grace, linus).
    """

    client_id: str | None = None
    client_secret: str | None = None
    subject_token: str | None = None
    more_subject_tokens: tuple[str, ...] = ()

    def subject_tokens_after_the_first(self) -> tuple[str, ...]:
        if self.subject_token is not None or self.more_subject_tokens:
            return self.more_subject_tokens
        from spotnana_sim.reference.demo_users import DEMO_USERS

        return tuple(DEMO_USERS)[1:]


def _unfilled(scenario: Scenario, values: Mapping[str, str]) -> ScenarioResult | None:
    missing = scenario.unfilled(values)
    if not missing:
        return None
    users = max([1] + [int(name.rsplit("_", 1)[1]) for name in scenario.placeholders if name.startswith("subject_token_")])
    return ScenarioResult(scenario.name, scenario.file, ERROR,
                          f"uses {', '.join(missing)}, which nothing fills: pass --subject-token once per user "
                          f"({users} times, in the order of the placeholders)")


class Runner(Protocol):
    async def run(self, scenario: Scenario) -> ScenarioResult: ...


async def run_all(runner: Runner, scenarios: Sequence[Scenario]) -> list[ScenarioResult]:
    results = []
    for scenario in scenarios:
        started = time.perf_counter()
        result = await runner.run(scenario)
        result.seconds = time.perf_counter() - started
        results.append(result)
    return results


def broken_results(errors: Sequence[ScenarioError]) -> list[ScenarioResult]:
    """A malformed file is a result too, so CI shows it beside the scenarios that ran."""
    return [
        ScenarioResult(name=Path(e.source).stem, file=e.source, outcome=ERROR, why=f"malformed: {e.problems[0]}", details=str(e).splitlines())
        for e in errors
    ]


def _judge(scenario: Scenario, step_failures: list[tuple[int, str, list[str]]]) -> ScenarioResult:
    if not step_failures:
        steps = len(scenario.steps)
        return ScenarioResult(scenario.name, scenario.file, PASSED, f"{steps} step{'s' if steps != 1 else ''} as expected")
    details = [f"steps[{i}] ({name}): {failure}" for i, name, failures in step_failures for failure in failures]
    return ScenarioResult(scenario.name, scenario.file, FAILED, details[0], details)


# ---------------------------------------------------------------------------------------- in-process


class CapturingHttp:
    """Wraps the simulator's user-detail HTTP client to see the Authorization header it sends."""

    def __init__(self, inner: UserDetailHttp) -> None:
        self.inner = inner
        self.authorizations: list[str] = []

    async def get(
        self, url: str, headers: Mapping[str, str], timeout: float, max_bytes: int, *, ca_file: str | None = None,
    ) -> UserDetailResponse:
        self.authorizations.append(next((v for k, v in headers.items() if k.lower() == "authorization"), ""))
        return await self.inner.get(url, headers, timeout, max_bytes, ca_file=ca_file)


class InProcessRunner:
    """A fresh simulator per scenario: no state leaks between scenarios, nothing listens on a port."""

    def __init__(self, base: Settings | None = None, credentials: Credentials = Credentials()) -> None:
        self.base = base or Settings()
        self.credentials = credentials
        self._keys: dict[str, KeySet] = {}  # one key per algorithm: generating one per scenario is the slow part

    def _shared_keys(self, settings: Settings) -> KeySet | None:
        if settings.tokens.key_file is not None:
            return None  # the configured file decides
        keys = self._keys.get(settings.tokens.algorithm)
        if keys is None:
            keys = self._keys[settings.tokens.algorithm] = KeySet.generate(settings.tokens.algorithm)
        keys.reset()
        return keys

    async def run(self, scenario: Scenario) -> ScenarioResult:
        try:
            settings = settings_for(scenario.config, self.base, self.credentials.client_id)
        except ConfigError as exc:
            return ScenarioResult(scenario.name, scenario.file, ERROR, f"config.{exc.key}: {exc.problem}")
        sim = build_in_process(settings, keys=self._shared_keys(settings))
        try:
            return await self._run(scenario, sim)
        finally:
            await sim.aclose()

    async def _run(self, scenario: Scenario, sim: Any) -> ScenarioResult:
        from spotnana_sim.reference.demo_users import DEMO_SUBJECT_TOKEN

        simulator = sim.simulator
        capture = CapturingHttp(simulator.verifier.http)
        simulator.verifier.http = capture
        client = simulator.clients.get(self.credentials.client_id or "") or next(iter(simulator.clients.all()), None)
        values = placeholder_values(
            client, DEMO_SUBJECT_TOKEN, more_subject_tokens=self.credentials.subject_tokens_after_the_first(),
            client_id=self.credentials.client_id, client_secret=self.credentials.client_secret,
            subject_token=self.credentials.subject_token,
        )
        unfilled = _unfilled(scenario, values)
        if unfilled is not None:
            return unfilled
        for i, rule in enumerate(scenario.faults):
            try:
                simulator.faults.arm(substitute_all(rule, values))
            except FaultRuleError as exc:
                where = f"faults[{i}]" + (f".{exc.path}" if exc.path else "")
                return ScenarioResult(scenario.name, scenario.file, ERROR, f"{where}: {exc.problem}")
        failures: list[tuple[int, str, list[str]]] = []
        async with sim.client() as http:
            for i, step in enumerate(scenario.steps):
                before = _last_id(simulator.journal.entries())
                capture.authorizations.clear()
                observed = await _send(http, step.request.build(values))
                entries = [e for e in simulator.journal.entries() if e.get("id", 0) > before]
                observed.user_detail_calls = [c for e in entries for c in e.get("user_detail_calls", [])]
                observed.authorizations = list(capture.authorizations)
                observed.now = simulator.clock.now()
                problems = check_step(step.expect, observed, values)
                if problems:
                    failures.append((i, step.name, problems))
        return _judge(scenario, failures)


def _last_id(entries: Sequence[Mapping[str, Any]]) -> int:
    return max((int(e.get("id", 0)) for e in entries), default=0)


async def _send(http: httpx.AsyncClient, request: BuiltRequest) -> Observed:
    try:
        response = await http.request(request.method, request.path, headers=request.headers, content=request.body)
    except Exception as exc:  # in-process a broken connection is an exception from the app; over TCP an httpx error
        return Observed(transport_error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    return Observed(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body=response.content,
        now=time.time(),
    )


# -------------------------------------------------------------------------------------------- target


@dataclass(frozen=True)
class TargetControl:
    """What the target lets replay do; ``reason`` says why admin is False."""

    admin: bool
    reason: str = ""


class TargetRunner:
    """Scenarios against a running server; control through its admin API when it has one."""

    def __init__(
        self,
        target: str,
        credentials: Credentials = Credentials(),
        *,
        admin_token: str | None = None,
        include_modeled: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.target = target.rstrip("/")
        self.credentials = credentials
        self.admin_headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.include_modeled = include_modeled
        self.transport = transport
        self.control: TargetControl | None = None
        self.lost: str | None = None  # the target stopped answering: why (the scenarios left are not run)
        self._ssl: ssl.SSLContext | None = None  # built once: loading the CA store is the slow part of a client

    def values(self) -> dict[str, str]:
        from spotnana_sim.reference.demo_users import DEMO_SUBJECT_TOKEN

        c = self.credentials
        return {
            "client_id": c.client_id or DEMO_CLIENT_ID,
            "client_secret": c.client_secret or DEMO_CLIENT_SECRET,
            "subject_token": c.subject_token or DEMO_SUBJECT_TOKEN,
            **{subject_token_placeholder(n): token for n, token in enumerate(c.subject_tokens_after_the_first(), start=2)},
        }

    def _client(self) -> httpx.AsyncClient:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return httpx.AsyncClient(base_url=self.target, timeout=TARGET_TIMEOUT, transport=self.transport, verify=self._ssl)

    async def connect(self) -> TargetControl:
        """Probe the target once, before any scenario: raises :class:`TargetUnreachable` saying why."""
        if self.control is None:
            async with self._client() as http:
                self.control = await self.probe(http)
        return self.control

    async def probe(self, http: httpx.AsyncClient) -> TargetControl:
        """The journal is what every controlled scenario needs, so it is what is probed."""
        try:
            response = await http.get("/_sim/journal", headers=self.admin_headers)
        except httpx.HTTPError as exc:
            raise TargetUnreachable(self._unreachable(exc)) from None
        if response.status_code == 200:
            return TargetControl(True)
        if response.status_code in (401, 403):
            return TargetControl(False, f"the target's admin API refused access ({response.status_code}); pass --admin-token")
        return TargetControl(False, f"the target has no simulator admin API (GET /_sim/journal answered {response.status_code})")

    def skip_reason(self, scenario: Scenario, control: TargetControl) -> str | None:
        if scenario.needs_callback_headers:
            return "checks the Authorization header sent to the user-detail API, which only an in-process run sees"
        if scenario.in_process_config:
            return f"config section(s) {', '.join(scenario.in_process_config)} can only be applied in-process"
        if not control.admin:
            needs = [what for what, needed in (
                ("fault rules", bool(scenario.faults)),
                ("a client patch", bool(scenario.client_patch)),
                ("the journal", scenario.needs_journal),
            ) if needed]
            if needs:
                return f"needs {' and '.join(needs)}, but {control.reason}"
            if scenario.source == MODELED and not self.include_modeled:
                return "modeled outcome (Spotnana does not document it); --include-modeled runs it anyway"
        return None

    def _unreachable(self, exc: httpx.HTTPError) -> str:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            failure = classify(exc, connect_timeout=isinstance(exc, httpx.ConnectTimeout))
            hint = "; is the server running? (start a simulator with: spotnana-sim serve)" if failure.kind == REFUSED else ""
            return f"{redact_url(self.target)}: {explain(failure, self.target)}{hint}"
        return f"{redact_url(self.target)} did not answer ({type(exc).__name__}: {exc})"

    async def run(self, scenario: Scenario) -> ScenarioResult:
        if self.lost:
            return ScenarioResult(scenario.name, scenario.file, SKIPPED, f"not run: {self.lost}")
        async with self._client() as http:
            try:
                if self.control is None:
                    self.control = await self.probe(http)
                reason = self.skip_reason(scenario, self.control)
                if reason:
                    return ScenarioResult(scenario.name, scenario.file, SKIPPED, reason)
                return await self._run(scenario, http, self.control.admin)
            except TargetUnreachable as exc:
                self.lost = str(exc)
                return ScenarioResult(scenario.name, scenario.file, ERROR, str(exc))
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                self.lost = f"the target stopped answering: {self._unreachable(exc)}"
                return ScenarioResult(scenario.name, scenario.file, ERROR, self.lost)
            except httpx.HTTPError as exc:
                return ScenarioResult(scenario.name, scenario.file, ERROR, f"talking to {redact_url(self.target)}: {type(exc).__name__}: {exc}")

    async def _admin(self, http: httpx.AsyncClient, method: str, path: str, body: Any = None) -> httpx.Response:
        return await http.request(method, path, json=body, headers=self.admin_headers)

    async def _run(self, scenario: Scenario, http: httpx.AsyncClient, admin: bool) -> ScenarioResult:
        values = self.values()
        unfilled = _unfilled(scenario, values)
        if unfilled is not None:
            return unfilled
        if admin:
            await self._admin(http, "POST", "/_sim/reset")
        try:
            if scenario.client_patch:
                patch = {"id": values["client_id"], **substitute_all(dict(scenario.client_patch), values)}
                response = await self._admin(http, "POST", "/_sim/clients", patch)
                if response.status_code >= 400:
                    return ScenarioResult(scenario.name, scenario.file, ERROR, f"config.client: the target refused it: {_message(response)}")
            for i, rule in enumerate(scenario.faults):
                response = await self._admin(http, "POST", "/_sim/faults", substitute_all(dict(rule), values))
                if response.status_code >= 400:
                    return ScenarioResult(scenario.name, scenario.file, ERROR, f"faults[{i}]: the target refused it: {_message(response)}")
            failures: list[tuple[int, str, list[str]]] = []
            for i, step in enumerate(scenario.steps):
                before = await self._journal_ids(http) if admin else 0
                observed = await _send(http, step.request.build(values))
                if admin:
                    entries = [e for e in await self._journal(http) if e.get("id", 0) > before]
                    observed.user_detail_calls = [c for e in entries for c in e.get("user_detail_calls", [])]
                problems = check_step(step.expect, observed, values)
                if problems:
                    failures.append((i, step.name, problems))
            return _judge(scenario, failures)
        finally:
            if admin:
                await self._admin(http, "POST", "/_sim/reset")  # leave no fault armed behind

    async def _journal(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        response = await self._admin(http, "GET", "/_sim/journal")
        response.raise_for_status()
        return list(response.json().get("entries", []))

    async def _journal_ids(self, http: httpx.AsyncClient) -> int:
        return _last_id(await self._journal(http))


class TargetUnreachable(Exception):
    pass


def _message(response: httpx.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"
    messages = document.get("errorMessages") if isinstance(document, dict) else None
    if messages:
        return f"{response.status_code} {messages[0].get('message')}"
    return f"{response.status_code} {str(document)[:200]}"


# ------------------------------------------------------------------------------------------- output


def format_table(results: Sequence[ScenarioResult]) -> str:
    rows = [("scenario", "result", "why")] + [(r.name, r.outcome.upper(), r.why) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in (0, 1)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows]
    lines.insert(1, "-" * min(120, max(len(line) for line in lines)))
    counts = {o: sum(r.outcome == o for r in results) for o in (PASSED, FAILED, ERROR, SKIPPED)}
    lines.append("")
    lines.append(", ".join(f"{n} {o}" for o, n in counts.items()))
    for r in results:
        if r.outcome in (FAILED, ERROR) and r.details and r.details != [r.why]:
            lines.append(f"\n{r.name} ({r.file}):")
            lines += [f"  {d}" for d in r.details]
    return "\n".join(lines)


def junit_xml(results: Sequence[ScenarioResult], suite: str = "spotnana-sim replay") -> ET.ElementTree:
    root = ET.Element("testsuites")
    node = ET.SubElement(root, "testsuite", {
        "name": suite,
        "tests": str(len(results)),
        "failures": str(sum(r.outcome == FAILED for r in results)),
        "errors": str(sum(r.outcome == ERROR for r in results)),
        "skipped": str(sum(r.outcome == SKIPPED for r in results)),
        "time": f"{sum(r.seconds for r in results):.3f}",
    })
    for r in results:
        case = ET.SubElement(node, "testcase", {"classname": f"scenarios.{Path(r.file).stem}", "name": r.name, "time": f"{r.seconds:.3f}", "file": r.file})
        if r.outcome == FAILED:
            ET.SubElement(case, "failure", {"message": r.why}).text = "\n".join(r.details)
        elif r.outcome == ERROR:
            ET.SubElement(case, "error", {"message": r.why}).text = "\n".join(r.details or [r.why])
        elif r.outcome == SKIPPED:
            ET.SubElement(case, "skipped", {"message": r.why})
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(results: Sequence[ScenarioResult], path: Path) -> None:
    junit_xml(results).write(path, encoding="utf-8", xml_declaration=True)


def exit_status(results: Sequence[ScenarioResult]) -> int:
    return 1 if any(r.outcome in (FAILED, ERROR) for r in results) else 0


def replay(scenarios: Sequence[Scenario], runner: Runner) -> list[ScenarioResult]:
    return asyncio.run(run_all(runner, scenarios))


__all__ = [
    "Credentials", "InProcessRunner", "ScenarioResult", "TargetRunner", "TargetUnreachable", "broken_results", "exit_status",
    "format_table", "junit_xml", "replay", "run_all", "write_junit",
]
