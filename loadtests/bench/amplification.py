"""`python -m loadtests.bench.amplification`: other users' update latency
while one customer resumes many connections from seq 0 over a long history,
with fair replay turns (WEBSOCKET_MAX_REPLAYS_PER_USER=2, the default) and
without them (1000), each beside the same server's latency with no attack,
measured in one run (docs/benchmarks.md). With `--postgres-url`, on a fresh
PostgreSQL database of that server instead of SQLite.

    .venv/bin/python -m loadtests.bench.amplification --events 20000 --connections 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from loadtests.bench.__main__ import TMPFS, Readers
from loadtests.bench.targets import OPEN, OrdersTarget, database
from realtime.observability.summary import percentile

# Runs with the server's settings before it starts: bob's long history.
SEED = """
import os
import sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from realtime.events.models import Event
from realtime.orders.models import Order
call_command("migrate", interactive=False, verbosity=0)
bob, _ = get_user_model().objects.get_or_create(username="bob")
count = int(sys.argv[1])
for start in range(0, count, 1000):
    orders = Order.objects.bulk_create(
        Order(owner=bob, items=[{"name": "tea", "qty": 1}]) for _ in range(min(1000, count - start))
    )
    Event.objects.bulk_create(
        Event(subject=o.pk, owner=bob.pk, version=1, payload=o.as_dict()) for o in orders
    )
"""


async def resume_forever(target: OrdersTarget, replayed: list[int], stop: asyncio.Event) -> None:
    """One attacking connection: resume bob from seq 0, read it all, again."""
    for _ in range(1_000_000):
        if stop.is_set():
            return
        url = f"{target.server.ws}?token={target.tokens['bob']}&since=0"
        try:
            async with connect(url, **OPEN) as ws:
                async for text in ws:
                    await target.on_message(ws, str(text))
                    kind = json.loads(text)["type"]
                    if kind == "order.update":
                        replayed[0] += 1
                    if kind in ("resumed", "resync_required") or stop.is_set():
                        break
        except (ConnectionClosed, OSError):
            await asyncio.sleep(0.1)


async def victim_latency(
    target: OrdersTarget, rate: float, seconds: float
) -> tuple[list[float], list[float]]:
    """Each update's latency from when it was due, and from its publication."""
    watcher = await target.connect("alice")
    readers = Readers(target)
    readers.add(watcher)
    count = int(rate * seconds)
    await target.publish(count, "alice", rate=rate)
    await readers.wait_for(count, idle=10)
    await readers.close()
    await watcher.close()
    return readers.latencies, readers.delivery


async def measure(per_user: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    await asyncio.to_thread(workdir.mkdir, parents=True)
    with database(args.postgres_url, "bench_amplification") as url:
        return await measure_on(url, per_user, args, workdir)


async def measure_on(
    database_url: str, per_user: int, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    target = OrdersTarget(
        workdir,
        heartbeat=25.0,
        settings={"WEBSOCKET_MAX_REPLAYS_PER_USER": str(per_user)},
        database_url=database_url,
    )
    try:
        seed = [sys.executable, "-c", SEED, str(args.events)]
        await asyncio.to_thread(subprocess.run, seed, env=target.server.env, check=True)
        await asyncio.to_thread(target.start)
        quiet, _ = await victim_latency(target, args.rate, args.seconds)
        stop, replayed = asyncio.Event(), [0]
        attackers = [
            asyncio.create_task(resume_forever(target, replayed, stop))
            for _ in range(args.connections)
        ]
        await asyncio.sleep(1)
        started = time.monotonic()
        attacked, published = await victim_latency(target, args.rate, args.seconds)
        elapsed = time.monotonic() - started
        stop.set()
        for task in attackers:
            task.cancel()
        await asyncio.gather(*attackers, return_exceptions=True)
    finally:
        await asyncio.to_thread(target.stop)
    expected = int(args.rate * args.seconds)
    return {
        "p95 ms, no attack": percentile(quiet, 0.95),
        "p95 ms, under attack": percentile(attacked, 0.95),
        "ratio": percentile(attacked, 0.95) / max(1e-9, percentile(quiet, 0.95)),
        "publish -> client p95 ms, under attack": percentile(published, 0.95),
        "attacker events/s": replayed[0] / elapsed,
        "lost": 2 * expected - len(quiet) - len(attacked),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000, help="the attacker's history")
    parser.add_argument("--connections", type=int, default=20, help="attacking connections")
    parser.add_argument("--rate", type=float, default=20, help="victim updates per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--postgres-url", default="", help="a PostgreSQL server's admin URL")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-", dir=TMPFS) as tmp:
        for label, per_user in (("fair turns (2 per user)", 2), ("no turns (1000)", 1000)):
            rows[label] = await measure(per_user, args, Path(tmp) / str(per_user))
    database = "PostgreSQL" if args.postgres_url else "SQLite"
    print(
        f"\namplification ({database}): {args.connections} connections resuming "
        f"{args.events} events from seq 0, "
        f"victim at {args.rate:g} updates/s for {args.seconds:g} s\n"
    )
    labels = list(rows)
    print(f"| metric | {' | '.join(labels)} |")
    print("| --- |" + " ---: |" * len(labels))
    for metric in rows[labels[0]]:
        print(f"| {metric} | {' | '.join(f'{rows[k][metric]:,.2f}' for k in labels)} |")


if __name__ == "__main__":
    asyncio.run(main())
