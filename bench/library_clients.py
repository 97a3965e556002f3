"""Which aiohttp set-up makes the fastest library floor: each of ``library_floor_app.CLIENTS`` measured side by side.

Two measurements, both against one reference user-detail process on the load core:

* ``client``: the user-detail GET alone, in one process pinned to the server core, 16 tasks at a time;
  its CPU per GET is aiohttp's own cost, without Starlette and RS256 around it to blur it;
* ``server``: every configuration as its own library-floor server (pinned to the server core), loaded
  as ``make bench`` loads its shapes: req/s and server CPU per request.

Configurations take turns within each round, rounds repeat, medians are reported. The fastest becomes
``FASTEST`` in bench/library_floor_app.py::

    python -m bench.library_clients --rounds 7 --duration 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from .library_floor_app import CLIENTS, FASTEST, UserDetailClient, library_floor_command
from .load import pinned, run_load, wrk_available
from .run import (
    EXCHANGE_FORM,
    LOAD_CPU,
    PROFILE,
    RESULTS,
    ROOT,
    SERVER_CPU,
    SUBJECT_TOKEN,
    TOKEN_PATH,
    USER_DETAIL_PATH,
    Shape,
    check_answer,
    start_reference,
)
from .servers import ServerProcess


async def _client_probe(url: str, client: str, requests: int, concurrency: int) -> dict[str, float]:
    """CPU and wall time of ``requests`` GETs through one configuration (run in a child process)."""
    user_detail = UserDetailClient(url, CLIENTS[client])
    user_detail.start()
    try:
        for _ in range(200):  # warm up: connections open, code paths hot
            await user_detail.fetch(SUBJECT_TOKEN)
        left = [requests]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                status, body = await user_detail.fetch(SUBJECT_TOKEN)
                if status != 200 or PROFILE.encode() not in body:
                    raise RuntimeError(f"user-detail answered {status}: {body[:200]!r}")

        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    finally:
        await user_detail.close()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_us_per_get": cpu * 1e6 / requests, "gets_per_s": requests / wall}


def measure_clients(url: str, rounds: int, requests: int) -> dict[str, list[dict[str, float]]]:
    """Each configuration's probe, once per round, each in a fresh process on the server core."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name in CLIENTS}
    for round_number in range(1, rounds + 1):
        for name in CLIENTS:
            command = [sys.executable, "-m", "bench.library_clients", "--probe", name, "--url", url,
                       "--requests", str(requests)]
            done = subprocess.run(pinned(command, SERVER_CPU), capture_output=True, text=True, cwd=ROOT, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"client probe {name} failed: {done.stderr.strip()[-500:]}")
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"client round {round_number}/{rounds}  {name:<14} {results[name][-1]['gets_per_s']:8,.0f} GET/s  "
                  f"{results[name][-1]['cpu_us_per_get']:.1f} us CPU/GET", flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.library_clients", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per timed run (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per configuration (default 5)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--builtin", action="store_true", help="use the built-in driver even when wrk is installed")
    parser.add_argument("--requests", type=int, default=20_000, help="GETs per client probe (default 20,000)")
    parser.add_argument("--only", choices=("client", "server"), help="run one of the two measurements")
    parser.add_argument("--probe", choices=sorted(CLIENTS), help=argparse.SUPPRESS)  # the child process of `client`
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        _install_uvloop()
        print(json.dumps(asyncio.run(_client_probe(args.url, args.probe, args.requests, args.concurrency))))
        return 0
    use_wrk = wrk_available() and not args.builtin
    log_dir = RESULTS / f"clients-{time.strftime('%Y%m%d-%H%M%S')}" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    servers: list[ServerProcess] = []
    shapes: dict[str, Shape] = {}
    try:
        reference = start_reference(log_dir)
        servers.append(reference)
        if args.only != "server":
            client_results = measure_clients(reference.url + USER_DETAIL_PATH, args.rounds, args.requests)
        for name in CLIENTS if args.only != "client" else ():
            server = ServerProcess(f"library-floor-{name}", library_floor_command(reference.url + "/v1/user-detail", name),
                                   cpu=SERVER_CPU, log_dir=log_dir, cwd=ROOT)
            servers.append(server)
            shapes[name] = Shape(name, CLIENTS[name].describe, server.url + TOKEN_PATH, EXCHANGE_FORM, server)
        for shape in shapes.values():
            check_answer(shape.name, shape.url, shape.body, PROFILE)
            run_load(shape.url, shape.body, concurrency=args.concurrency, duration=1, cpu=LOAD_CPU, use_wrk=use_wrk)
        for round_number in range(1, args.rounds + 1):
            for shape in shapes.values():
                result = shape.measure(concurrency=args.concurrency, duration=args.duration, use_wrk=use_wrk)
                print(f"round {round_number}/{args.rounds}  {shape.name:<14} {result.rps:8,.0f} req/s  "
                      f"{shape.cpu_ms[-1]:.3f} ms CPU/req  errors {result.errors}", flush=True)
    finally:
        for server in reversed(servers):
            server.stop()
    if args.only != "server":
        print("\n| configuration | GET/s | client CPU us/GET |\n|---|---:|---:|")
        for name, runs in client_results.items():
            chosen = " (FASTEST)" if name == FASTEST else ""
            print(f"| {name}{chosen} | {statistics.median(r['gets_per_s'] for r in runs):,.0f} | "
                  f"{statistics.median(r['cpu_us_per_get'] for r in runs):.1f} |")
    if not shapes:
        return 0
    print("\n| configuration | req/s | server CPU ms/req | core used | errors | |\n|---|---:|---:|---:|---:|---|")
    for name, shape in shapes.items():
        row = shape.summary()
        chosen = " (FASTEST)" if name == FASTEST else ""
        print(f"| {name}{chosen} | {row['rps']:,.0f} | {row['cpu_ms_per_request']:.3f} | {row['server_core_share']:.0%} | {row['errors']} | {row['label']} |")
    return 0


def _install_uvloop() -> None:
    """The loop uvicorn picks for the library floor, so the probe measures the same thing."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


if __name__ == "__main__":
    sys.exit(main())
