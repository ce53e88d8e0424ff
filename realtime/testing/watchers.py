"""Clients of the project's client library whose every update and connection
change is recorded, for checking the guarantees afterwards."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from realtime.client import ClientStopped, OrdersClient, Resynced, State, StateChange, Update


@dataclass
class Watcher:
    client: OrdersClient
    updates: list[Update] = field(default_factory=list)
    changes: list[tuple[float, StateChange]] = field(default_factory=list)
    resyncs: list[Resynced] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    stopped: ClientStopped | None = None

    async def _record(self) -> None:
        try:
            async for item in self.client:
                if isinstance(item, Update):
                    self.updates.append(item)
                elif isinstance(item, Resynced):
                    self.resyncs.append(item)
                else:
                    self.changes.append((time.monotonic(), item))
        except ClientStopped as stopped:
            self.stopped = stopped

    def versions(self) -> dict[int, int]:
        return {oid: int(order["version"]) for oid, order in self.client.store.orders.items()}

    def holds(self, versions: dict[int, int]) -> bool:
        """The store holds `versions` and every update behind them is recorded:
        the store is a step ahead of `updates` until the recorder reads its queue."""
        return self.client.unread == 0 and self.versions() == versions

    def received(self) -> list[tuple[int, int, int]]:
        return [(u.seq, u.order["id"], u.order["version"]) for u in self.updates]

    def closes(self) -> list[int | None]:
        return [c.code for _, c in self.changes if c.state is State.RECONNECTING]

    def connected(self) -> int:
        return sum(1 for _, c in self.changes if c.state is State.CONNECTED)

    def is_connected(self) -> bool:
        return bool(self.changes) and self.changes[-1][1].state is State.CONNECTED

    def connected_after(self, moment: float) -> float | None:
        """When the client next connected after `moment` (monotonic), if it did."""
        return next(
            (t for t, c in self.changes if c.state is State.CONNECTED and t >= moment), None
        )

    def tried_after(self, moment: float) -> float | None:
        """When the attempt that connected the client after `moment` (monotonic)
        started: the end of the backoff sleep before it, or `moment` when the
        client was already trying then."""
        connected = self.connected_after(moment)
        if connected is None:
            return None
        woke = next(
            (
                t + (c.retry_in or 0.0)
                for t, c in reversed(self.changes)
                if c.state is State.RECONNECTING and t <= connected
            ),
            moment,
        )
        return max(woke, moment)

    def left_after(self, moment: float) -> float | None:
        """When the client next lost its connection after `moment` (monotonic), if it did."""
        return next(
            (t for t, c in self.changes if c.state is State.RECONNECTING and t >= moment), None
        )

    async def wait_connected(self, count: int = 1, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.connected() < count:
            if self.stopped is not None or time.monotonic() > deadline:
                raise TimeoutError(f"not connected {count} times: {self.changes}")
            await asyncio.sleep(0.02)

    async def wait_updates(self, count: int, timeout: float = 30) -> None:
        """Until `count` updates arrived or the timeout passed; the caller checks."""
        deadline = time.monotonic() + timeout
        while len(self.updates) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.client.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 5)


def watch(url: str, token: str, **options: Any) -> Watcher:
    """Start a recorded client (quick backoff unless told otherwise)."""
    options.setdefault("backoff_base", 0.1)
    options.setdefault("backoff_cap", 1.0)
    watcher = Watcher(OrdersClient(url, token, **options))
    watcher.task = asyncio.create_task(watcher._record())
    return watcher


async def stalled_reader(host: str, port: int, url: str) -> tuple[ClientConnection, dict[str, Any]]:
    """A connection that reads its welcome and then stops reading at the TCP
    level, with a small receive buffer so the kernel cannot hide the stall."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    ws = await connect(url, sock=sock, max_queue=1)
    welcome: dict[str, Any] = json.loads(await ws.recv())
    ws.transport.pause_reading()
    return ws, welcome


def stalled_stream(host: str, port: int, path: str, token: str) -> tuple[socket.socket, bytes]:
    """A `/sse/orders/` stream that reads its response head and welcome and
    then stops reading at the TCP level, with a small receive buffer; returns
    the socket and what it read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, port))
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    )
    sock.sendall(request.encode())
    read = b""
    for _ in range(100):
        if b"event: welcome" in read:
            break
        chunk = sock.recv(4096)
        if not chunk:
            break
        read += chunk
    return sock, read
