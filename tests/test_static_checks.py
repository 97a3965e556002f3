"""The house rules a tool can check run with the tests: ruff, mypy --strict and the import layers.

They read the package as installed (the editable install is setuptools' strict link tree, see the
Makefile), so they see ``spotnana_sim`` as users get it, whatever the folders are called.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = BIN / tool
    if not executable.exists():
        found = shutil.which(tool)
        if found is None:
            pytest.fail(f"{tool} is not installed: it is part of the test extra (pip install -e '.[test]')")
        executable = Path(found)
    return subprocess.run([str(executable), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "simulator", "reference_impl", "tests", "bench", "docs")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_import_layers_hold() -> None:
    result = _run("lint-imports", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "KEPT" in result.stdout  # something was actually checked


def test_mypy_strict_finds_nothing() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
