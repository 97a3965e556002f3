"""The command line as a user runs it: real processes, real sockets."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from spotnana_sim.cli.main import main

SPOTNANA_SIM = [sys.executable, "-m", "spotnana_sim"]


def start_serve(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [*SPOTNANA_SIM, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:  # the banner is printed before the server accepts; wait for uvicorn's line
        lines.append(line.rstrip("\n"))
        if "Application startup complete" in line or process.poll() is not None:
            break
    return process, lines


def stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=15)
    if process.stdout is not None:
        process.stdout.close()
    return code


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    process, lines = start_serve()
    yield process, lines
    stop(process)


def test_serve_banner_has_everything_to_try_an_exchange(served: tuple[subprocess.Popen[str], list[str]]) -> None:
    _, lines = served
    text = "\n".join(lines)
    base = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
    assert base, text
    assert f"POST {base.group(1)}/v2/auth/oauth2-token" in text
    assert "demo-client" in text and "demo-secret" in text and "demo-token-ada" in text
    assert httpx.get(base.group(1) + "/_sim/health").status_code == 200


def test_the_printed_curl_performs_a_successful_exchange(served: tuple[subprocess.Popen[str], list[str]]) -> None:
    _, lines = served
    start = next(i for i, line in enumerate(lines) if line.startswith("curl "))
    command = "\n".join(lines[start:start + 7])
    words = shlex.split(command.replace("\\\n", " "))
    url = next(w for w in words if w.startswith("http://"))
    fields = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--data-urlencode")
    response = httpx.post(url, data=fields)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


def test_sigterm_exits_zero(served: tuple[subprocess.Popen[str], list[str]]) -> None:
    process, _ = served
    assert stop(process) == 0


def test_no_profile_source_is_said_plainly() -> None:
    process, lines = start_serve("--user-detail-url", "http://127.0.0.1:9/v1/user-detail", "--client", "acme:s3cr3t-value")
    try:
        text = "\n".join(lines)
        assert "EVERY email" in text
        assert "s3cr3t-value" not in text
    finally:
        stop(process)


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

                time.sleep(0.05)
        assert response.json() == {"user": {"email": "grace@example.com"}}
    finally:
        stop(process)
