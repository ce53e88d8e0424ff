"""Replay throughput: how fast a resuming client receives history from the
database over `/ws/orders/?since=`, against the same history paged over
`GET /api/events/` from the same server in the same run (the baseline).

    .venv/bin/python -m loadtests.replay [--events 5000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from realtime.client import OrdersClient, Update
from realtime.testing.processes import Daphne, free_port, server_env

REPEATS = 3


def seed(env: dict[str, str], events: int) -> None:
    command = [sys.executable, "-m", "realtime.testing.writers", "--orders", str(events // 5)]
    command += ["--owners", "alice", "--item-bytes", "200"]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=1800)


def http_replay(server: Daphne, token: str) -> int:
    since, total = 0, 0
    for _ in range(100_000):
        request = urllib.request.Request(f"{server.http}/api/events/?since={since}&limit=500")
        request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        total += len(body["events"])
        if not body["more"]:
            return total
        since = body["events"][-1]["seq"]
    raise RuntimeError("too many pages")


async def ws_replay(server: Daphne, token: str, events: int) -> int:
    received = 0
    async with OrdersClient(server.ws, token, since=0) as client:
        async for item in client:
            if isinstance(item, Update):
                received += 1
                if received == events:
                    return received
    return received


async def timed_ws(server: Daphne, token: str, events: int) -> float:
    started = time.perf_counter()
    got = await asyncio.wait_for(ws_replay(server, token, events), 600)
    assert got == events
    return time.perf_counter() - started


def timed_http(server: Daphne, token: str, events: int) -> float:
    started = time.perf_counter()
    assert http_replay(server, token) == events
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000, help="a multiple of 5")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="replay-"))
    database_url = args.database_url or f"sqlite:///{tmp / 'db.sqlite3'}"
    env = server_env(database_url=database_url, log_dir=tmp / "logs")
    server = Daphne(free_port(), env, tmp / "logs")
    server.start()
    try:
        alice = server.manage("token", "alice", "--create")
        await asyncio.to_thread(seed, env, args.events)
        events = await asyncio.to_thread(http_replay, server, alice)
        ws_times, http_times = [], []
        for _ in range(REPEATS):
            http_times.append(await asyncio.to_thread(timed_http, server, alice, events))
            ws_times.append(await timed_ws(server, alice, events))
        ws_rate = events / statistics.median(ws_times)
        http_rate = events / statistics.median(http_times)
        print(f"replay of {events} events ({database_url.split(':')[0]}), median of {REPEATS}:")
        print("| path | events/s |")
        print("| --- | ---: |")
        print(f"| WebSocket resume (`?since=0`) | {ws_rate:,.0f} |")
        print(f"| HTTP `GET /api/events/` pages (baseline) | {http_rate:,.0f} |")
        print(f"| ratio | {ws_rate / http_rate:.2f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
