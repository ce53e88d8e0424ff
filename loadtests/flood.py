"""What one flooding client costs everyone else: update-to-client latency of
the watchers before and during a flood from `realtime.testing.flooder` (frames as fast as
the socket takes them, reconnecting on every 4429), on one server in one run,
so "before" is the baseline.

    .venv/bin/python -m loadtests.flood [--watchers 10] [--updates 300] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from realtime.observability.summary import percentile
from realtime.testing.api import new_order
from realtime.testing.processes import Daphne, free_port, server_env
from realtime.testing.watchers import Watcher, watch


async def phase(
    server: Daphne, token: str, watchers: list[Watcher], args: argparse.Namespace
) -> list[float]:
    """Latencies (ms) of `args.updates` new orders, created at `args.rate` per second."""
    marks = [len(w.updates) for w in watchers]
    started = time.monotonic()
    for n in range(args.updates):
        await asyncio.sleep(max(0.0, started + n / args.rate - time.monotonic()))
        await asyncio.to_thread(new_order, server.http, token)
    for watcher, mark in zip(watchers, marks, strict=True):
        await watcher.wait_updates(mark + args.updates, timeout=30)
    return [
        (u.received_at - u.published_at) * 1000
        for watcher, mark in zip(watchers, marks, strict=True)
        for u in watcher.updates[mark:]
    ]


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="flood-"))
    env = server_env(database_url=f"sqlite:///{tmp / 'db.sqlite3'}", log_dir=tmp / "logs")
    with Daphne(free_port(), env, tmp / "logs") as server:
        token = server.manage("token", "alice", "--create")
        mallory = server.manage("token", "mallory", "--create")
        watchers = [watch(server.ws, token) for _ in range(args.watchers)]
        for watcher in watchers:
            await watcher.wait_connected()
        before = await phase(server, token, watchers, args)
        seconds = str(args.updates / args.rate + 2)
        flooder = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "realtime.testing.flooder", "--seconds", seconds],
            *["--url", server.ws, "--token", mallory],
            stdout=asyncio.subprocess.PIPE,
        )
        # The flood has begun once the server has refused it at least once.
        await asyncio.to_thread(server.wait_for_log, r"user=mallory code=4429")
        during = await phase(server, token, watchers, args)
        out, _ = await asyncio.wait_for(flooder.communicate(), 60)
        flood = json.loads(out)
        lost = sum(2 * args.updates - len(w.updates) for w in watchers)
        for watcher in watchers:
            await watcher.stop()

    print(
        f"\n{args.watchers} watchers, {args.updates} updates at {args.rate:g}/s per phase; "
        f"flood: {flood['sent']:,} frames over {flood['connections']} connections, "
        f"closes {flood['closes']}, lost {lost}\n"
    )
    print("| update -> client | before the flood (baseline) | during | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name, share in (("p50 ms", 0.5), ("p95 ms", 0.95), ("p99 ms", 0.99)):
        b, d = percentile(before, share), percentile(during, share)
        print(f"| {name} | {b:.1f} | {d:.1f} | {d / b:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.flood", description=__doc__)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
