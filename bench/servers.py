"""Server processes for the benchmark: start one, learn its URL from its first stdout line, stop it."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from .load import FORM_CONTENT_TYPE, pinned

URL_PATTERN = re.compile(r"https?://[0-9A-Za-z.\-\[\]:]+")
START_TIMEOUT = 60.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerProcess:
    """A server started as its own process group; ``url`` is the first URL its stdout prints."""

    def __init__(self, name: str, command: Sequence[str], *, cpu: int | None, log_dir: Path,
                 cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started_at = time.perf_counter()
        # stderr to a file: `serve` logs one line per request at the default level, as a user would see.
        self.process = subprocess.Popen(
            pinned(command, cpu), stdout=subprocess.PIPE, stderr=self._log, cwd=cwd, env=env,
            start_new_session=True,
        )
        self.url = self._read_url()
        self._drain = threading.Thread(target=self._drain_stdout, daemon=True)
        self._drain.start()

    def _read_url(self) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line = self.process.stdout.readline().decode(errors="replace")
            if not line:
                break
            self._log.write(line.encode())
            match = URL_PATTERN.search(line)
            if match:
                return match.group(0).rstrip("/")
        self.stop()
        raise RuntimeError(f"{self.name} printed no URL; see {self.log_path}")

    def _drain_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._log.write(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kib(self) -> int:
        """Resident memory of the server process and its children, in KiB (Linux /proc)."""
        total = 0
        for pid in [self.pid, *_children(self.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (all its threads; Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime: fields 14 and 15 of stat

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(p) for p in text.split()]
    return kids + [grand for kid in kids for grand in _children(kid)]


def post_form(url: str, body: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """One POST on a fresh connection: (status, body)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.request("POST", parts.path, body=body, headers={"Content-Type": FORM_CONTENT_TYPE})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
