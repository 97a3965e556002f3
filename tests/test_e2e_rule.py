"""The e2e rule (tests/e2e_rule.py) at work: a test that serves on loopback without the marker fails."""

from __future__ import annotations

import pytest

from .e2e_rule import E2eRule, starts_a_server

pytest_plugins = ["pytester"]

SERVING = """
import socket
import subprocess
import sys

import pytest


def listen():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.fixture(scope="module")
def served():
    with listen() as sock:
        yield sock.getsockname()


def test_first_user_of_a_serving_fixture(served):
    pass


def test_later_user_of_the_same_fixture(served):
    pass


def test_serve_in_a_subprocess():
    # python -c ignores the words after its program: nothing is served, but the command says serve.
    subprocess.run([sys.executable, "-c", "pass", "-m", "spotnana_sim", "serve"], check=True)


def test_in_process():
    pass


@pytest.mark.e2e
def test_marked_and_serving():
    listen().close()
"""


@pytest.mark.e2e  # the tests it runs listen on loopback (without the marker, this test would fail itself)
def test_unmarked_tests_that_serve_fail_and_say_what_they_started(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_serving=SERVING)
    pytester.mkdir("e2e")
    pytester.path.joinpath("e2e", "test_in_the_folder.py").write_text("def test_serves_nothing():\n    pass\n")
    rule = E2eRule(e2e_folders=(pytester.path / "e2e",))

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:asyncio", plugins=[rule])

    result.assert_outcomes(passed=2, failed=4)
    failed = {line.split("::")[1].split(" ")[0] for line in result.outlines if line.startswith("FAILED")}
    assert failed == {"test_first_user_of_a_serving_fixture", "test_later_user_of_the_same_fixture",
                      "test_serve_in_a_subprocess", "test_serves_nothing"}
    text = result.stdout.str()
    assert "starts a server listening on ('127.0.0.1'," in text and "(fixture served)" in text
    assert "starts a subprocess" in text and "is in e2e/, the end-to-end tests" in text
    assert "add pytestmark = pytest.mark.e2e" in text


@pytest.mark.parametrize(("argv", "serves"), [
    (["spotnana-sim", "serve"], True),
    (["/venv/bin/spotnana-sim", "reference", "--port", "0"], True),
    (["python", "-m", "spotnana_sim", "serve"], True),
    (["spotnana-sim", "check", "user-detail"], False),
    (["ruff", "check", "serve"], False),
    ("spotnana-sim serve", False),  # a shell string: the suite never starts servers through a shell
])
def test_which_subprocesses_count_as_servers(argv: object, serves: bool) -> None:
    assert starts_a_server(argv) is serves
