"""Peer servers for ``make bench-peers``: oauth2-mock-server (Node), installed with npm under /tmp.

Only the npm registry is contacted, by ``npm install``, and only the first time: the scratch folder
is reused across runs. Node is pinned to the same core as our servers, so both get one core.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

from .servers import ServerProcess, post_form

PEER_DIR = Path(os.environ.get("BENCH_PEERS_DIR", "/tmp/spotnana-sim-bench-peers"))
PACKAGE = "oauth2-mock-server"
# client_credentials with one RS256 token: the nearest thing it has to our exchange.
PEER_FORM = urlencode({"grant_type": "client_credentials", "client_id": "bench-client", "client_secret": "bench-secret",
                       "scope": "openid"})


def install() -> Path:
    """The package's CLI script, installing it into PEER_DIR first when it is missing."""
    script = PEER_DIR / "node_modules" / PACKAGE / "dist" / "oauth2-mock-server.mjs"
    if script.exists():
        return script
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"--peers needs {tool} (apt-get install nodejs npm)")
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    if not (PEER_DIR / "package.json").exists():
        (PEER_DIR / "package.json").write_text('{"name": "spotnana-sim-bench-peers", "private": true}\n')
    print(f"installing {PACKAGE} with npm into {PEER_DIR} ...", flush=True)
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", PACKAGE],
                          cwd=PEER_DIR, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not script.exists():
        raise RuntimeError(f"npm install {PACKAGE} failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return script


def peer_command(script: Path) -> list[str]:
    return [shutil.which("node") or "node", str(script), "-a", "127.0.0.1", "-p", "0"]


def start_peer(log_dir: Path, *, cpu: int | None) -> tuple[ServerProcess, str, str]:
    """(server, token URL, form body) for oauth2-mock-server's client_credentials grant."""
    server = ServerProcess("oauth2-mock-server", peer_command(install()), cpu=cpu, log_dir=log_dir)
    return server, server.url + "/token", PEER_FORM


def measure_peer_startup(log_dir: Path, *, cpu: int | None, attempts: int) -> list[float]:
    """Milliseconds from spawning oauth2-mock-server to its first 200 token answer."""
    script = install()
    times = []
    for attempt in range(attempts):
        started = time.perf_counter()
        server = ServerProcess(f"peer-startup-{attempt}", peer_command(script), cpu=cpu, log_dir=log_dir)
        try:
            status, answer = post_form(server.url + "/token", PEER_FORM)
            if status != 200:
                raise RuntimeError(f"oauth2-mock-server answered {status}: {answer[:300]!r}")
            times.append((time.perf_counter() - started) * 1000)
        finally:
            server.stop()
    return times
