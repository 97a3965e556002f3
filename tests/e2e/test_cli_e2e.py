"""The command line as a user runs it: real processes, real sockets."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from spotnana_sim.cli.main import main

from ..serve_process import ServeProcess

pytestmark = pytest.mark.e2e  # the command in a subprocess, its servers on loopback

SPOTNANA_SIM = [sys.executable, "-m", "spotnana_sim"]


def stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=15)
    if process.stdout is not None:
        process.stdout.close()
    return code


@pytest.fixture
def served(start_serve: Callable[..., ServeProcess]) -> ServeProcess:
    return start_serve()


def test_serve_banner_has_everything_to_try_an_exchange(served: ServeProcess) -> None:
    text = "\n".join(served.lines)
    base = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
    assert base, text
    assert f"POST {base.group(1)}/v2/auth/oauth2-token" in text
    assert "demo-client" in text and "demo-secret" in text and "demo-token-ada" in text
    assert httpx.get(base.group(1) + "/_sim/health").status_code == 200


def test_the_printed_curl_performs_a_successful_exchange(served: ServeProcess) -> None:
    lines = served.lines
    start = next(i for i, line in enumerate(lines) if line.startswith("curl "))
    command = "\n".join(lines[start:start + 7])
    words = shlex.split(command.replace("\\\n", " "))
    url = next(w for w in words if w.startswith("http://"))
    fields = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--data-urlencode")
    response = httpx.post(url, data=fields)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


def test_sigterm_exits_zero(served: ServeProcess) -> None:
    assert served.stop() == 0


def test_no_profile_source_is_said_plainly(start_serve: Callable[..., ServeProcess]) -> None:
    server = start_serve("--user-detail-url", "http://127.0.0.1:9/v1/user-detail", "--client", "acme:s3cr3t-value")
    text = "\n".join(server.lines)
    assert "EVERY email" in text
    assert "s3cr3t-value" not in text + server.log_path.read_text()


def test_demo_prints_the_answer_and_decoded_claims(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "-> 200" in out
    assert '"email": "ada@example.com"' in out and '"kid"' in out and '"exp"' in out


def test_a_bad_config_file_is_one_clear_line_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "sim.toml"
    config.write_text("[server]\nport = 'eighty'\n")
    result = subprocess.run([*SPOTNANA_SIM, "serve", "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "server.port" in result.stderr and "Traceback" not in result.stderr


def test_a_busy_port_is_a_clear_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run([*SPOTNANA_SIM, "serve", "--port", str(port)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "cannot bind" in result.stderr and "Traceback" not in result.stderr


def test_reference_server_runs_alone() -> None:
    process = subprocess.Popen([*SPOTNANA_SIM, "reference", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" on ", 1)[1].strip()
        for _ in range(100):
            try:
                response = httpx.get(url, headers={"Authorization": "Bearer demo-token-grace"})
                break
            except httpx.ConnectError:
                import time

                time.sleep(0.05)  # a separate process starting: nothing to inject a clock into
        assert response.json() == {"user": {"email": "grace@example.com"}}
    finally:
        stop(process)
