"""`python -m loadtests.bench.amplification`: other users' update latency
while one customer resumes many connections from seq 0 over a long history,
with fair replay turns (WEBSOCKET_MAX_REPLAYS_PER_USER=2, the default) and
without them (1000), each beside the same server's latency with no attack,
and with the same attack on another server process sharing its database
(what the machine, not the victim's server, costs the victim), measured in
one run (docs/benchmarks.md). The attack runs in a process of its own
(loadtests/bench/attacker.py). With `--postgres-url`, on a fresh
PostgreSQL database of that server instead of SQLite.

    .venv/bin/python -m loadtests.bench.amplification --events 20000 --connections 20
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from loadtests.bench.__main__ import TMPFS, Readers
from loadtests.bench.attacker import READY
from loadtests.bench.targets import OrdersTarget, database
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


async def under_attack(
    attacked: OrdersTarget, victim: OrdersTarget, args: argparse.Namespace
) -> tuple[list[float], list[float], float]:
    """The victim's latencies on `victim` while `args.connections` connections
    replay bob's history from `attacked`, and the attackers' events/s. The
    attack runs in a process of its own (loadtests/bench/attacker.py), as an
    attacker's phone would: this process then reads only the victim's frames."""
    url = f"{attacked.server.ws}?token={attacked.tokens['bob']}&since=0"
    command = [sys.executable, "-m", "loadtests.bench.attacker", "--url", url]
    command += ["--connections", str(args.connections)]
    attack = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
    assert attack.stdout is not None
    try:
        ready = await asyncio.wait_for(attack.stdout.readline(), timeout=60)
        if ready.decode().strip() != READY:
            raise RuntimeError(f"the attacker did not start: {ready!r}")
        await asyncio.sleep(1)
        latencies, published = await victim_latency(victim, args.rate, args.seconds)
    finally:
        if attack.returncode is None:
            attack.terminate()
        out, _ = await asyncio.wait_for(attack.communicate(), timeout=60)
    if attack.returncode != 0:
        raise RuntimeError(f"the attacker exited with {attack.returncode}")
    return latencies, published, float(out.decode().strip() or 0)


async def measure_on(
    database_url: str, per_user: int, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    # Two servers on one database: the victim's, and another that takes the
    # same attack in the control phase. What the victim loses then is this
    # machine's (its two cores shared with the attack, the database server and
    # the benchmark), not its server's.
    database_url = database_url or f"sqlite:///{workdir / 'db.sqlite3'}"
    here, elsewhere = (
        OrdersTarget(
            directory,
            heartbeat=25.0,
            settings={"WEBSOCKET_MAX_REPLAYS_PER_USER": str(per_user)},
            database_url=database_url,
        )
        for directory in (workdir / "victim", workdir / "elsewhere")
    )
    try:
        seed = [sys.executable, "-c", SEED, str(args.events)]
        await asyncio.to_thread(subprocess.run, seed, env=here.server.env, check=True)
        await asyncio.to_thread(here.start)
        await asyncio.to_thread(elsewhere.start)
        quiet, _ = await victim_latency(here, args.rate, args.seconds)
        attacked, published, rate = await under_attack(here, here, args)
        control, _, _ = await under_attack(elsewhere, here, args)
    finally:
        await asyncio.to_thread(here.stop)
        await asyncio.to_thread(elsewhere.stop)
    expected = int(args.rate * args.seconds)
    calm, hit, beside = (percentile(got, 0.95) for got in (quiet, attacked, control))
    return {
        "p95 ms, no attack": calm,
        "p95 ms, under attack": hit,
        "ratio": hit / max(1e-9, calm),
        "p95 ms, the attack on another server": beside,
        "machine's share (another server ÷ no attack)": beside / max(1e-9, calm),
        "server's share (under attack ÷ another server)": hit / max(1e-9, beside),
        "publish -> client p95 ms, under attack": percentile(published, 0.95),
        "attacker events/s": rate,
        "lost": 3 * expected - len(quiet) - len(attacked) - len(control),
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
