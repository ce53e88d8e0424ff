"""The baseline: a minimal raw `websockets` broadcast server, no framework.

Clients connect to /<topic>; a client sending `publish <topic> <payload>`
makes the server send <payload> to every connection of that topic, encoded
once, with `websockets.broadcast`.

    python -m loadtests.bench.raw_server --port 8765
"""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

topics: dict[str, set[ServerConnection]] = {}


async def handler(ws: ServerConnection) -> None:
    topic = ws.request.path.strip("/") if ws.request else ""
    members = topics.setdefault(topic, set())
    members.add(ws)
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("publish "):
                _, target, payload = message.split(" ", 2)
                broadcast(topics.get(target, set()), payload)
    except ConnectionClosed:
        # The benchmark aborts its sockets: a client leaving is not an error.
        pass
    finally:
        members.discard(ws)


async def main(host: str, port: int, ping_interval: float) -> None:
    # No permessage-deflate, which websockets accepts by default and the order
    # server refuses: with it, every connection held two zlib streams (32 KB
    # of its 48) and every broadcast was compressed once per connection, so the
    # baseline measured compression, not a server (docs/benchmarks.md).
    async with serve(
        handler,
        host,
        port,
        compression=None,
        max_queue=64,
        backlog=4096,
        ping_interval=ping_interval,
    ):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--ping-interval", type=float, default=20.0, help="keepalive pings")
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port, args.ping_interval))
