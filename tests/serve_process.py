"""``spotnana-sim serve`` in a subprocess, with what its banner says (the simulator, embed and partner-app URLs)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

HANG_GUARD = 60.0  # only keeps a broken run from hanging the suite
PARTNER_LINE = re.compile(r"^partner app: open (http://localhost:\d+) ")
EMBED_LINE = re.compile(r"^  embedded app    GET  (http://[^/]+)/embed/")


class ServeProcess:
    """Started on free ports; ``url``, ``embed_url`` and ``partner_url`` come from the banner."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log_path = log
        self.log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spotnana_sim", "serve", "--port", "0", *args], stdout=subprocess.PIPE,
            stderr=self.log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        self.lines: list[str] = []
        partner = "--with-partner-app" in args
        in_curl = False
        while True:
            line = self.process.stdout.readline().decode()
            if not line:
                self.close()
                raise AssertionError(f"serve exited early; banner so far {self.lines}; log: {log.read_text()[-2000:]}")
            self.lines.append(line.rstrip("\n"))
            in_curl = in_curl or line.startswith("curl ")
            curl_done = in_curl and not line.rstrip("\n").endswith("\\")  # the banner ends with the curl
            if (PARTNER_LINE.match(line) if partner else curl_done):
                break
        self.url = self.lines[0].removeprefix("spotnana-sim listening on ").strip()
        self.embed_url = next(m[1] for m in map(EMBED_LINE.match, self.lines) if m)
        found = [m[1] for m in map(PARTNER_LINE.match, self.lines) if m]
        self.partner_url = found[0] if found else None
        self.drain = threading.Thread(target=self.process.stdout.read, daemon=True)  # a full pipe must never block it
        self.drain.start()
        # The banner comes just before uvicorn takes over the signals: once it answers, a SIGTERM reaches it.
        with httpx.Client(timeout=HANG_GUARD) as http:
            assert http.get(self.url + "/_sim/health").status_code == 200

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C's sibling: the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=HANG_GUARD)
        finally:
            self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if hasattr(self, "drain"):
            self.drain.join(timeout=HANG_GUARD)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.log.close()
