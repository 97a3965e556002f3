"""The container: the Dockerfile's own command line and environment, run here as a subprocess, and
the image itself built and run where a Docker engine answers.

Nothing below restates the Dockerfile: ENTRYPOINT, CMD, ENV and HEALTHCHECK are read from it, so
what is tested is what the image runs. Only the port is moved to a free one (as `-p` would), and the
admin token is passed as the container docs tell users to.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dockerfile_parse import DockerfileParser

from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from spotnana_sim.reference.user_detail import DEMO_SUBJECT_TOKEN, DEMO_USERS

from ..servers import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
START_TIMEOUT = 30.0
VARIABLE_PREFIX = "SPOTNANA_SIM_"


@dataclass(frozen=True)
class Container:
    """What the final stage of the Dockerfile runs."""

    command: list[str]  # ENTRYPOINT + CMD
    env: dict[str, str]  # ENV of the final stage
    healthcheck: list[str]  # HEALTHCHECK CMD, exec form
    exposed: list[str]
    user: str


def _exec_form(instruction: str, value: str) -> list[str]:
    try:
        words = json.loads(value)
    except ValueError:
        pytest.fail(f"{instruction} must use the exec (JSON array) form so that signals reach the simulator: {value}")
    assert isinstance(words, list) and all(isinstance(w, str) for w in words), f"{instruction}: {value}"
    return words


def read_dockerfile() -> Container:
    parser = DockerfileParser(str(DOCKERFILE.parent))
    structure = parser.structure
    last_from = max(i for i, item in enumerate(structure) if item["instruction"] == "FROM")
    final = structure[last_from:]

    def last(instruction: str) -> str | None:
        values = [item["value"] for item in final if item["instruction"] == instruction]
        return values[-1] if values else None

    entrypoint, cmd, healthcheck = last("ENTRYPOINT"), last("CMD"), last("HEALTHCHECK")
    assert entrypoint and cmd and healthcheck, "the final stage needs ENTRYPOINT, CMD and HEALTHCHECK"
    check_words = healthcheck.split(" CMD ", 1)
    assert len(check_words) == 2, f"HEALTHCHECK must end in CMD [...]: {healthcheck}"
    return Container(
        command=_exec_form("ENTRYPOINT", entrypoint) + _exec_form("CMD", cmd),
        env=dict(parser.envs),
        healthcheck=_exec_form("HEALTHCHECK CMD", check_words[1]),
        exposed=[w for item in final if item["instruction"] == "EXPOSE" for w in item["value"].split()],
        user=last("USER") or "",
    )


CONTAINER = read_dockerfile()


def _process_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This machine's environment (for PATH and the like) less any SPOTNANA_SIM_* variable of its
    own, then the image's ENV, then what `docker run -e` would add."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(VARIABLE_PREFIX)}
    # The image installs spotnana-sim and python on PATH; here they are the venv's.
    inherited["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), inherited.get("PATH", "")])
    return {**inherited, **CONTAINER.env, **extra}


@dataclass
class Running:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[str]

    def output(self) -> str:
        self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out


@contextmanager
def container_process(extra: Mapping[str, str]) -> Iterator[Running]:
    port = free_port()
    env = _process_env({"SPOTNANA_SIM_PORT": str(port), **extra})
    workdir = tempfile.TemporaryDirectory(prefix="spotnana-sim-container-")  # the image's empty WORKDIR
    process = subprocess.Popen(
        CONTAINER.command, env=env, cwd=workdir.name, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    running = Running(f"http://127.0.0.1:{port}", env, process)
    try:
        _wait_healthy(running)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout:
            process.stdout.close()
        workdir.cleanup()


def _wait_healthy(running: Running) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            if running.process.poll() is not None:
                pytest.fail(f"{' '.join(CONTAINER.command)} exited {running.process.returncode}:\n{running.output()}")
            try:
                if http.get(running.url + "/_sim/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # a separate process starting: nothing to inject a clock into
    pytest.fail(f"no answer on {running.url}/_sim/health within {START_TIMEOUT:.0f} s:\n{running.output()}")


def _exchange(url: str, client_id: str, secret: str, subject_token: str = DEMO_SUBJECT_TOKEN) -> httpx.Response:
    form = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "client_id": client_id,
        "client_secret": secret,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "scope": "openid",
    }
    return httpx.post(url + TOKEN_ENDPOINT_PATH, data=form, timeout=10)


# ------------------------------------------------------------------ the Dockerfile itself --------


def test_dockerfile_shape() -> None:
    """Slim Python 3.11, a non-root numeric user, port 8080, spotnana-sim serve on every interface."""
    final_base = [item["value"] for item in DockerfileParser(str(ROOT)).structure if item["instruction"] == "FROM"][-1]
    assert final_base.split()[0].startswith("python:3.11-slim")
    user = CONTAINER.user.split(":")[0]
    assert user.isdigit() and int(user) != 0, f"USER {CONTAINER.user!r} must be a non-root numeric id"
    assert CONTAINER.exposed == ["8080"]
    assert CONTAINER.command[:2] == ["spotnana-sim", "serve"]
    assert CONTAINER.env["SPOTNANA_SIM_HOST"] == "0.0.0.0"
    assert CONTAINER.env["SPOTNANA_SIM_PORT"] == "8080"
    assert "SPOTNANA_SIM_ADMIN_TOKEN" not in CONTAINER.env, "a token baked into the image protects nothing"


def test_image_build_copies_every_packaged_folder() -> None:
    """pyproject's package folders and readme are all copied into the build stage (and not ignored)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {folder.split("/")[0] for folder in project["tool"]["setuptools"]["package-dir"].values()}
    structure = DockerfileParser(str(ROOT)).structure
    copied = {Path(word).parts[0] for item in structure if item["instruction"] == "COPY"
              and not item["value"].startswith("--from") for word in item["value"].split()[:-1]}
    assert needed <= copied, f"the build stage does not copy {sorted(needed - copied)}"
    allowed = {line[1:].strip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    assert needed <= allowed, f".dockerignore keeps {sorted(needed - allowed)} out of the build context"


# ------------------------------------------------------ the container's command, as a process ----


def test_container_command_serves_health_and_a_token_exchange() -> None:
    admin_token = secrets.token_urlsafe(24)
    with container_process({"SPOTNANA_SIM_ADMIN_TOKEN": admin_token}) as running:
        check = subprocess.run(CONTAINER.healthcheck, env=running.env, check=False, capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"HEALTHCHECK failed: {check.stdout}{check.stderr}"
        response = _exchange(running.url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        assert response.status_code == 200, response.text
        assert set(response.json()) >= {"access_token", "refresh_token", "token_type", "expires_in"}
        # The admin API wants the token, even from loopback, once one is set.
        assert httpx.get(running.url + "/_sim/journal", timeout=10).status_code == 403
        authorized = httpx.get(running.url + "/_sim/journal", headers={"Authorization": f"Bearer {admin_token}"}, timeout=10)
        assert authorized.status_code == 200
        output = running.output()  # SIGTERM, as `docker stop` sends
    assert running.process.returncode == 0, f"a SIGTERM stop should exit 0, got {running.process.returncode}:\n{output}"
    assert admin_token not in output, "the admin token must never be printed"


def test_container_configured_like_the_ci_docs() -> None:
    """The variables docs/getting-started/container.md passes to the CI service."""
    secret = "ci-" + secrets.token_urlsafe(16)
    ada = DEMO_USERS[DEMO_SUBJECT_TOKEN]
    with container_process({
        "SPOTNANA_SIM_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "SPOTNANA_SIM_CLIENTS": f"ci-client:{secret}",
        "SPOTNANA_SIM_PROFILES": ada,
        "SPOTNANA_SIM_ERRORS": "rfc6749",
    }) as running:
        assert _exchange(running.url, "ci-client", secret).status_code == 200
        wrong = _exchange(running.url, "ci-client", secret + "-wrong")
        assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_client")
        assert "www-authenticate" not in wrong.headers
        other_user = next(token for token, email in DEMO_USERS.items() if email != ada)
        refused = _exchange(running.url, "ci-client", secret, subject_token=other_user)
        assert refused.json()["error"] == "invalid_grant"
        output = running.output()
    assert secret not in output, "a client secret from the environment must never be printed"


def test_container_command_without_admin_token_refuses_to_start_and_says_which_variable() -> None:
    port = free_port()
    result = subprocess.run(
        CONTAINER.command, env=_process_env({"SPOTNANA_SIM_PORT": str(port)}), cwd=tempfile.gettempdir(),
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "SPOTNANA_SIM_ADMIN_TOKEN" in result.stderr


# ------------------------------------------------------------------------- the image itself ------


def _docker_unavailable() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not installed"
    try:
        info = subprocess.run([docker, "info"], check=False, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s"
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no Docker engine answers `docker info`: {reason}"
    return None


def test_image_builds_and_serves() -> None:
    reason = _docker_unavailable()
    if reason:
        pytest.skip(f"cannot build images here: {reason}")
    tag = f"spotnana-sim-test:{uuid.uuid4().hex[:12]}"
    name = f"spotnana-sim-test-{uuid.uuid4().hex[:12]}"
    build = subprocess.run(["docker", "build", "--tag", tag, str(ROOT)], check=False, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout + build.stderr
    try:
        version = subprocess.run(["docker", "run", "--rm", tag, "--version"], check=False, capture_output=True, text=True, timeout=120)
        assert version.returncode == 0 and version.stdout.strip(), version.stdout + version.stderr
        run = subprocess.run(
            ["docker", "run", "--detach", "--name", name, "--publish", "127.0.0.1::8080",
             "--health-interval", "1s", "--env", f"SPOTNANA_SIM_ADMIN_TOKEN={secrets.token_urlsafe(24)}", tag],
            check=False, capture_output=True, text=True, timeout=120,
        )
        assert run.returncode == 0, run.stderr
        published = subprocess.run(["docker", "port", name, "8080/tcp"], check=False, capture_output=True, text=True, timeout=30)
        url = "http://" + published.stdout.split()[0]
        deadline = time.monotonic() + 60
        health = ""
        while time.monotonic() < deadline and health != "healthy":
            inspect = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", name],
                                     check=False, capture_output=True, text=True, timeout=30)
            health = inspect.stdout.strip()
            time.sleep(0.5)  # the engine runs the HEALTHCHECK on its own schedule
        logs = subprocess.run(["docker", "logs", name], check=False, capture_output=True, text=True, timeout=30)
        assert health == "healthy", f"health {health!r}\n{logs.stdout}{logs.stderr}"
        response = _exchange(url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        assert response.status_code == 200, response.text
        user = subprocess.run(["docker", "exec", name, "id", "-u"], check=False, capture_output=True, text=True, timeout=30)
        assert user.stdout.strip() not in ("", "0"), "the simulator runs as root in the image"
    finally:
        subprocess.run(["docker", "rm", "--force", name], check=False, capture_output=True, timeout=60)
        subprocess.run(["docker", "image", "rm", "--force", tag], check=False, capture_output=True, timeout=60)
