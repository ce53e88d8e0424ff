"""Raw WebSocket helpers for driving a real server from tests; the HTTP
helpers and recorded clients live in `realtime.testing.api` and `realtime.testing.watchers`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


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


async def frames_until_closed(ws: ClientConnection, timeout: float = 10) -> list[dict[str, Any]]:
    """Every frame until the server closes, answering heartbeats."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            frame = json.loads(await asyncio.wait_for(ws.recv(), remaining))
            if frame["type"] == "heartbeat":
                await ws.send(json.dumps({"type": "heartbeat_ack", "ts": frame["ts"]}))
            frames.append(frame)
    except ConnectionClosed:
        return frames
    raise TimeoutError(f"server did not close within {timeout} s")


async def close_code(ws: ClientConnection, timeout: float = 10.0) -> int | None:
    """Read until the server closes; the close code it sent."""
    deadline = time.monotonic() + timeout
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            await asyncio.wait_for(ws.recv(), remaining)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    raise TimeoutError(f"server did not close within {timeout} s")
