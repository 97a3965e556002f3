"""Load generation: wrk when installed, otherwise a built-in keep-alive HTTP/1.1 driver.

Both run in their own process (pinned to the load core when ``taskset`` exists) and return the same
``LoadResult``. The built-in driver measures its own CPU time: when it used nearly a whole core, the
server was not the limit and the figure says so (``driver_bound``).

Run the built-in driver alone::

    python -m bench.load --url http://127.0.0.1:8080/v2/auth/oauth2-token --body 'a=b' --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LUA_SCRIPT = Path(__file__).with_name("post.lua")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Above this share of one core spent in the driver itself, the driver (not the server) set the pace.
DRIVER_BOUND_CPU_SHARE = 0.85


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_detail: dict[str, int] = field(default_factory=dict)
    driver_cpu_share: float | None = None  # built-in driver only: its CPU seconds per wall second
    driver_bound: bool = False

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": round(self.rps, 1)}


def pinned(command: Sequence[str], cpu: int | None) -> list[str]:
    """``command`` under ``taskset -c cpu`` when there are enough cores and taskset exists."""
    if cpu is None or shutil.which("taskset") is None or (os.cpu_count() or 1) <= cpu:
        return list(command)
    return ["taskset", "-c", str(cpu), *command]


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    url: str, body: str, *, concurrency: int, duration: float, cpu: int | None, use_wrk: bool
) -> LoadResult:
    """One timed run against ``url`` POSTing ``body`` from ``concurrency`` keep-alive connections."""
    if use_wrk:
        return _run_wrk(url, body, concurrency=concurrency, duration=duration, cpu=cpu)
    command = [sys.executable, "-m", "bench.load", "--url", url, "--body", body,
               "--concurrency", str(concurrency), "--duration", str(duration)]
    return _run_builtin(command, cpu)


def run_count(
    url: str, body: str, *, concurrency: int, requests: int, cpu: int | None, max_seconds: float | None = None
) -> LoadResult:
    """``requests`` requests, or fewer if ``max_seconds`` pass first (the built-in driver: wrk only knows durations)."""
    command = [sys.executable, "-m", "bench.load", "--url", url, "--body", body,
               "--concurrency", str(concurrency), "--requests", str(requests)]
    if max_seconds is not None:
        command += ["--max-seconds", str(max_seconds)]
    return _run_builtin(command, cpu)


def _run_builtin(command: list[str], cpu: int | None) -> LoadResult:
    cwd = Path(__file__).resolve().parent.parent  # so `-m bench.load` resolves from any working folder
    done = subprocess.run(pinned(command, cpu), capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"built-in load driver failed: {done.stderr.strip()[-500:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return LoadResult(**data)


def _run_wrk(url: str, body: str, *, concurrency: int, duration: float, cpu: int | None) -> LoadResult:
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
               "-s", str(LUA_SCRIPT), url]
    env = {**os.environ, "BENCH_BODY": body, "BENCH_CONTENT_TYPE": FORM_CONTENT_TYPE}
    done = subprocess.run(pinned(command, cpu), capture_output=True, text=True, env=env, check=False)
    line = next((row for row in done.stdout.splitlines() if row.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = {k: int(v) for k, v in data["errors"].items() if v}
    return LoadResult(
        tool="wrk",
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=sum(errors.values()),
        error_detail=errors,
    )


# ------------------------------------------------------------------------------ built-in driver


class _Connection:
    """One keep-alive HTTP/1.1 connection sending the same prepared request again and again."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self) -> int:
        """Send one request, read its whole answer; the status code, or 0 when the connection failed."""
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            self.writer.write(self.request)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length:
                await self.reader.readexactly(length)
            if close:
                self.close()
            return status
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            self.close()
            return 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _drive(url: str, body: str, concurrency: int, duration: float | None, total: int | None) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    payload = body.encode()
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: {FORM_CONTENT_TYPE}\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    latencies: list[float] = []
    errors = {"status": 0, "socket": 0}
    remaining = [total if total is not None else -1]
    clock = time.perf_counter
    start = clock()
    deadline = start + duration if duration is not None else float("inf")

    async def worker() -> None:
        connection = _Connection(host, port, request)
        while True:
            if remaining[0] == 0 or clock() >= deadline:
                break
            remaining[0] -= 1
            sent = clock()
            status = await connection.exchange()
            latencies.append(clock() - sent)
            if status == 0:
                errors["socket"] += 1
            elif status >= 400:
                errors["status"] += 1
        connection.close()

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = clock() - start
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    latencies.sort()
    share = cpu / elapsed if elapsed > 0 else 0.0
    return {
        "tool": "built-in",
        "requests": len(latencies),
        "seconds": elapsed,
        "p50_ms": _percentile(latencies, 50) * 1000,
        "p99_ms": _percentile(latencies, 99) * 1000,
        "errors": sum(errors.values()),
        "error_detail": {k: v for k, v in errors.items() if v},
        "driver_cpu_share": round(share, 3),
        "driver_bound": share >= DRIVER_BOUND_CPU_SHARE,
    }


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def _install_fast_loop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description="built-in HTTP load driver")
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--duration", type=float, help="seconds to run")
    group.add_argument("--requests", type=int, help="how many requests to send in all")
    parser.add_argument("--max-seconds", type=float, help="with --requests: stop after this long even if not all were sent")
    args = parser.parse_args(argv)
    _install_fast_loop()
    duration = args.duration if args.duration is not None else args.max_seconds
    result = asyncio.run(_drive(args.url, args.body, args.concurrency, duration, args.requests))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
