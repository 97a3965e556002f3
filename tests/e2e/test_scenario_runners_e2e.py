"""The dashboard's scenario runner (scenarios against the serving simulator) fills every placeholder
replay fills: more users' subject tokens, API users' tokens, the company, the partner's JWTs and its
JWKS served on loopback; and it leaves the simulator as it found it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spotnana_sim.core.settings import Settings
from spotnana_sim.scenarios.live import LiveScenarioRunner
from tests.servers import running_simulator

pytestmark = pytest.mark.e2e

TWO_USERS = """# yaml-language-server: $schema=scenario.schema.json
name: two_users
description: two demo users in turn, as record writes them
source: modeled
steps:
  - expect: {status: 200, claims: {email: ada@example.com}}
  - request: {set: {subject_token: "${subject_token_2}"}}
    expect: {status: 200, claims: {email: grace@example.com}}
"""


async def test_the_live_runner_runs_model_b_api_user_and_multi_user_scenarios(tmp_path: Path) -> None:
    library = Path(__file__).resolve().parents[2] / "scenarios"
    for name in ("partner_jwt_from_jwks_url", "partner_key_revoked_then_refused", "api_user_rotate_retires_old_secret"):
        (tmp_path / f"{name}.yaml").write_text((library / f"{name}.yaml").read_text(), encoding="utf-8")
    (tmp_path / "two_users.yaml").write_text(TWO_USERS, encoding="utf-8")
    with running_simulator(Settings()) as (server, simulator):
        runner = LiveScenarioRunner(simulator, server.url, scenarios_dir=tmp_path)
        assert all(item["runnable"] for item in runner.catalogue())
        before = simulator.clients.get("demo-client")
        assert before is not None
        for name in ("partner_jwt_from_jwks_url", "partner_key_revoked_then_refused",
                     "api_user_rotate_retires_old_secret", "two_users"):
            steps: list[dict[str, Any]] = []
            result = await runner.run(name, steps.append)
            assert result["outcome"] == "passed", (name, result, steps)
        # Each run ends as it started: the secret rotated back, no extra client, no key left registered.
        client = simulator.clients.get("demo-client")
        assert client is not None and client.client_secret == before.client_secret and client.identity == "user-detail"
        assert [c.client_id for c in simulator.clients.all()] == ["demo-client"]
        assert simulator.partner_keys.list(client.org_id) == []
