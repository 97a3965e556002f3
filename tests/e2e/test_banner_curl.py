"""Every banner of ``spotnana-sim serve`` prints a curl that works: each is run, as printed, by the shell
against the live server, with only the shell variables it names set. A secret that came from a flag,
the environment or a file is one of those variables, never printed."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from spotnana_sim.reference.user_detail import create_user_detail_app
from tests.serve_process import ServeProcess
from tests.servers import ServerThread

pytestmark = pytest.mark.e2e

SECRET = "S3cret-value-never-shown-42"
PARTNER_TOKEN = "partner-token-of-lin-0123"


def printed_curl(lines: list[str]) -> tuple[str, list[str]]:
    """The curl command as printed (continuation lines included) and the variables its heading names."""
    start = next(i for i, line in enumerate(lines) if line.startswith("curl "))
    heading = lines[start - 1]
    assert heading.startswith("Try "), heading
    end = start
    while lines[end].endswith("\\"):
        end += 1
    named = re.findall(r"\b[A-Z][A-Z_]+\b", heading.partition("(set ")[2])
    return "\n".join(lines[start:end + 1]), named


def run_printed(lines: list[str], variables: Mapping[str, str]) -> dict[str, object]:
    command, named = printed_curl(lines)
    assert sorted(named) == sorted(variables), f"the banner asks for {named}:\n{command}"
    for name in named:
        assert f"${name}" in command
    result = subprocess.run(["bash", "-c", command], env={**os.environ, **variables}, capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


Serve = Callable[..., list[str]]


@pytest.fixture
def serve(start_serve: Callable[..., ServeProcess]) -> Serve:
    """Starts ``spotnana-sim serve --port 0 ARGS...`` and returns its banner lines; stopped after the test."""
    return lambda *args: start_serve(*args).lines


def test_the_default_banner_curl_works_as_it_stands(serve: Serve) -> None:
    lines = serve()
    answer = run_printed(lines, {})
    assert answer["token_type"] == "Bearer" and answer["access_token"]


def test_a_client_from_a_flag_with_its_own_user_detail_api(serve: Serve) -> None:
    with ServerThread(create_user_detail_app({PARTNER_TOKEN: "lin@example.com"})) as partner:
        lines = serve("--client", f"acme:{SECRET}", "--user-detail-url", partner.url + "/v1/user-detail")
        assert SECRET not in "\n".join(lines)
        answer = run_printed(lines, {"CLIENT_SECRET": SECRET, "SUBJECT_TOKEN": PARTNER_TOKEN})
    assert answer["access_token"]


def test_the_demo_client_with_a_user_detail_url_prints_a_curl_too(serve: Serve) -> None:
    with ServerThread(create_user_detail_app({PARTNER_TOKEN: "lin@example.com"})) as partner:
        lines = serve("--user-detail-url", partner.url + "/v1/user-detail")
        answer = run_printed(lines, {"SUBJECT_TOKEN": PARTNER_TOKEN})
    assert answer["access_token"]


def test_a_secret_from_the_environment_is_a_shell_variable(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTNANA_SIM_CLIENTS", f"acme:{SECRET}")  # the server process inherits it
    lines = serve()
    assert SECRET not in "\n".join(lines)
    assert run_printed(lines, {"CLIENT_SECRET": SECRET})["access_token"]


def test_a_config_file_with_clients_and_profiles(serve: Serve, tmp_path: Path) -> None:
    # The first client may not exchange tokens, and ada (the first demo user) has no profile here:
    # the curl must use the client that can, and a demo user who has one.
    config = tmp_path / "sim.toml"
    config.write_text(f"""
profiles = ["grace@example.com"]

[[clients]]
id = "reporting-job"
secret = "reporting-{SECRET}"
grants = ["client_credentials"]

[[clients]]
id = "acme-backend"
secret = "{SECRET}"
""")
    lines = serve("--config", str(config))
    assert SECRET not in "\n".join(lines)
    command, _ = printed_curl(lines)
    assert "client_id=acme-backend" in command and "demo-token-grace" in command
    assert run_printed(lines, {"CLIENT_SECRET": SECRET})["access_token"]


def test_a_config_file_with_only_a_machine_client(serve: Serve, tmp_path: Path) -> None:
    config = tmp_path / "sim.toml"
    config.write_text(f'[[clients]]\nid = "reporting-job"\nsecret = "{SECRET}"\ngrants = ["client_credentials"]\n')
    lines = serve("--config", str(config))
    command, _ = printed_curl(lines)
    assert "grant_type=client_credentials" in command and "subject_token" not in command
    assert run_printed(lines, {"CLIENT_SECRET": SECRET})["access_token"]
