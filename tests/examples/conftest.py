"""The how-tos are shown whole in the manual, where this repository's ``e2e`` marker would mean nothing
to a reader; so they get it here instead of in their text: every how-to that serves on a loopback port
(the live ``spotnana_sim`` fixture, ``AppServer``, ``SimulatorServer``) is end-to-end. Only the
in-process how-to (the ``spotnana_sim_app`` fixture) is not; the e2e rule (tests/e2e_rule.py) fails a
how-to that serves without the marker, so this cannot hide one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
IN_PROCESS_FIXTURE = "spotnana_sim_app"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # every item of the session: this hook is not limited to its folder
        if HERE in item.path.parents and IN_PROCESS_FIXTURE not in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
