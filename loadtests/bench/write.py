"""`python -m loadtests.bench.write`: the write path. PATCH /api/orders/{id}/
throughput and latency beside the floor, GET /health/live (the server's
cheapest Django JSON view: no auth, no ORM) served by the same daphne process
in the same run; at the maximum (4 threads, kept-alive sessions, no pause)
and at a fixed offered rate (each request stamped with the time it was due,
so a stalled server cannot hide its stall), with no subscribers and with
`--subscribers` idle WebSocket connections open, on SQLite and, with
`--postgres-url`, on PostgreSQL (docs/benchmarks.md).

    .venv/bin/python -m loadtests.bench.write --subscribers 5000 \\
        --postgres-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from chaos.harness import postgres_admin
from loadtests.bench.__main__ import TMPFS, Readers, close_all, open_many
from loadtests.bench.targets import OrdersTarget
from realtime.observability.summary import percentile

THREADS = 4
FLOW = ("confirmed", "preparing", "ready", "delivered")


# The load, from a process of its own (so that it does not share the
# subscribers' interpreter): `--drive floor|patch`, results as JSON.


def drive(base: str, token: str, kind: str, seconds: float, rate: float | None) -> dict[str, Any]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + seconds

    def worker(index: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        due = started + (index / rate if rate else 0.0)
        steps: list[tuple[int, str]] = []
        for _ in range(10_000_000):
            if rate:
                due += THREADS / rate
                time.sleep(max(0.0, due - time.monotonic()))
            if time.monotonic() >= deadline:
                return
            if kind == "patch" and not steps:
                body = {"items": [{"name": "tea", "qty": 1}], "owner": "alice"}
                reply = session.post(f"{base}/api/orders/", json=body, timeout=30)
                steps = [(int(reply.json()["id"]), step) for step in FLOW]
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

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {"per_s": len(latencies) / elapsed, "latencies": latencies, "errors": errors[0]}


def load(target: OrdersTarget, kind: str, seconds: float, rate: float | None) -> dict[str, Any]:
    command = [sys.executable, "-m", "loadtests.bench.write", "--drive", kind]
    command += ["--url", target.server.http, "--token", target.tokens["all"]]
    command += ["--seconds", str(seconds), "--rate", str(rate or 0)]
    result = subprocess.run(command, capture_output=True, check=True, timeout=seconds + 120)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


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
                f"{percentile(lat, 0.5):.1f} / {percentile(lat, 0.99):.1f} | {patch['errors']} |"
            )
    finally:
        await quiet.close()
        await close_all(sockets)
    return rows


def postgres_database(admin_url: str) -> tuple[str, str]:
    """A fresh database on admin_url's server: (its URL, its name)."""
    name = f"bench_write_{uuid.uuid4().hex[:8]}"
    postgres_admin(f'CREATE DATABASE "{name}"', admin_url)
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


async def run(args: argparse.Namespace) -> None:
    databases = ["sqlite"] + (["postgres"] if args.postgres_url else [])
    with tempfile.TemporaryDirectory(prefix="bench-write-", dir=TMPFS) as tmp:
        for database in databases:
            url, name = "", ""
            if database == "postgres":
                url, name = await asyncio.to_thread(postgres_database, args.postgres_url)
            target = OrdersTarget(Path(tmp) / database, database_url=url)
            await asyncio.to_thread((Path(tmp) / database).mkdir)
            await asyncio.to_thread(target.start)
            try:
                print(f"\nwrite: {database}, {THREADS} threads, {args.seconds:g} s per figure\n")
                print(
                    "| subscribers | offered | floor req/s | PATCH/s | PATCH ÷ floor "
                    "| floor p50 / p99 ms | PATCH p50 / p99 ms | PATCH errors |"
                )
                print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
                for subscribers in sorted({0, args.subscribers}):
                    for row in await measure(target, subscribers, args):
                        print(row, flush=True)
            finally:
                await asyncio.to_thread(target.stop)
                if name:
                    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
                    await asyncio.to_thread(postgres_admin, drop, args.postgres_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=5000, help="idle connections open")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="the fixed offered rate")
    parser.add_argument("--postgres-url", default="", help="a server to create a database on")
    parser.add_argument("--drive", choices=("floor", "patch"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        rate = args.rate or None
        print(json.dumps(drive(args.url, args.token, args.drive, args.seconds, rate)))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
