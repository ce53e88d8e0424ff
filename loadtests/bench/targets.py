"""The two servers a benchmark drives the same way: the order server (daphne,
started like production with `realtime serve`) and the raw baseline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from websockets.asyncio.client import ClientConnection, connect

from realtime.client.streaming import StreamEnded
from realtime.testing.postgres import fresh_database
from realtime.testing.processes import (
    HOST,
    Daphne,
    free_port,
    port_open,
    server_env,
    stop_process,
    wait_until,
)


class Stamps(NamedTuple):
    """When an update was due at the writer, and when it was published: for
    the order server, after its database commit; for the raw server, the same."""

    due: float
    published: float


# WEBSOCKET_MAX_LAG (1000) / 4.
ACK_EVERY = 250
OPEN = {"open_timeout": 60, "max_queue": None, "ping_interval": None}


@contextlib.contextmanager
def database(postgres_url: str, prefix: str) -> Iterator[str]:
    """A server's DATABASE_URL: a fresh database on the PostgreSQL server
    `postgres_url` names, dropped afterwards, or "" (the target's own SQLite
    file) when it names none."""
    if not postgres_url:
        yield ""
        return
    with fresh_database(prefix, postgres_url) as url:
        yield url


class Answers:
    """What a benchmark's client of the order server owes it: each heartbeat
    answered, and an ack every ACK_EVERY updates, as the protocol asks
    (docs/protocol.md)."""

    def __init__(self) -> None:
        self.unacked: dict[ClientConnection, int] = {}

    async def __call__(self, ws: ClientConnection, text: str) -> dict[str, Any]:
        """The frame `text` holds, once answered."""
        frame: dict[str, Any] = json.loads(text)
        if frame["type"] == "heartbeat":
            await ws.send(json.dumps({"type": "heartbeat_ack", "ts": frame["ts"]}))
        elif frame["type"] == "order.update":
            unacked = self.unacked.get(ws, 0) + 1
            self.unacked[ws] = unacked
            if unacked >= ACK_EVERY:
                self.unacked[ws] = 0
                await ws.send(json.dumps({"type": "heartbeat_ack", "cursor": frame["seq"]}))
        return frame

    def forget(self, ws: ClientConnection) -> None:
        """A closed connection's count goes: a client that reconnects again and
        again would otherwise keep one per connection it ever had."""
        self.unacked.pop(ws, None)


class OrdersTarget:
    """Topics are `all` (staff), or a customer's name (their `mine` scope)."""

    name = "orders server (websocket)"

    def __init__(
        self,
        workdir: Path,
        heartbeat: float = 25.0,
        redis_url: str = "",
        database_url: str = "",
        orm: bool = False,
        settings: dict[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        if orm and not redis_url:
            raise ValueError("an ORM writer reaches the server only through Redis")
        self.orm = orm
        extra = {
            "WEBSOCKET_HEARTBEAT_INTERVAL": str(heartbeat),
            "WEBSOCKET_HEARTBEAT_TIMEOUT": str(max(60.0, heartbeat * 3)),
            "WEBSOCKET_MAX_CONNECTIONS": "1000000",
            "WEBSOCKET_MAX_CONNECTIONS_PER_USER": "1000000",
            **(settings or {}),
        }
        env = server_env(
            database_url=database_url or f"sqlite:///{workdir / 'db.sqlite3'}",
            log_dir=workdir / "logs",
            redis_url=redis_url,
            extra=extra,
        )
        self.server = Daphne(free_port(), env, workdir / "logs", workers=workers)
        self.tokens: dict[str, str] = {}
        self.answers = Answers()

    @property
    def pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    def start(self) -> None:
        self.server.start()
        for user in ("alice", "bob"):
            self.tokens[user] = self.server.manage("token", user, "--create")
        self.tokens["all"] = self.server.manage("token", "staff", "--create", "--staff")

    def stop(self) -> None:
        self.server.stop()

    async def head(self) -> int:
        """The newest seq, from a `welcome`."""
        async with connect(f"{self.server.ws}?token={self.tokens['all']}", **OPEN) as ws:
            return int(json.loads(await ws.recv())["cursor"])

    async def connect(self, topic: str, since: int | None = None) -> ClientConnection:
        url = f"{self.server.ws}?token={self.tokens[topic]}"
        if since is not None:
            url += f"&since={since}"
        ws = await connect(url, **OPEN)
        await ws.recv()
        if topic == "all":
            await ws.send(json.dumps({"type": "subscribe", "scope": "all"}))
        return ws

    async def on_message(self, ws: ClientConnection, text: str) -> Stamps | None:
        """An update's stamps, or None; answers heartbeats."""
        frame = await self.answers(ws, text)
        if frame["type"] != "order.update":
            return None
        client_ts = (frame.get("meta") or {}).get("client_ts")
        if client_ts is None:
            return None
        return Stamps(float(client_ts), float(frame["published_at"]))

    async def publish(self, count: int, topic: str, rate: float | None = None) -> None:
        """`count` order changes as fast as the writers go or at `rate`/s, from
        a process of their own: writer threads sharing the readers' GIL would
        pace the fan-out by the benchmark's own client. With `orm`, the writer
        uses the server's database and Redis directly (loadtests/bench/writer.py)."""
        owner = "alice" if topic == "all" else topic
        command = [sys.executable, "-m", "loadtests.bench.writer", "--owner", owner]
        command += ["--count", str(count)]
        if self.orm:
            command += ["--orm"]
        else:
            command += ["--url", self.server.http, "--token", self.tokens["all"]]
        if rate:
            command += ["--rate", str(rate)]
        writer = await asyncio.create_subprocess_exec(*command, env=self.server.env)
        if await writer.wait() != 0:
            raise RuntimeError(f"the writer exited with {writer.returncode}")


class StreamConnection(asyncio.Protocol):
    """One `/sse/orders/` stream, read the way a benchmark reads a WebSocket:
    `async for` over each event's data; nothing to send (a stream has no
    client frames); `transport.abort()` drops it. A lean reader of its own
    (HTTP/1.1 chunks, each holding whole events as the server writes them),
    so that the benchmark's client is not slower than the server it
    measures; correctness is the client library's (realtime.client)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.head: bytes | None = None
        self.texts: asyncio.Queue[str | None] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None  # type: ignore[assignment]
        self.first = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.texts.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        at = 0
        if self.head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head, at = bytes(buffer[:end]), end + 4
        for _ in range(len(buffer)):
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                break
            size = int(buffer[at:line_end], 16)
            if len(buffer) < line_end + 2 + size + 2:
                break
            payload = buffer[line_end + 2 : line_end + 2 + size]
            at = line_end + 2 + size + 2
            for line in bytes(payload).split(b"\n"):
                if line.startswith(b"data: "):
                    self.texts.put_nowait(line[6:].decode())
        del buffer[:at]

    async def send(self, text: str) -> None:
        return None

    async def recv(self) -> str:
        text = await self.texts.get()
        if text is None:
            raise StreamEnded("the stream ended")
        return text

    def __aiter__(self) -> AsyncIterator[str]:
        return self._read()

    async def _read(self) -> AsyncIterator[str]:
        while (text := await self.texts.get()) is not None:
            yield text


class StreamTarget(OrdersTarget):
    """The order server read over Server-Sent Events instead of WebSockets."""

    name = "orders server (sse)"

    async def head(self) -> int:
        stream = await self.connect("all")
        try:
            welcome = json.loads(stream.first)
        finally:
            if stream.transport is not None:
                stream.transport.abort()
        return int(welcome["cursor"])

    async def connect(self, topic: str, since: int | None = None) -> StreamConnection:  # type: ignore[override]
        path = "/sse/orders/" + ("?scopes=all" if topic == "all" else "")
        head = [
            f"GET {path} HTTP/1.1",
            f"Host: {HOST}",
            f"Authorization: Bearer {self.tokens[topic]}",
        ]
        if since is not None:
            head.append(f"Last-Event-ID: {since}")
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(60):
            transport, connection = await loop.create_connection(
                StreamConnection, HOST, self.server.port
            )
            transport.write(("\r\n".join(head) + "\r\n\r\n").encode())
            connection.first = await connection.recv()
        return connection


class RawTarget:
    name = "raw websockets"

    def __init__(self, workdir: Path, heartbeat: float = 25.0) -> None:
        self.port = free_port()
        self.heartbeat = heartbeat
        self.process: subprocess.Popen[bytes] | None = None
        self.control: ClientConnection | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loadtests.bench.raw_server",
                "--port",
                str(self.port),
                "--ping-interval",
                str(self.heartbeat),
            ],
        )
        wait_until(lambda: port_open(self.port), 20, "raw server")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    async def head(self) -> None:
        """No history: a raw client gets only what is sent while it is connected."""
        return None

    async def connect(self, topic: str, since: int | None = None) -> ClientConnection:
        return await connect(f"ws://{HOST}:{self.port}/{topic}", **OPEN)

    async def on_message(self, ws: ClientConnection, text: str) -> Stamps | None:
        sent = float(json.loads(text)["client_ts"])
        return Stamps(sent, sent)

    async def publish(self, count: int, topic: str, rate: float | None = None) -> None:
        if self.control is None:
            self.control = await connect(f"ws://{HOST}:{self.port}/control", **OPEN)
        next_at = time.monotonic()
        for _ in range(count):
            if rate:
                next_at += 1 / rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await self.control.send(f"publish {topic} {json.dumps({'client_ts': time.time()})}")
