"""`python -m loadtests.bench.write`: the write path. PATCH /api/orders/{id}/
throughput and latency beside the floor, GET /health/live (the server's
cheapest Django JSON view: no auth, no ORM) served by the same daphne process
in the same run; at the maximum (4 threads, kept-alive sessions, no pause)
and at a fixed offered rate (each request stamped with the time it was due,
so a stalled server cannot hide its stall), with no subscribers and with
`--subscribers` idle WebSocket connections open, on SQLite and, with
`--postgres-url`, on PostgreSQL, with the server's CPU time per request
(docs/benchmarks.md).

    .venv/bin/python -m loadtests.bench.write --subscribers 5000 \\
        --postgres-url postgresql://postgres@127.0.0.1:5432/test

With `--workers N`, instead: PATCH at the maximum from `realtime serve
--workers N` beside `--workers 1` in the same run (both on Redis, which more
than one worker needs), with `--threads` writer threads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import requests

from loadtests.bench.__main__ import TMPFS, Readers, close_all, open_many
from loadtests.bench.targets import OrdersTarget, database
from realtime.observability.summary import percentile
from realtime.testing.processes import start_redis

THREADS = 4
FLOW = ("confirmed", "preparing", "ready", "delivered")
# PATCH/s at the maximum, more than any run has reached (about 500 on
# PostgreSQL with one worker): the orders made beforehand.
PATCH_GUESS = 1000


# The load, from a process of its own (so that it does not share the
# subscribers' interpreter): `--drive floor|patch`, results as JSON.


def drive(
    base: str,
    token: str,
    kind: str,
    seconds: float,
    rate: float | None,
    threads: int = THREADS,
    pid: int = 0,
) -> dict[str, Any]:
    """Requests over `seconds`, and the CPU the server `pid` spent in them."""
    latencies: list[float] = []
    errors = [0]
    made = [0]
    lock = threading.Lock()
    sessions = [requests.Session() for _ in range(threads)]
    for session in sessions:
        session.headers["Authorization"] = f"Bearer {token}"
    # The orders a PATCH run walks through FLOW are made before the clock
    # starts, so that PATCH/s is PATCHes alone; a run that outpaces the guess
    # makes more on the way, and those count against it.
    stocks: list[list[tuple[int, str]]] = [[] for _ in range(threads)]
    if kind == "patch":
        per_thread = math.ceil(seconds * (rate or PATCH_GUESS) / threads / len(FLOW))

        def stock(index: int) -> None:
            for _ in range(per_thread):
                stocks[index] += new_order(sessions[index], base)

        run_all(stock, threads)
    cpu = server_cpu(pid) if pid else 0.0
    started = time.monotonic()
    deadline = started + seconds

    def worker(index: int) -> None:
        session, steps = sessions[index], stocks[index]
        due = started + (index / rate if rate else 0.0)
        for _ in range(10_000_000):
            if rate:
                due += threads / rate
                time.sleep(max(0.0, due - time.monotonic()))
            if time.monotonic() >= deadline:
                return
            if kind == "patch" and not steps:
                steps += new_order(session, base)
                with lock:
                    made[0] += 1
            sent = due if rate else time.monotonic()
            if kind == "patch":
                order_id, step = steps.pop(0)
                reply = session.patch(
                    f"{base}/api/orders/{order_id}/", json={"status": step}, timeout=30
                )
            else:
                reply = session.get(f"{base}/health/live", timeout=30)
            took = (time.monotonic() - sent) * 1000
            with lock:
                if reply.status_code == 200:
                    latencies.append(took)
                else:
                    errors[0] += 1

    run_all(worker, threads)
    elapsed = time.monotonic() - started
    cpu = server_cpu(pid) - cpu if pid else 0.0
    return {
        "per_s": len(latencies) / elapsed,
        "latencies": latencies,
        "errors": errors[0],
        "made_on_the_clock": made[0],
        "cpu_ms": cpu * 1000 / max(1, len(latencies)),
    }


def new_order(session: requests.Session, base: str) -> list[tuple[int, str]]:
    """An order of alice's, and the PATCHes that walk it through FLOW."""
    body = {"items": [{"name": "tea", "qty": 1}], "owner": "alice"}
    reply = session.post(f"{base}/api/orders/", json=body, timeout=30)
    return [(int(reply.json()["id"]), step) for step in FLOW]


def run_all(work: Callable[[int], None], threads: int) -> None:
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def load(
    target: OrdersTarget, kind: str, seconds: float, rate: float | None, threads: int = THREADS
) -> dict[str, Any]:
    command = [sys.executable, "-m", "loadtests.bench.write", "--drive", kind]
    command += ["--url", target.server.http, "--token", target.tokens["all"]]
    command += ["--seconds", str(seconds), "--rate", str(rate or 0), "--threads", str(threads)]
    command += ["--pid", str(target.pid)]
    result = subprocess.run(command, capture_output=True, check=True, timeout=seconds + 120)
    data: dict[str, Any] = json.loads(result.stdout)
    if data.get("made_on_the_clock"):
        # Each such POST is a request the PATCH figure pays for: say so.
        made = data["made_on_the_clock"]
        print(f"note: {made} orders made on the clock; raise PATCH_GUESS", file=sys.stderr)
    return data


def server_cpu(pid: int) -> float:
    """CPU seconds (user and system) of the server and, under --workers, its workers."""
    root = psutil.Process(pid)
    total = 0.0
    for process in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


async def measure(target: OrdersTarget, subscribers: int, args: argparse.Namespace) -> list[str]:
    sockets = await open_many(target, "bob", subscribers) if subscribers else []
    quiet = Readers(target)
    for ws in sockets:
        quiet.add(ws, record=False)
    rows = []
    try:
        for label, rate in (("max", None), (f"{args.rate:g}/s", args.rate)):
            floor = await asyncio.to_thread(load, target, "floor", args.seconds, rate)
            patch = await asyncio.to_thread(load, target, "patch", args.seconds, rate)
            lat = patch["latencies"]
            rows.append(
                f"| {subscribers} | {label} | {floor['per_s']:,.1f} | {patch['per_s']:,.1f} | "
                f"{patch['per_s'] / max(1e-9, floor['per_s']):.2f} | "
                f"{percentile(floor['latencies'], 0.5):.1f} / "
                f"{percentile(floor['latencies'], 0.99):.1f} | "
                f"{percentile(lat, 0.5):.1f} / {percentile(lat, 0.99):.1f} | {patch['errors']} | "
                f"{floor['cpu_ms']:.2f} / {patch['cpu_ms']:.2f} |"
            )
    finally:
        await quiet.close()
        await close_all(sockets)
    return rows


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-write-", dir=TMPFS) as tmp:
        await measure_on("", Path(tmp) / "sqlite", args)
        if args.postgres_url:
            with database(args.postgres_url, "bench_write") as url:
                await measure_on(url, Path(tmp) / "postgres", args)


async def measure_on(database_url: str, work: Path, args: argparse.Namespace) -> None:
    """The table for one database (the default SQLite one when `database_url` is empty)."""
    await asyncio.to_thread(work.mkdir)
    target = OrdersTarget(work, database_url=database_url)
    await asyncio.to_thread(target.start)
    try:
        figure = f"{args.threads} threads, {args.seconds:g} s per figure"
        print(f"\nwrite: {work.name}, {figure}\n")
        print(
            "| subscribers | offered | floor req/s | PATCH/s | PATCH ÷ floor "
            "| floor p50 / p99 ms | PATCH p50 / p99 ms | PATCH errors "
            "| server CPU ms per request, floor / PATCH |"
        )
        print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for subscribers in sorted({0, args.subscribers}):
            for row in await measure(target, subscribers, args):
                print(row, flush=True)
    finally:
        await asyncio.to_thread(target.stop)


async def compare_workers(args: argparse.Namespace) -> None:
    """PATCH/s of `--workers N` beside `--workers 1`, on Redis and the chosen database."""
    redis = await asyncio.to_thread(start_redis)
    backend = "postgres" if args.postgres_url else "sqlite"
    print(f"\nwrite: {backend} + Redis, {args.threads} threads, {args.seconds:g} s per figure\n")
    print(
        "| workers | floor req/s | PATCH/s | PATCH ÷ floor | PATCH p50 / p99 ms | vs 1 worker "
        "| server CPU ms per request, floor / PATCH |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    first = 0.0
    try:
        with tempfile.TemporaryDirectory(prefix="bench-write-", dir=TMPFS) as tmp:
            for workers in (1, args.workers):
                work = Path(tmp) / f"workers-{workers}"
                await asyncio.to_thread(work.mkdir)
                with database(args.postgres_url, "bench_write") as url:
                    target = OrdersTarget(
                        work, redis_url=redis.url, database_url=url, workers=workers
                    )
                    await asyncio.to_thread(target.start)
                    try:
                        floor = await asyncio.to_thread(
                            load, target, "floor", args.seconds, None, args.threads
                        )
                        patch = await asyncio.to_thread(
                            load, target, "patch", args.seconds, None, args.threads
                        )
                    finally:
                        await asyncio.to_thread(target.stop)
                first = first or patch["per_s"]
                lat = patch["latencies"]
                print(
                    f"| {workers} | {floor['per_s']:,.1f} | {patch['per_s']:,.1f} | "
                    f"{patch['per_s'] / max(1e-9, floor['per_s']):.2f} | "
                    f"{percentile(lat, 0.5):.1f} / {percentile(lat, 0.99):.1f} | "
                    f"{patch['per_s'] / max(1e-9, first):.2f} | "
                    f"{floor['cpu_ms']:.2f} / {patch['cpu_ms']:.2f} |",
                    flush=True,
                )
    finally:
        await asyncio.to_thread(redis.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=5000, help="idle connections open")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="the fixed offered rate")
    parser.add_argument("--postgres-url", default="", help="a server to create a database on")
    parser.add_argument("--workers", type=int, default=1, help="compare with --workers 1")
    parser.add_argument("--threads", type=int, default=THREADS, help="writer threads")
    parser.add_argument("--drive", choices=("floor", "patch"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        rate = args.rate or None
        print(
            json.dumps(
                drive(args.url, args.token, args.drive, args.seconds, rate, args.threads, args.pid)
            )
        )
        return
    asyncio.run(compare_workers(args) if args.workers > 1 else run(args))


if __name__ == "__main__":
    main()
