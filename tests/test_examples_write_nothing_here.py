"""The shipped examples never write into the repository tree: running examples/simulator.toml puts its
key file in the user's cache (``~`` expanded at load time), not beside the example."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from spotnana_sim.core.config_file import load_settings
from spotnana_sim.server.inprocess import build_in_process

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if "__pycache__" not in p.parts}


def test_running_the_example_configuration_writes_its_key_outside_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the user's cache, for this test
    before = _files(EXAMPLES)
    settings = load_settings(EXAMPLES / "simulator.toml")
    created: set[Path] = set()
    try:
        sim = build_in_process(settings)  # what serve and demo do with the file: the key file is created now
        asyncio.run(sim.aclose())
        created = _files(EXAMPLES) - before
        assert not created, f"running examples/simulator.toml wrote into the repository: {sorted(map(str, created))}"
        key_file = settings.tokens.key_file
        assert key_file is not None and key_file.is_relative_to(tmp_path) and key_file.is_file()
    finally:
        for path in sorted(created, reverse=True):  # leave the tree as it was, even when the test fails
            path.unlink() if path.is_file() else path.rmdir()


def test_every_path_in_the_example_configuration_points_outside_the_repository() -> None:
    settings = load_settings(EXAMPLES / "simulator.toml")
    paths = [settings.tokens.key_file, *(client.ca_file for client in settings.clients)]
    for path in filter(None, paths):
        assert not Path(path).resolve().is_relative_to(ROOT), f"{path} is inside the repository"
