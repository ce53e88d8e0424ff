"""Small helpers for driving a real server from tests."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from realtime.client import ClientStopped, OrdersClient, State, StateChange, Update


async def open_ws(url: str, token: str | None = None, **query: object) -> ClientConnection:
    params = dict(query)
    if token is not None:
        params["token"] = token
    suffix = "&".join(f"{k}={v}" for k, v in params.items())
    return await connect(f"{url}?{suffix}" if suffix else url, open_timeout=10)


async def next_frame(
    ws: ClientConnection, kind: str, timeout: float = 5.0, answer_heartbeats: bool = True
) -> dict[str, Any]:
    """The next frame of `kind`, answering server heartbeats on the way."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {kind} frame within {timeout} s")
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        if frame["type"] == kind:
            return frame
        if frame["type"] == "heartbeat" and answer_heartbeats:
            await ws.send(json.dumps({"type": "heartbeat_ack", "ts": frame["ts"]}))


async def frames_for(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every non-heartbeat frame within `seconds`, answering heartbeats."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        except TimeoutError:
            break
        if frame["type"] == "heartbeat":
            await ws.send(json.dumps({"type": "heartbeat_ack", "ts": frame["ts"]}))
        else:
            frames.append(frame)
    return frames


async def close_code(ws: ClientConnection, timeout: float = 10.0) -> int | None:
    """Read until the server closes; the close code it sent."""
    deadline = time.monotonic() + timeout
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            await asyncio.wait_for(ws.recv(), remaining)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    raise TimeoutError(f"server did not close within {timeout} s")


def http(
    method: str, url: str, token: str | None = None, body: object = None
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw or b"{}")
        except ValueError:
            return error.code, {"not_json": raw[:200].decode(errors="replace")}


async def ahttp(
    method: str, url: str, token: str | None = None, body: object = None
) -> tuple[int, dict[str, Any]]:
    return await asyncio.to_thread(http, method, url, token, body)


def metric(base: str, name: str) -> float:
    """One sample from /metrics, summed over its labels."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class Watcher:
    """An OrdersClient whose updates and state changes are recorded by a task."""

    client: OrdersClient
    updates: list[Update] = field(default_factory=list)
    changes: list[StateChange] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    stopped: ClientStopped | None = None

    async def _record(self) -> None:
        try:
            async for item in self.client:
                if isinstance(item, Update):
                    self.updates.append(item)
                else:
                    self.changes.append(item)
        except ClientStopped as stopped:
            self.stopped = stopped

    def versions(self) -> dict[int, int]:
        return {oid: int(order["version"]) for oid, order in self.client.store.orders.items()}

    def closes(self) -> list[int | None]:
        return [c.code for c in self.changes if c.state is State.RECONNECTING]

    def connected(self) -> int:
        return sum(1 for c in self.changes if c.state is State.CONNECTED)

    async def wait_connected(self, count: int = 1, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.connected() < count:
            if self.stopped is not None or time.monotonic() > deadline:
                raise TimeoutError(f"not connected {count} times: {self.changes}")
            await asyncio.sleep(0.02)

    async def wait_updates(self, count: int, timeout: float = 30) -> None:
        """Until `count` updates arrived or the timeout passed; the caller asserts."""
        deadline = time.monotonic() + timeout
        while len(self.updates) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.client.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 5)


def watch(url: str, token: str, **options: Any) -> Watcher:
    options.setdefault("backoff_base", 0.1)
    options.setdefault("backoff_cap", 1.0)
    watcher = Watcher(OrdersClient(url, token, **options))
    watcher.task = asyncio.create_task(watcher._record())
    return watcher


def visible_versions(base: str, token: str) -> dict[int, int]:
    """Every order the token may see, with its version, from the HTTP API."""
    versions: dict[int, int] = {}
    after = 0
    for _ in range(1000):
        status, page = http("GET", f"{base}/api/orders/?limit=500&after_id={after}", token)
        assert status == 200, page
        assert isinstance(page, list)
        versions.update({int(o["id"]): int(o["version"]) for o in page})
        if len(page) < 500:
            return versions
        after = int(page[-1]["id"])
    raise AssertionError("too many pages")


def visible_events(base: str, token: str, since: int = 0) -> list[tuple[int, int, int]]:
    """(seq, order id, version) of every event the token may see after `since`."""
    events: list[tuple[int, int, int]] = []
    for _ in range(1000):
        status, body = http("GET", f"{base}/api/events/?since={since}&limit=500", token)
        assert status == 200, body
        page = body["events"]
        events.extend((e["seq"], e["order"]["id"], e["order"]["version"]) for e in page)
        if not body.get("more"):
            return events
        since = page[-1]["seq"]
    raise AssertionError("too many pages")
