"""The README promises things; these keep the promises true."""

from __future__ import annotations

from pathlib import Path

from spotnana_sim.core.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands() -> None:
    opening = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in opening.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_readme_config_example_is_the_shipped_file_and_loads() -> None:
    example = (ROOT / "examples" / "simulator.toml").read_text(encoding="utf-8").rstrip()
    assert example in README
    assert load_settings(ROOT / "examples" / "simulator.toml").clients


def test_ci_calls_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
