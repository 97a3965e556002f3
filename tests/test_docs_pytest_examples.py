"""Every pytest example of the manual runs as written where only this package and pytest are installed.

Each example (a test file included from tests/examples/, a test written in a page, a conftest.py
shown in a page) is copied into an empty folder and run by pytest in a subprocess, with plugin
autoloading off and only this package's plugin loaded, and with ``-p no:asyncio``: an example that
silently needs pytest-asyncio (an ``async def`` test) fails here instead of in an integrator's venv.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_docs import BLOCKS, ROOT, Block

pytestmark = pytest.mark.e2e  # each run starts a real simulator on loopback

CONFTEST_MARK = "# conftest.py"
# A test that uses the conftest example, as its reader would write one.
USES_CONFTEST = """
def test_the_conftest_settings_are_used(spotnana_sim):
    assert [c.client_id for c in spotnana_sim.clients] == ["my-backend"]
    assert spotnana_sim.simulator.profiles.emails() == ["ada@example.com"]
"""


def _is_pytest_example(block: Block) -> bool:
    return block.language == "python" and (
        block.text.lstrip().startswith(CONFTEST_MARK) or re.search(r"^(async )?def test_", block.text, re.MULTILINE) is not None
    )


def _examples() -> list[Block]:
    unique: dict[str, Block] = {}
    for block in BLOCKS:
        if _is_pytest_example(block):
            unique.setdefault(block.text, block)  # the same file included on two pages runs once
    return list(unique.values())


EXAMPLES = _examples()


def run_with_pytest_alone(folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # no ini of this repository applies
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SPOTNANA_SIM_"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # as if nothing but pytest and this package were installed
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "spotnana_sim.kit.pytest_plugin", "-p", "no:asyncio",
         "-p", "no:cacheprovider", "-q"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def test_the_manual_has_pytest_examples_and_each_is_found() -> None:
    ids = {b.id.split(":")[0] for b in EXAMPLES}
    assert "README.md" in ids and "docs/guides/pytest-plugin.md" in ids and "docs/getting-started/ci.md" in ids
    included = {path.name for b in EXAMPLES for path in b.includes}
    assert {"test_howto_partner_login.py", "test_howto_in_process.py", "test_howto_user_detail_timeout.py"} <= included


def _file_name(block: Block) -> str:
    if block.includes:
        return block.includes[0].name
    return "test_" + re.sub(r"\W+", "_", block.id.removesuffix(".md").replace(".md:", "_")) + ".py"


def _assert_all_passed(result: subprocess.CompletedProcess[str], what: str) -> None:
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, f"{what}:\n{result.stdout}\n{result.stderr}"
    # Every test passed: none skipped (pytest skips or fails an async test when no plugin runs it).
    assert re.fullmatch(r"\d+ passed(, \d+ warnings?)? in [\d.]+s", summary), f"{what}: {summary}\n{result.stdout}"


def test_every_pytest_example_runs_with_only_pytest_and_this_package(tmp_path: Path) -> None:
    tests = [b for b in EXAMPLES if not b.text.lstrip().startswith(CONFTEST_MARK)]
    for block in tests:  # one session for all: each example is a file of its own, as a reader would save it
        (tmp_path / _file_name(block)).write_text(block.text, encoding="utf-8")
    _assert_all_passed(run_with_pytest_alone(tmp_path), ", ".join(b.id for b in tests))


@pytest.mark.parametrize("block", [b for b in EXAMPLES if b.text.lstrip().startswith(CONFTEST_MARK)], ids=lambda b: b.id)
def test_conftest_example_works_with_only_pytest_and_this_package(block: Block, tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(block.text, encoding="utf-8")
    (tmp_path / "test_uses_conftest.py").write_text(USES_CONFTEST, encoding="utf-8")
    _assert_all_passed(run_with_pytest_alone(tmp_path), block.id)


def test_an_async_example_would_be_caught(tmp_path: Path) -> None:
    (tmp_path / "test_async.py").write_text(
        "async def test_needs_a_plugin(spotnana_sim_app):\n"
        "    async with spotnana_sim_app.client() as http:\n"
        "        assert (await http.get('/.well-known/jwks.json')).status_code == 200\n",
        encoding="utf-8",
    )
    result = run_with_pytest_alone(tmp_path)
    assert result.returncode != 0
    assert "async def functions are not natively supported" in result.stdout + result.stderr


def test_examples_import_nothing_from_this_repository_s_tests() -> None:
    for block in EXAMPLES:
        assert not re.search(r"^\s*(from|import) tests\b", block.text, re.MULTILINE), block.id
    assert ROOT.joinpath("tests", "examples").is_dir()
