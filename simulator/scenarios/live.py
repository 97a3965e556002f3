"""Shipped scenarios run against the serving simulator itself: the dashboard's Scenarios panel.

Like ``spotnana-sim replay --target``, each run starts and ends with the simulator's state as at
start (faults, clients, profiles, clock, keys, rate limits), so the scenario sees what it expects and
leaves nothing armed. Unlike it, the journal is kept: the run's requests are real HTTP to this
simulator and stay in the journal and the chart, which is the point of running one from the page.
Scenarios that only an in-process run can judge are listed with the reason and not run.

Imported by ``spotnana-sim serve`` at start-up, so the scenario engine (YAML, JSON Schema) is imported
only when the page first lists or runs a scenario.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spotnana_sim.harness.journal import Journal
from spotnana_sim.harness.simulator import Simulator

if TYPE_CHECKING:
    from spotnana_sim.core.settings import ClientConfig
    from spotnana_sim.scenarios.model import Scenario
    from spotnana_sim.scenarios.setup import ScenarioPartner

STEP_TIMEOUT = 30.0  # seconds per request, as replay --target allows


class LiveScenarioRunner:
    """A :class:`~spotnana_sim.server.dashboard.ScenarioRunner` for the simulator serving at ``base_url``."""

    def __init__(self, simulator: Simulator, base_url: str, scenarios_dir: Path | None = None) -> None:
        self.simulator = simulator
        self.base_url = base_url.rstrip("/")
        self.scenarios_dir = scenarios_dir
        self._lock = threading.Lock()
        self._scenarios: dict[str, Scenario] | None = None
        self._broken: list[dict[str, Any]] = []
        self._scenario_partner: ScenarioPartner | None = None  # made on first use: a key pair is slow to make

    def _load(self) -> dict[str, Scenario]:
        with self._lock:
            if self._scenarios is None:
                from spotnana_sim.scenarios.loader import load_scenarios, shipped_scenarios_dir

                scenarios, broken = load_scenarios([self.scenarios_dir or shipped_scenarios_dir()])
                self._scenarios = {scenario.name: scenario for scenario in scenarios}
                self._broken = [
                    {"name": Path(error.source).stem, "description": "", "steps": 0, "runnable": False,
                     "why": f"malformed: {error.problems[0]}"}
                    for error in broken
                ]
            return self._scenarios

    def _skip_reason(self, scenario: Scenario) -> str | None:
        from spotnana_sim.scenarios.replay import TargetControl, skip_reason

        return skip_reason(scenario, TargetControl(True))  # this process serves the partner's JWKS too

    def _partner(self) -> ScenarioPartner:
        if self._scenario_partner is None:
            from spotnana_sim.scenarios.setup import ScenarioPartner

            self._scenario_partner = ScenarioPartner()
        return self._scenario_partner

    def catalogue(self) -> list[dict[str, Any]]:
        listed = []
        for name, scenario in sorted(self._load().items()):
            why = self._skip_reason(scenario)
            listed.append({"name": name, "description": scenario.description.strip(), "steps": len(scenario.steps),
                           "source": scenario.source, "runnable": why is None, "why": why or ""})
        return listed + self._broken

    async def run(self, name: str, report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        import httpx

        from spotnana_sim.reference.demo_users import DEMO_SUBJECT_TOKEN, DEMO_USERS
        from spotnana_sim.reference.partner_idp import JWKS_PATH
        from spotnana_sim.scenarios.controls import SetupFailed
        from spotnana_sim.scenarios.setup import placeholder_values

        scenario = self._load()[name]
        why = self._skip_reason(scenario)
        if why is not None:
            return {"outcome": "skipped", "why": why}
        sim = self.simulator
        partner = self._partner()
        reset_all_but_journal(sim)
        jwks_server = partner.serve() if scenario.serves_partner_jwks else None
        try:
            client = next(iter(sim.clients.all()), None)
            # The demo users' tokens fill ${subject_token}, ${subject_token_2}…, as replay's defaults do.
            values = placeholder_values(client, DEMO_SUBJECT_TOKEN, more_subject_tokens=tuple(DEMO_USERS)[1:])
            jwks_url = jwks_server.url + JWKS_PATH if jwks_server else None
            async with httpx.AsyncClient(base_url=self.base_url, timeout=STEP_TIMEOUT) as http:
                try:
                    problem = await self._set_up(scenario, client, values, http, jwks_url)
                except SetupFailed as exc:
                    problem = str(exc)
                if problem is not None:
                    return {"outcome": "error", "why": problem}
                failed = await self._steps(scenario, values, http, report)
            steps = len(scenario.steps)
            if failed:
                return {"outcome": "failed", "why": failed[0]}
            return {"outcome": "passed", "why": f"{steps} step{'s' if steps != 1 else ''} as expected"}
        finally:
            reset_all_but_journal(sim)
            if jwks_server is not None:
                jwks_server.stop()

    async def _set_up(self, scenario: Scenario, client: ClientConfig | None, values: dict[str, str], http: Any,
                      jwks_url: str | None) -> str | None:
        """Client patch, API users' tokens, partner tokens and fault rules; what went wrong, or None."""
        from spotnana_sim.core.config_file import client_from_table
        from spotnana_sim.core.settings import ConfigError
        from spotnana_sim.harness.faults import FaultRuleError
        from spotnana_sim.scenarios.controls import SimulatorControls
        from spotnana_sim.scenarios.placeholders import substitute_all
        from spotnana_sim.scenarios.setup import api_values, client_patch

        sim = self.simulator
        partner = self._partner()
        if scenario.client_patch and client is not None:
            patch = {"id": client.client_id, **substitute_all(client_patch(scenario, partner, jwks_url), values)}
            try:
                sim.clients.put(client_from_table(patch, base=client))
            except ConfigError as exc:
                return f"config.client.{exc.key}: {exc.problem}"
            sim.register_configured_keys()  # keys given with the client, as POST /_sim/clients does
        values.update(await api_values(scenario, values, SimulatorControls(sim, http)))
        values.update(partner.values(scenario, sim.clock.now(), jwks_url))
        missing = scenario.unfilled(values)
        if missing:
            return f"uses {', '.join(missing)}, which nothing fills here: replay it with --subject-token once per user"
        for i, rule in enumerate(scenario.faults):
            try:
                sim.faults.arm(substitute_all(dict(rule), values))
            except FaultRuleError as exc:
                return f"faults[{i}].{exc.path}: {exc.problem}"
        return None

    async def _steps(self, scenario: Scenario, values: dict[str, str], http: Any,
                     report: Callable[[dict[str, Any]], None]) -> list[str]:
        from spotnana_sim.scenarios.controls import last_journal_id, send
        from spotnana_sim.scenarios.judge import check_step

        sim = self.simulator
        failed: list[str] = []
        for i, step in enumerate(scenario.steps):
            before = last_journal_id(sim.journal.entries())
            observed = await send(http, step.request.build(values))
            entries = [entry for entry in sim.journal.entries() if entry.id > before]
            observed.user_detail_calls = [call for entry in entries for call in entry["user_detail_calls"]]
            observed.now = sim.clock.now()
            problems = check_step(step.expect, observed, values)
            report({"index": i, "name": step.name, "outcome": "failed" if problems else "passed",
                    "problems": problems, "journal_ids": [entry.id for entry in entries]})
            failed += [f"steps[{i}] ({step.name}): {problem}" for problem in problems]
        return failed


def reset_all_but_journal(simulator: Simulator) -> None:
    """What ``POST /_sim/reset`` does, except clearing the journal.

    ``Simulator.reset`` stays the one list of what a reset covers: it clears a stand-in journal here.
    The token endpoint records into its own reference, so requests meanwhile still reach the real one
    (and reset is synchronous: nothing on the event loop sees the stand-in).
    """
    kept = simulator.journal
    simulator.journal = Journal(max_entries=1)
    try:
        simulator.reset()
    finally:
        simulator.journal = kept
