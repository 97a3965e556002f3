"""The package installs one import name, spotnana_sim, so it cannot collide with a user's own code."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_a_project_with_its_own_simulator_reference_impl_and_tests_packages_runs_its_suite(
    pytester: pytest.Pytester,
) -> None:
    # The names the package used to install; a project of the integrator's may well have them.
    pytester.makepyfile(**{
        "simulator/__init__.py": "WHO = 'the integrator'\n",
        "reference_impl/__init__.py": "WHO = 'the integrator'\n",
        "tests/__init__.py": "",
        "tests/test_mine.py": (
            "import simulator, reference_impl\n\n"
            "def test_my_own_packages_are_mine():\n"
            "    assert simulator.WHO == reference_impl.WHO == 'the integrator'\n\n"
            "def test_the_plugin_is_there_too(spotnana_sim_settings):\n"
            "    assert spotnana_sim_settings.port == 8080\n"
        ),
    })
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "tests")  # the entry-point plugin loads itself
    result.assert_outcomes(passed=2)
