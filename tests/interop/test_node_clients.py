"""Node's openid-client v6 and jose against a real simulator: `node --test` in tests/interop/node.

The Node packages come from tests/interop/node/package-lock.json (`npm ci --prefix tests/interop/node`).
Without node, or without those packages installed, these tests skip and say why; with
INTEROP_REQUIRE_NODE=1 (CI sets it) they fail instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

from .conftest import LiveSimulator

pytestmark = pytest.mark.e2e

NODE_DIR = Path(__file__).parent / "node"
LOCKED_PACKAGES = ("openid-client", "jose")
MIN_NODE_MAJOR = 20  # openid-client v6 and jose v6 need Node 20 (Web Crypto, fetch)
RUN_TIMEOUT = 180


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("INTEROP_REQUIRE_NODE") == "1":
        pytest.fail(f"{reason} (INTEROP_REQUIRE_NODE=1: the Node interop suite must run here)")
    pytest.skip(reason)


def _node() -> str:
    """The node binary, once it is known to be recent enough and to have the locked packages installed."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not on PATH: install Node.js >= 20, then `npm ci --prefix tests/interop/node`")
    version = subprocess.run([node, "--version"], check=False, capture_output=True, text=True, timeout=30).stdout.strip()
    match = re.fullmatch(r"v(\d+)\..*", version)
    if not match or int(match.group(1)) < MIN_NODE_MAJOR:
        _unavailable(f"node {version or '(no version)'} is too old: openid-client v6 needs Node >= {MIN_NODE_MAJOR}")
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())["packages"]
    for name in LOCKED_PACKAGES:
        wanted = lock[f"node_modules/{name}"]["version"]
        installed_file = NODE_DIR / "node_modules" / name / "package.json"
        installed = json.loads(installed_file.read_text())["version"] if installed_file.exists() else None
        if installed != wanted:
            state = f"version {installed} is installed" if installed else "it is not installed"
            _unavailable(f"{name} {wanted} is locked but {state}: run `npm ci --prefix tests/interop/node`")
    return node


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=NODE_DIR, env={**os.environ, **env}, check=False, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def _example_env(sim: LiveSimulator, secret: str | None = None) -> dict[str, str]:
    return {
        "SPOTNANA_BASE_URL": sim.url,
        "SIM_URL": sim.url,
        "SPOTNANA_CLIENT_ID": sim.client_id,
        "SPOTNANA_CLIENT_SECRET": sim.client_secret if secret is None else secret,
    }


def test_node_suite(rfc6749_simulator: LiveSimulator) -> None:
    """discovery, token exchange, client_credentials, error codes and jose verification (test/*.test.mjs)."""
    node = _node()
    sim = rfc6749_simulator
    files = sorted(str(path.relative_to(NODE_DIR)) for path in (NODE_DIR / "test").glob("*.test.mjs"))
    assert files, "no Node test files found in tests/interop/node/test"
    result = _run(
        [node, "--test", "--test-reporter=spec", *files],
        {
            "SIM_URL": sim.url,
            "SIM_CLIENT_ID": sim.client_id,
            "SIM_CLIENT_SECRET": sim.client_secret,
            "SIM_SUBJECT_TOKEN": sim.subject_token,
            "SIM_SUBJECT_EMAIL": sim.subject_email,
            "SIM_NO_PROFILE_TOKEN": sim.no_profile_token,
        },
    )
    assert result.returncode == 0, "node --test failed:\n" + _output(result)
    # Never green on nothing: node reports how many tests passed.
    passed = re.search(r"^\S*\s*pass (\d+)$", result.stdout, re.MULTILINE)
    assert passed and int(passed.group(1)) > 0, "node --test ran no test:\n" + _output(result)


@pytest.mark.parametrize("dialect", ["spotnana", "rfc6749"])
def test_example_exchange(dialect: str, request: pytest.FixtureRequest) -> None:
    """docs/clients/openid-client.md's exchange, run as the page shows it, in both error dialects."""
    node = _node()
    sim: LiveSimulator = request.getfixturevalue(f"{dialect}_simulator")
    result = _run([node, "examples/exchange.mjs", sim.subject_token], _example_env(sim))
    assert result.returncode == 0, _output(result)
    summary = json.loads(result.stdout)
    assert summary == {
        "token_type": "bearer",
        "expires_in": 3600,
        "scope": "openid",
        "access_token_length": summary["access_token_length"],
        "refresh_token_present": True,
    }
    assert summary["access_token_length"] > 0
    assert sim.client_secret not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [("spotnana", "403 INVALID_CLIENT_CREDENTIALS"), ("rfc6749", "400 invalid_client")],
)
def test_example_exchange_reports_the_error_code(dialect: str, expected: str, request: pytest.FixtureRequest) -> None:
    """The example's failureCode() reads Spotnana's envelope and the rfc6749 body alike."""
    node = _node()
    sim: LiveSimulator = request.getfixturevalue(f"{dialect}_simulator")
    result = _run([node, "examples/exchange.mjs", sim.subject_token], _example_env(sim, secret="not-the-secret"))
    assert result.returncode == 1, _output(result)
    assert f"token exchange failed: {expected}" in result.stderr, _output(result)


def test_example_discover_and_verify(rfc6749_simulator: LiveSimulator) -> None:
    """docs/clients/openid-client.md's discovery + jose verification, run as the page shows it."""
    node = _node()
    sim = rfc6749_simulator
    result = _run([node, "examples/discover-and-verify.mjs", sim.subject_token], _example_env(sim))
    assert result.returncode == 0, _output(result)
    assert json.loads(result.stdout) == {"iss": sim.url, "email": sim.subject_email, "client_id": sim.client_id}
