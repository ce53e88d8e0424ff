"""`python -m loadtests.bench [fanout|storm|idle|steady ...] [options]`: each
benchmark runs on the order server and on the raw websockets baseline, one
after the other on this machine, and prints a table with their ratio.

    .venv/bin/python -m loadtests.bench                   # all four, default sizes
    .venv/bin/python -m loadtests.bench fanout --subscribers 1000 --changes 200
    .venv/bin/python -m loadtests.bench storm --clients 5000 [--jitter]
    .venv/bin/python -m loadtests.bench --redis           # the order server on channels-redis
    .venv/bin/python -m loadtests.bench fanout --sse      # WebSockets and Server-Sent Events
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psutil
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from loadtests.bench.targets import OrdersTarget, RawTarget, StreamTarget
from realtime.client.backoff import Backoff
from realtime.observability.summary import percentile
from realtime.testing.processes import start_redis

Target = OrdersTarget | StreamTarget | RawTarget
CONNECT_BATCH = 200
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
# On tmpfs the order server's SQLite commits cost no fsync: the benchmarks
# measure delivery, not this machine's disk.
TMPFS = "/dev/shm" if Path("/dev/shm").is_dir() else None


class HeartbeatClock:
    """One connection's longest wait for a heartbeat: from its start to the
    first, then between heartbeats (the tick must keep its schedule). As
    received, and by the server's own `ts` stamps: a client process busy with
    thousands of handshakes reads late, and only the second is the server's."""

    def __init__(self) -> None:
        self.last, self.last_ts = time.monotonic(), time.time()
        self.longest = self.longest_ts = 0.0

    def seen(self, text: str) -> None:
        if '"heartbeat"' in text:
            now = time.monotonic()
            self.longest, self.last = max(self.longest, now - self.last), now
            ts = float(json.loads(text)["ts"])
            self.longest_ts, self.last_ts = max(self.longest_ts, ts - self.last_ts), ts

    def gaps(self) -> tuple[float, float]:
        """The longest gaps so far, counting the wait since the last heartbeat."""
        return (
            max(self.longest, time.monotonic() - self.last),
            max(self.longest_ts, time.time() - self.last_ts),
        )


def gap_figures(gaps: list[tuple[float, float]]) -> dict[str, float]:
    nan = float("nan")
    return {
        "longest heartbeat gap s": max((g for g, _ in gaps), default=nan),
        "longest gap by the server's stamps s": max((g for _, g in gaps), default=nan),
    }


class Readers:
    """One reader task per connection, recording each update's latency."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.latencies: list[float] = []
        # From publication (after the order server's commit) to receipt.
        self.delivery: list[float] = []
        self.last = 0.0
        self.tasks: list[asyncio.Task[None]] = []
        self.gaps: list[tuple[float, float]] = []

    def add(self, ws: ClientConnection, record: bool = True) -> None:
        self.tasks.append(asyncio.create_task(self._read(ws, record)))

    async def _read(self, ws: ClientConnection, record: bool) -> None:
        clock = HeartbeatClock()
        try:
            async for text in ws:
                clock.seen(str(text))
                stamps = await self.target.on_message(ws, str(text))
                if stamps is not None and record:
                    now = time.time()
                    self.latencies.append((now - stamps.due) * 1000)
                    self.delivery.append((now - stamps.published) * 1000)
                    self.last = now
        except ConnectionClosed:
            pass
        finally:
            if not isinstance(self.target, RawTarget):
                self.gaps.append(clock.gaps())

    async def wait_for(self, count: int, idle: float = 15.0) -> None:
        await wait_for_count(lambda: len(self.latencies), count, idle)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def wait_for_count(count: Callable[[], int], expected: int, idle: float = 15.0) -> None:
    """Until `count()` reaches `expected`, or stops growing for `idle` seconds."""
    quiet_since, seen = time.monotonic(), -1
    while count() < expected and time.monotonic() - quiet_since < idle:
        if count() != seen:
            seen, quiet_since = count(), time.monotonic()
        await asyncio.sleep(0.05)


async def open_many(target: Target, topic: str, count: int) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    for start in range(0, count, CONNECT_BATCH):
        batch = min(CONNECT_BATCH, count - start)
        sockets += await asyncio.gather(*(target.connect(topic) for _ in range(batch)))
    return sockets


async def close_all(sockets: Iterable[ClientConnection]) -> None:
    for ws in sockets:
        ws.transport.abort()


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


# 1. Fan-out


async def fanout(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    sockets = await open_many(target, "all", args.subscribers)
    readers = Readers(target)
    for ws in sockets:
        readers.add(ws)
    await asyncio.sleep(1)
    expected = args.subscribers * args.changes
    process = psutil.Process(target.pid)
    cpu_before = sum(process.cpu_times()[:2])
    started = time.time()
    await target.publish(args.changes, "all")
    await readers.wait_for(expected)
    elapsed = max(1e-9, readers.last - started)
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    await readers.close()
    await close_all(sockets)
    got = len(readers.latencies)
    return {
        "deliveries/s": got / elapsed,
        "server CPU µs per delivery": cpu / max(1, got) * 1e6,
        "p50 ms": percentile(readers.latencies, 0.5),
        "p95 ms": percentile(readers.latencies, 0.95),
        "p99 ms": percentile(readers.latencies, 0.99),
        "lost": expected - got,
        **gap_figures(readers.gaps),
    }


# 2. Reconnect storm


async def storm(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """Every client connects at once (or after the Python client's first
    reconnect delay, with --jitter) while `storm_updates` updates are written;
    each asks to resume from the cursor before the storm, so every client
    should end up with every update."""
    since = await target.head()
    started = time.monotonic()
    done: list[float] = []
    got: list[set[float]] = []
    readers: list[asyncio.Task[None]] = []
    gaps: list[tuple[float, float]] = []
    closed_by_server: list[int] = []

    async def read(ws: ClientConnection, seen: set[float]) -> None:
        clock = HeartbeatClock()
        try:
            async for text in ws:
                clock.seen(str(text))
                stamps = await target.on_message(ws, str(text))
                if stamps is not None:
                    seen.add(stamps.due)
        except ConnectionClosed:
            closed_by_server.append(1)
        finally:
            # The raw server's keepalive is a protocol ping, which no reader sees.
            if not isinstance(target, RawTarget):
                gaps.append(clock.gaps())

    async def one(index: int) -> ClientConnection:
        if args.jitter:
            # A dropped client's first reconnect: QUICK, attempt 0 (realtime.client).
            await asyncio.sleep(Backoff(rng=random.Random(index)).next_delay())
        ws = await target.connect("bob", since=since)
        done.append(time.monotonic() - started)
        seen: set[float] = set()
        got.append(seen)
        readers.append(asyncio.create_task(read(ws, seen)))
        return ws

    process = psutil.Process(target.pid)
    cpu_before = sum(process.cpu_times()[:2])
    writer = asyncio.create_task(target.publish(args.storm_updates, "bob", rate=args.storm_rate))
    clients = (one(i) for i in range(args.clients))
    results = await asyncio.gather(*clients, return_exceptions=True)
    # Until the last welcome: the server's work for the storm, heartbeats included.
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    await writer
    sockets = [r for r in results if not isinstance(r, BaseException)]
    failures = len(results) - len(sockets)
    last = max(done) if done else float("nan")
    expected = len(sockets) * args.storm_updates
    await wait_for_count(lambda: sum(len(seen) for seen in got), expected)
    # Two heartbeat intervals more, so that every connection had one due.
    await asyncio.sleep(2 * args.heartbeat)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await close_all(sockets)
    return {
        "connections/s": len(sockets) / last if done else 0.0,
        "failures": failures,
        "server CPU ms per connection": cpu / max(1, len(sockets)) * 1000,
        "time to last s": last,
        "updates lost": expected - sum(len(seen) for seen in got),
        **gap_figures(gaps),
        "closed by the server": len(closed_by_server),
    }


# 3. Idle capacity


async def idle(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    before = rss(target.pid)
    sockets = await open_many(target, "bob", args.idle)
    readers = Readers(target)
    for ws in sockets:
        readers.add(ws, record=False)
    await asyncio.sleep(3)
    after = rss(target.pid)
    process = psutil.Process(target.pid)
    cpu_before = sum(process.cpu_times()[:2])
    await asyncio.sleep(args.idle_seconds)
    cpu = (sum(process.cpu_times()[:2]) - cpu_before) / args.idle_seconds
    await readers.close()
    await close_all(sockets)
    return {"KB/connection": (after - before) / 1024 / args.idle, "CPU % of a core": cpu * 100}


# 4. Steady state


async def steady(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    sockets = await open_many(target, "bob", args.steady_idle)
    quiet = Readers(target)
    for ws in sockets:
        quiet.add(ws, record=False)
    watcher = await target.connect("alice")
    readers = Readers(target)
    readers.add(watcher)
    await asyncio.sleep(1)
    count = int(args.rate * args.steady_seconds)
    started = time.time()
    await target.publish(count, "alice", rate=args.rate)
    await readers.wait_for(count, idle=5)
    elapsed = max(1e-9, readers.last - started)
    await readers.close()
    await quiet.close()
    await close_all([*sockets, watcher])
    return {
        "updates/s delivered": len(readers.latencies) / elapsed,
        "p50 ms": percentile(readers.latencies, 0.5),
        "p95 ms": percentile(readers.latencies, 0.95),
        "p99 ms": percentile(readers.latencies, 0.99),
        "publish -> client p50 ms": percentile(readers.delivery, 0.5),
        "publish -> client p99 ms": percentile(readers.delivery, 0.99),
        "lost": count - len(readers.latencies),
    }


BENCHMARKS: dict[str, tuple[str, Callable[[Target, argparse.Namespace], Any]]] = {
    "fanout": ("subscribers {subscribers} (staff, scope all) x {changes} changes", fanout),
    "storm": ("{clients} clients connecting {storm_timing}, {storm_updates} updates", storm),
    "idle": ("{idle} idle connections, heartbeat every {heartbeat:g} s, {idle_seconds:g} s", idle),
    "steady": ("{rate:g} updates/s to one client, {steady_idle} idle connections open", steady),
}


async def run(name: str, args: argparse.Namespace, workdir: Path, redis_url: str) -> None:
    title, bench = BENCHMARKS[name]
    rows: dict[str, dict[str, Any]] = {}
    kinds: list[type[OrdersTarget]] = [OrdersTarget, StreamTarget] if args.sse else [OrdersTarget]
    targets: list[Target] = [
        kind(
            workdir / f"{name}-{kind.__name__}",
            args.heartbeat,
            redis_url,
            args.database_url,
            args.orm,
        )
        for kind in kinds
    ]
    targets.append(RawTarget(workdir / f"{name}-raw", args.heartbeat))
    for target in targets:
        if isinstance(target, OrdersTarget):
            target.server.log_dir.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(target.start)
        profile = None
        if args.flamegraphs:
            profile = FlameGraph(target.pid, args.flamegraphs / f"{name}-{server(target)}.svg")
        try:
            rows[target.name] = await bench(target, args)
        finally:
            if profile is not None:
                profile.stop()
            await asyncio.to_thread(target.stop)
    layer = "channels-redis" if redis_url else "in-memory layer"
    heading = f"{name}: {title.format(**vars(args))} ({layer})"
    result = table(rows, RawTarget.name, StreamTarget.name, OrdersTarget.name)
    print(f"\n{heading}\n\n{result}")
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as out:
            out.write(f"\n### {heading}\n\n{result}\n")


def server(target: Target) -> str:
    """The name of a target's flame graph: the baseline's beside each
    transport's, so both show where the same benchmark's time goes."""
    if isinstance(target, RawTarget):
        return "raw"
    return "sse" if isinstance(target, StreamTarget) else "websocket"


class FlameGraph:
    """py-spy sampling a server for as long as a benchmark runs, written as an SVG."""

    def __init__(self, pid: int, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.process = subprocess.Popen(
            [
                PY_SPY,
                "record",
                "--pid",
                str(pid),
                "--output",
                str(path),
                "--rate",
                "200",
                "--nonblocking",
                "--format",
                "flamegraph",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if not self.path.exists():
            print(f"py-spy wrote no {self.path}: {err.decode(errors='replace')[-500:]}")


def table(rows: dict[str, dict[str, Any]], raw: str, sse: str, websocket: str) -> str:
    """One column per server, each order server's ratio to raw, and SSE's to WebSocket."""
    names = [n for n in rows if n != raw] + [raw]
    ours = [n for n in rows if n != raw]
    head = ["metric", *names, *(f"{n} ÷ raw" for n in ours)]
    if sse in rows:
        head.append("sse ÷ websocket")
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for metric in rows[names[0]]:
        cells = [metric, *(f"{rows[n][metric]:,.1f}" for n in names)]
        cells += [ratio(rows[n][metric], rows[raw][metric]) for n in ours]
        if sse in rows:
            cells.append(ratio(rows[sse][metric], rows[websocket][metric]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio(a: object, b: object) -> str:
    return (
        f"{a / b:.2f}" if isinstance(a, float | int) and isinstance(b, float | int) and b else "-"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("benchmarks", nargs="*", help=f"any of {', '.join(BENCHMARKS)} (all)")
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--jitter", action="store_true", help="storm: client's reconnect jitter")
    parser.add_argument("--storm-updates", type=int, default=40, help="storm: updates written")
    parser.add_argument("--storm-rate", type=float, default=20, help="storm: updates per second")
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--heartbeat", type=float, default=5, help="server heartbeat interval")
    parser.add_argument("--rate", type=float, default=20, help="updates per second")
    parser.add_argument("--steady-idle", type=int, default=2000)
    parser.add_argument("--steady-seconds", type=float, default=10)
    parser.add_argument("--redis", action="store_true", help="run the order server on Redis")
    parser.add_argument(
        "--sse", action="store_true", help="also read the order server over Server-Sent Events"
    )
    parser.add_argument(
        "--database-url", default="", help="an empty database for the order server (SQLite)"
    )
    parser.add_argument(
        "--orm",
        action="store_true",
        help="write with the ORM in a process of its own, through Redis (needs --redis)",
    )
    parser.add_argument(
        "--markdown", type=Path, default=None, help="also append each table to this file"
    )
    parser.add_argument(
        "--flamegraphs",
        type=Path,
        default=None,
        help="write a py-spy flame graph (SVG) of each server per benchmark here",
    )
    args = parser.parse_args()
    args.storm_timing = "with the client's jitter" if args.jitter else "at once"
    unknown = set(args.benchmarks) - set(BENCHMARKS)
    if args.orm and not args.redis:
        parser.error("--orm needs --redis: the writer reaches the server through Redis")
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as out:
            out.write(
                f"\n## {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores\n\n"
                f"`python -m loadtests.bench {' '.join(sys.argv[1:])}`\n"
            )
    redis = start_redis() if args.redis else None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-", dir=TMPFS) as tmp:
            for name in args.benchmarks or BENCHMARKS:
                await run(name, args, Path(tmp), redis.url if redis else "")
    finally:
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    asyncio.run(main())
