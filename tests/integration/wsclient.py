"""Small helpers for driving a real server from tests."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
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
        return error.code, json.loads(error.read() or b"{}")


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
