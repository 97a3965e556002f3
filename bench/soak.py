"""Soak run (``make soak``): a real ``spotnana-sim serve`` process driven hard for a while, with faults.

Drives ``--requests`` exchanges (default 20,000) from ``--clients`` concurrent clients (default 32)
against a fresh server on 127.0.0.1, with a seeded share of fault rules armed through the admin API
and a share of deliberately wrong requests. Every answer is checked: a 200 must carry a token for the
right user, an error must be one that was asked for (a fault or a wrong secret). Then it prints the
request count, errors not asked for (must be 0), p50/p99 latency, and the server's resident memory
after warm-up and at the end (growth must stay under ``--max-growth-mb``, default 20). Exits 1 if any
of those fail. Bounded: it stops at ``--max-seconds`` (default 600) whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from spotnana_sim.core.protocol import (
    ACCESS_TOKEN_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    OPENID_SCOPE,
    TOKEN_ENDPOINT_PATH,
    TOKEN_EXCHANGE_GRANT,
)
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from spotnana_sim.reference.user_detail import DEMO_USERS

BANNER = "spotnana-sim listening on "
FAULT_CODE = "SOAK_INJECTED"
# Armed at start; seeded so two runs fire on the same requests. Their answers are "asked for".
FAULT_RULES: tuple[dict[str, Any], ...] = (
    {"id": "soak-503", "target": "token-endpoint", "probability": 0.03, "seed": 11,
     "response": {"status": 503, "errorCode": FAULT_CODE}},
    {"id": "soak-429", "target": "token-endpoint", "probability": 0.02, "seed": 12,
     "response": {"status": 429, "headers": {"Retry-After": "1"}}},
    {"id": "soak-ud", "target": "user-detail", "probability": 0.02, "seed": 13, "user_detail": "unreachable"},
)
EXPECTED_ERRORS = {(503, FAULT_CODE), (429, "TOO_MANY_REQUESTS"), (502, "USER_DETAIL_UNREACHABLE"),
                   (403, "INVALID_CLIENT_CREDENTIALS")}
WRONG_SECRET_SHARE = 0.02
CLIENT_CREDENTIALS_SHARE = 0.10


@dataclass
class Tally:
    sent: int = 0
    ok: int = 0
    asked_for: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def start_server(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "spotnana_sim", "serve", "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    first = process.stdout.readline().decode()
    if not first.startswith(BANNER):
        process.kill()
        raise RuntimeError(f"the server did not start; see {log_path}")
    threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe from filling
    return process, first[len(BANNER):].strip()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _request(rng: random.Random) -> tuple[dict[str, str], str | None]:
    """A form and the email its token must carry (None: client credentials or a wrong secret)."""
    if rng.random() < CLIENT_CREDENTIALS_SHARE:
        return {"grant_type": CLIENT_CREDENTIALS_GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}, None
    subject = rng.choice(sorted(DEMO_USERS))
    secret = "soak-wrong-secret" if rng.random() < WRONG_SECRET_SHARE else DEMO_CLIENT_SECRET
    form = {"grant_type": TOKEN_EXCHANGE_GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": secret,
            "subject_token": subject, "subject_token_type": ACCESS_TOKEN_TYPE, "scope": OPENID_SCOPE}
    return form, DEMO_USERS[subject]


def _judge(tally: Tally, response: httpx.Response, email: str | None, secret_ok: bool) -> None:
    if response.status_code == 200:
        body = response.json()
        claims = _claims(body["access_token"])
        if not secret_ok or claims.get("client_id") != DEMO_CLIENT_ID or (email and claims.get("email") != email):
            tally.unexpected.append(f"200 with wrong claims {claims}")
        elif claims["exp"] - claims["iat"] != body["expires_in"]:
            tally.unexpected.append("exp - iat != expires_in")
        else:
            tally.ok += 1
        return
    try:
        code = response.json()["errorMessages"][0]["errorCode"]
    except (ValueError, KeyError, IndexError, TypeError):
        tally.unexpected.append(f"{response.status_code} with a body that is not the error envelope")
        return
    key = (response.status_code, code)
    if key in EXPECTED_ERRORS and (code != "INVALID_CLIENT_CREDENTIALS" or not secret_ok):
        tally.asked_for[f"{response.status_code} {code}"] = tally.asked_for.get(f"{response.status_code} {code}", 0) + 1
    else:
        tally.unexpected.append(f"{response.status_code} {code}")


async def drive(url: str, total: int, clients: int, deadline: float, tally: Tally, on_progress: Any) -> None:
    rng = random.Random(2026)
    # Idle connections expire on our side well before uvicorn's 5 s keep-alive timeout closes them, so a
    # request is never sent on a connection the server is closing at that moment (an HTTP/1.1 race, not a fault).
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as http:

        async def worker() -> None:
            while tally.sent < total and time.monotonic() < deadline:
                tally.sent += 1
                form, email = _request(rng)
                started = time.perf_counter()
                try:
                    response = await http.post(TOKEN_ENDPOINT_PATH, data=form)
                except httpx.HTTPError as exc:
                    tally.unexpected.append(f"transport error {type(exc).__name__}: {exc!r} after "
                                            f"{time.perf_counter() - started:.2f} s")
                    continue
                tally.latencies.append(time.perf_counter() - started)
                _judge(tally, response, email, form["client_secret"] == DEMO_CLIENT_SECRET)
                on_progress()

        await asyncio.gather(*(worker() for _ in range(clients)))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2_000, help="exchanges before the first memory reading")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--max-growth-mb", type=float, default=20.0)
    args = parser.parse_args(argv)

    log_path = Path(tempfile.mkdtemp(prefix="spotnana-soak-")) / "server.log"
    process, url = start_server(log_path)
    started = time.monotonic()
    tally = Tally()
    readings: dict[str, int] = {}

    def on_progress() -> None:
        if "warm" not in readings and len(tally.latencies) >= args.warmup:
            readings["warm"] = rss_kib(process.pid)

    try:
        for rule in FAULT_RULES:
            armed = httpx.post(url + "/_sim/faults", json=rule, timeout=10)
            if armed.status_code != 201:
                raise RuntimeError(f"cannot arm {rule['id']}: {armed.status_code} {armed.text}")
        asyncio.run(drive(url, args.requests, args.clients, started + args.max_seconds, tally, on_progress))
        readings["end"] = rss_kib(process.pid)
        journal = httpx.get(url + "/_sim/journal", params={"status": 500}, timeout=10).json()
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=30)
    elapsed = time.monotonic() - started

    done = len(tally.latencies) + sum(1 for u in tally.unexpected if u.startswith("transport"))
    growth_mb = (readings["end"] - readings.get("warm", readings["end"])) / 1024
    asked = sum(tally.asked_for.values())
    print(f"soak: {done} exchanges from {args.clients} clients in {elapsed:.1f} s ({done / elapsed:.0f}/s)")
    print(f"  ok                  {tally.ok}")
    print(f"  errors asked for    {asked}  ({', '.join(f'{k}: {v}' for k, v in sorted(tally.asked_for.items()))})")
    print(f"  errors NOT asked for {len(tally.unexpected)}" + (f"  e.g. {tally.unexpected[:5]}" if tally.unexpected else ""))
    print(f"  500s in journal     {journal['count']}")
    print(f"  latency p50 / p99   {percentile(tally.latencies, 0.50) * 1000:.1f} ms / {percentile(tally.latencies, 0.99) * 1000:.1f} ms")
    print(f"  server RSS          {readings.get('warm', 0) / 1024:.1f} MB after {args.warmup} (warm-up), "
          f"{readings['end'] / 1024:.1f} MB at the end: growth {growth_mb:+.1f} MB")
    print(f"  server exit         {exit_code} after SIGTERM; log {log_path}")

    failures = []
    if done < args.requests:
        failures.append(f"only {done} of {args.requests} exchanges within {args.max_seconds:g} s")
    if tally.unexpected:
        failures.append(f"{len(tally.unexpected)} errors not asked for")
    if growth_mb >= args.max_growth_mb:
        failures.append(f"memory grew {growth_mb:.1f} MB (limit {args.max_growth_mb:g})")
    if exit_code != 0:
        failures.append(f"server exited {exit_code}")
    print("soak: PASS" if not failures else "soak: FAIL: " + "; ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
