"""Server memory with one reader that stops reading at the TCP level versus
none, while updates stream, each on a fresh server in the same run; and the
lag at which flow control closed the stalled reader with 4409.

    .venv/bin/python -m loadtests.flow_memory [--orders 160] [--item-bytes 50000] [--max-lag 100]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
from pathlib import Path

from realtime.client import OrdersClient
from realtime.testing.processes import HOST, Daphne, free_port, server_env, start_redis
from realtime.testing.watchers import stalled_reader
from realtime.testing.writers import write_sampling_rss


async def run(args: argparse.Namespace, redis_url: str, stalled: bool) -> tuple[float, str]:
    """Peak RSS growth of the server during the stream (MiB) and the 4409 lag, if any."""
    tmp = Path(tempfile.mkdtemp(prefix="flow-memory-"))
    extra = {"WEBSOCKET_MAX_LAG": str(args.max_lag), "WEBSOCKET_HEARTBEAT_TIMEOUT": "120"}
    env = server_env(
        database_url=f"sqlite:///{tmp / 'db.sqlite3'}",
        log_dir=tmp / "logs",
        redis_url=redis_url,
        extra=extra,
    )
    server = Daphne(free_port(), env, tmp / "logs")
    server.start()
    try:
        token = server.manage("token", "alice", "--create")
        healthy = OrdersClient(server.ws, token)
        healthy.start()
        for _ in range(100):
            if healthy.cursor is not None:
                break
            await asyncio.sleep(0.05)
        if stalled:
            await stalled_reader(HOST, server.port, f"{server.ws}?token={token}")
        assert server.process is not None
        growth = await write_sampling_rss(
            env,
            server.process.pid,
            "--orders",
            str(args.orders),
            "--owners",
            "alice",
            "--item-bytes",
            str(args.item_bytes),
        )
        await healthy.stop()
        log = (tmp / "logs" / "websocket.log").read_text()
        lag = re.search(r'slow consumer conn=\S+ why="(\w+ \d+)', log)
        return growth / 2**20, lag.group(1) if lag else "-"
    finally:
        server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=160, help="5 events each")
    parser.add_argument("--item-bytes", type=int, default=50_000, help="payload per event")
    parser.add_argument("--max-lag", type=int, default=100)
    args = parser.parse_args()
    redis = start_redis()
    try:
        none, _ = await run(args, redis.url, stalled=False)
        one, lag = await run(args, redis.url, stalled=True)
    finally:
        redis.stop()
    streamed = args.orders * 5 * args.item_bytes / 2**20
    print(
        f"{args.orders * 5} events of ~{args.item_bytes // 1000} KB ({streamed:.0f} MiB streamed), "
        f"WEBSOCKET_MAX_LAG={args.max_lag}:"
    )
    print("| readers | server RSS growth (MiB) | closed at |")
    print("| --- | ---: | --- |")
    print(f"| one healthy (baseline) | {none:.1f} | - |")
    print(f"| one healthy + one stalled | {one:.1f} | 4409 at {lag} |")
    print(f"| difference | {one - none:+.1f} | |")


if __name__ == "__main__":
    asyncio.run(main())
