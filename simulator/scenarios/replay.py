"""Running scenarios: each against a fresh in-process simulator, or against a server at ``--target``.

Against a target, control goes through the admin API: ``POST /_sim/reset`` before and after each
scenario, ``POST /_sim/clients`` for a client patch (and the TMC_ADMIN API user of
``${tmc_admin_token}``), ``POST /_sim/faults`` for each rule, and ``GET /_sim/journal`` to see the
user-detail calls. A target without that API (the real Spotnana sandbox) still runs every scenario
that needs none of it; the others are skipped with the reason.

Each scenario's result is a :class:`spotnana_sim.kit.report.CheckResult`; the table and the JUnit
XML for CI come from :class:`spotnana_sim.kit.report.Report`, as every other report does.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from spotnana_sim.core.hosts import is_loopback
from spotnana_sim.core.redaction import redact_url
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ConfigError, Settings
from spotnana_sim.core.tokens import KeySet
from spotnana_sim.core.user_detail import UserDetailHttp, UserDetailResponse
from spotnana_sim.harness.faults import FaultRuleError
from spotnana_sim.kit.connection_failure import REFUSED, classify, explain
from spotnana_sim.kit.report import ERROR, FAIL, PASS, SKIP, CheckResult, Report
from spotnana_sim.reference.partner_idp import JWKS_PATH
from spotnana_sim.scenarios.controls import (
    AdminApiControls,
    SetupFailed,
    SimulatorControls,
    last_journal_id,
    message,
    send,
)
from spotnana_sim.scenarios.judge import check_step
from spotnana_sim.scenarios.loader import ScenarioError, settings_for
from spotnana_sim.scenarios.model import MODELED, Scenario
from spotnana_sim.scenarios.placeholders import (
    COMPANY_ID,
    TMC_ADMIN_TOKEN,
    subject_token_placeholder,
    substitute_all,
    users_needed,
)
from spotnana_sim.scenarios.setup import (
    IN_PROCESS_JWKS_URL,
    ScenarioPartner,
    answer_partner_in_process,
    api_values,
    client_patch,
    config_for_run,
    placeholder_values,
)
from spotnana_sim.server.inprocess import InProcessSimulator, build_in_process

SUITE = "spotnana-sim replay"
TARGET_TIMEOUT = 30.0  # seconds per request to a target; a slow sandbox is not a failure of ours


def scenario_result(scenario: Scenario | str, file: str, status: str, why: str, details: Sequence[str] = ()) -> CheckResult:
    """One scenario's result: its JUnit classname is ``scenarios.<file stem>``, its file the scenario's."""
    name = scenario if isinstance(scenario, str) else scenario.name
    return CheckResult(name=name, status=status, summary=why, details=tuple(details),
                       group=f"scenarios.{Path(file).stem}", file=file)


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


def unfilled_result(scenario: Scenario, values: Mapping[str, str]) -> CheckResult | None:
    """An error result when ``scenario`` uses placeholders ``values`` does not fill (None when all are)."""
    missing = scenario.unfilled(values)
    if not missing:
        return None
    users = users_needed(scenario.placeholders)
    return scenario_result(scenario, scenario.file, ERROR,
                           f"uses {', '.join(missing)}, which nothing fills: pass --subject-token once per user "
                           f"({users} times, in the order of the placeholders)")


class Runner(Protocol):
    async def run(self, scenario: Scenario) -> CheckResult: ...


async def run_all(runner: Runner, scenarios: Sequence[Scenario]) -> list[CheckResult]:
    results = []
    for scenario in scenarios:
        started = time.perf_counter()
        result = await runner.run(scenario)
        results.append(replace(result, seconds=time.perf_counter() - started))
    return results


def broken_results(errors: Sequence[ScenarioError]) -> list[CheckResult]:
    """A malformed file is a result too, so CI shows it beside the scenarios that ran."""
    return [scenario_result(Path(e.source).stem, e.source, ERROR, f"malformed: {e.problems[0]}", str(e).splitlines())
            for e in errors]


def judged(scenario: Scenario, step_failures: list[tuple[int, str, list[str]]]) -> CheckResult:
    if not step_failures:
        steps = len(scenario.steps)
        return scenario_result(scenario, scenario.file, PASS, f"{steps} step{'s' if steps != 1 else ''} as expected")
    details = [f"steps[{i}] ({name}): {failure}" for i, name, failures in step_failures for failure in failures]
    return scenario_result(scenario, scenario.file, FAIL, details[0], details)


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
    """A fresh simulator per scenario: no state leaks between scenarios, nothing listens on a port
    (the partner's JWKS of ``${partner_jwks_url}`` is answered in-process too)."""

    def __init__(self, base: Settings | None = None, credentials: Credentials = Credentials()) -> None:
        self.base = base or Settings()
        self.credentials = credentials
        self.partner = ScenarioPartner()
        self._keys: dict[str, KeySet] = {}  # one key per algorithm: generating one per scenario is the slow part

    def _shared_keys(self, settings: Settings) -> KeySet | None:
        if settings.tokens.key_file is not None:
            return None  # the configured file decides
        keys = self._keys.get(settings.tokens.algorithm)
        if keys is None:
            keys = self._keys[settings.tokens.algorithm] = KeySet.generate(settings.tokens.algorithm)
        keys.reset()
        return keys

    async def run(self, scenario: Scenario) -> CheckResult:
        jwks_url = IN_PROCESS_JWKS_URL if scenario.serves_partner_jwks else None
        try:
            config = config_for_run(scenario, self.partner, jwks_url)
            settings = settings_for(config, self.base, self.credentials.client_id)
        except ConfigError as exc:
            return scenario_result(scenario, scenario.file, ERROR, f"config.{exc.key}: {exc.problem}")
        sim = build_in_process(settings, keys=self._shared_keys(settings))
        router: httpx.AsyncClient | None = None
        try:
            if jwks_url is not None:
                router = answer_partner_in_process(sim.simulator.verifier.http, self.partner)
            return await self._run(scenario, sim, jwks_url)
        except SetupFailed as exc:
            return scenario_result(scenario, scenario.file, ERROR, str(exc))
        finally:
            if router is not None:
                await router.aclose()
            await sim.aclose()

    async def _run(self, scenario: Scenario, sim: InProcessSimulator, jwks_url: str | None) -> CheckResult:
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
        failures: list[tuple[int, str, list[str]]] = []
        async with sim.client() as http:
            values.update(await api_values(scenario, values, SimulatorControls(simulator, http)))
            values.update(self.partner.values(scenario, simulator.clock.now(), jwks_url))
            unfilled = unfilled_result(scenario, values)
            if unfilled is not None:
                return unfilled
            for i, rule in enumerate(scenario.faults):
                try:
                    simulator.faults.arm(substitute_all(rule, values))
                except FaultRuleError as exc:
                    where = f"faults[{i}]" + (f".{exc.path}" if exc.path else "")
                    return scenario_result(scenario, scenario.file, ERROR, f"{where}: {exc.problem}")
            for i, step in enumerate(scenario.steps):
                before = last_journal_id(simulator.journal.entries())
                capture.authorizations.clear()
                observed = await send(http, step.request.build(values))
                entries = [e for e in simulator.journal.entries() if e.get("id", 0) > before]
                observed.user_detail_calls = [c for e in entries for c in e.get("user_detail_calls", [])]
                observed.authorizations = list(capture.authorizations)
                observed.now = simulator.clock.now()
                problems = check_step(step.expect, observed, values)
                if problems:
                    failures.append((i, step.name, problems))
        return judged(scenario, failures)


# -------------------------------------------------------------------------------------------- target


@dataclass(frozen=True)
class TargetControl:
    """What the target lets replay do; ``reason`` says why admin is False."""

    admin: bool
    reason: str = ""


def skip_reason(scenario: Scenario, control: TargetControl, *, include_modeled: bool = False,
                reaches_this_machine: bool = True) -> str | None:
    """Why ``scenario`` cannot be judged against a server (None: it can). ``reaches_this_machine``:
    whether that server can fetch from this machine's loopback (the partner JWKS replay serves)."""
    if scenario.needs_callback_headers:
        return "checks the Authorization header sent to the user-detail API, which only an in-process run sees"
    if scenario.in_process_config:
        return f"config section(s) {', '.join(scenario.in_process_config)} can only be applied in-process"
    if scenario.serves_partner_jwks and not reaches_this_machine:
        return ("fetches the partner's JWKS from ${partner_jwks_url}, which replay serves on this machine's loopback "
                "and a remote target cannot reach; run it in-process or against a simulator on this machine")
    if not control.admin:
        needs = [what for what, needed in (
            ("fault rules", bool(scenario.faults)),
            ("a client patch", bool(scenario.client_patch)),
            ("the journal", scenario.needs_journal),
            ("a TMC_ADMIN API user", scenario.uses(TMC_ADMIN_TOKEN)),
            ("the client's company id", scenario.uses(COMPANY_ID)),
        ) if needed]
        if needs:
            return f"needs {' and '.join(needs)}, but {control.reason}"
        if scenario.source == MODELED and not include_modeled:
            return "modeled outcome (Spotnana does not document it); --include-modeled runs it anyway"
    return None


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
        self.partner = ScenarioPartner()
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
        return skip_reason(scenario, control, include_modeled=self.include_modeled,
                           reaches_this_machine=is_loopback(urlsplit(self.target).hostname))

    def _unreachable(self, exc: httpx.HTTPError) -> str:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            failure = classify(exc, connect_timeout=isinstance(exc, httpx.ConnectTimeout))
            hint = "; is the server running? (start a simulator with: spotnana-sim serve)" if failure.kind == REFUSED else ""
            return f"{redact_url(self.target)}: {explain(failure, self.target)}{hint}"
        return f"{redact_url(self.target)} did not answer ({type(exc).__name__}: {exc})"

    async def run(self, scenario: Scenario) -> CheckResult:
        if self.lost:
            return scenario_result(scenario, scenario.file, SKIP, f"not run: {self.lost}")
        async with self._client() as http:
            try:
                if self.control is None:
                    self.control = await self.probe(http)
                reason = self.skip_reason(scenario, self.control)
                if reason:
                    return scenario_result(scenario, scenario.file, SKIP, reason)
                return await self._run(scenario, http, self.control.admin)
            except SetupFailed as exc:
                return scenario_result(scenario, scenario.file, ERROR, str(exc))
            except TargetUnreachable as exc:
                self.lost = str(exc)
                return scenario_result(scenario, scenario.file, ERROR, str(exc))
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                self.lost = f"the target stopped answering: {self._unreachable(exc)}"
                return scenario_result(scenario, scenario.file, ERROR, self.lost)
            except httpx.HTTPError as exc:
                return scenario_result(scenario, scenario.file, ERROR,
                                       f"talking to {redact_url(self.target)}: {type(exc).__name__}: {exc}")

    async def _admin(self, http: httpx.AsyncClient, method: str, path: str, body: Any = None) -> httpx.Response:
        return await http.request(method, path, json=body, headers=self.admin_headers)

    async def _run(self, scenario: Scenario, http: httpx.AsyncClient, admin: bool) -> CheckResult:
        values = self.values()
        jwks_server = self.partner.serve() if scenario.serves_partner_jwks else None
        jwks_url = jwks_server.url + JWKS_PATH if jwks_server else None
        if admin:
            await self._admin(http, "POST", "/_sim/reset")
        try:
            if scenario.client_patch:
                patch = {"id": values["client_id"], **substitute_all(client_patch(scenario, self.partner, jwks_url), values)}
                response = await self._admin(http, "POST", "/_sim/clients", patch)
                if response.status_code >= 400:
                    return scenario_result(scenario, scenario.file, ERROR, f"config.client: the target refused it: {message(response)}")
            values.update(await api_values(scenario, values, AdminApiControls(http, self.admin_headers)))
            values.update(self.partner.values(scenario, time.time(), jwks_url))
            unfilled = unfilled_result(scenario, values)
            if unfilled is not None:
                return unfilled
            for i, rule in enumerate(scenario.faults):
                response = await self._admin(http, "POST", "/_sim/faults", substitute_all(dict(rule), values))
                if response.status_code >= 400:
                    return scenario_result(scenario, scenario.file, ERROR, f"faults[{i}]: the target refused it: {message(response)}")
            failures: list[tuple[int, str, list[str]]] = []
            for i, step in enumerate(scenario.steps):
                before = await self._journal_ids(http) if admin else 0
                observed = await send(http, step.request.build(values))
                if admin:
                    entries = [e for e in await self._journal(http) if e.get("id", 0) > before]
                    observed.user_detail_calls = [c for e in entries for c in e.get("user_detail_calls", [])]
                problems = check_step(step.expect, observed, values)
                if problems:
                    failures.append((i, step.name, problems))
            return judged(scenario, failures)
        finally:
            if admin:
                await self._admin(http, "POST", "/_sim/reset")  # leave no fault armed behind
            if jwks_server is not None:
                jwks_server.stop()

    async def _journal(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        response = await self._admin(http, "GET", "/_sim/journal")
        response.raise_for_status()
        return list(response.json().get("entries", []))

    async def _journal_ids(self, http: httpx.AsyncClient) -> int:
        return last_journal_id(await self._journal(http))


class TargetUnreachable(Exception):
    pass


# ------------------------------------------------------------------------------------------- output


def report_of(results: Sequence[CheckResult], subject: str = "") -> Report:
    return Report(SUITE, subject, list(results))


def format_table(results: Sequence[CheckResult]) -> str:
    return report_of(results).to_outcome_table("scenario")


def write_junit(results: Sequence[CheckResult], path: Path) -> None:
    report_of(results).write_junit(path)


def exit_status(results: Sequence[CheckResult]) -> int:
    return report_of(results).exit_status


def replay(scenarios: Sequence[Scenario], runner: Runner) -> list[CheckResult]:
    return asyncio.run(run_all(runner, scenarios))


__all__ = [
    "Credentials", "InProcessRunner", "TargetRunner", "TargetUnreachable", "broken_results", "exit_status",
    "format_table", "replay", "report_of", "run_all", "scenario_result", "write_junit",
]
