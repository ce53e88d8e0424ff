"""One direction of one proxied connection: read chunks, pass each through the
toxic chain in order, write what comes out (Toxiproxy's ToxicLink).

Chunks are timestamped when read, and a latency toxic holds each one until
its own timestamp plus the delay, so latency delays every chunk without
limiting throughput, and chained latencies add up. The chain is read afresh
for every chunk, so toxics added, updated or removed take effect on live
connections without losing or reordering a byte.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from chaos.toxiproxy.toxics import Toxic

logger = logging.getLogger("chaos.toxiproxy")

READ_SIZE = 32 * 1024
QUEUE_CHUNKS = 64
# A bandwidth toxic sends at most rate * 100 ms worth of a chunk at a time.
BANDWIDTH_SLICE = 0.1


@dataclass
class Chunk:
    data: bytes
    ts: float


@dataclass(eq=False)
class Stage:
    """A toxic as one link runs it: toxicity drawn once per link, own state."""

    toxic: Toxic
    enabled: bool
    idle_since: float
    sent: int = 0
    debt: float = 0.0


class Closed(Exception):
    """The link was closed by a toxic or by the proxy."""


def slices(average: int, variation: int, start: int, end: int, rng: random.Random) -> list[int]:
    """Toxiproxy's slicer: halve around the middle until pieces are near `average`."""
    if (end - start) - average <= variation:
        return [start, end]
    mid = start + (end - start) // 2
    if variation > 0:
        mid += rng.randrange(variation * 2) - variation
    return slices(average, variation, start, mid, rng) + slices(average, variation, mid, end, rng)


def set_linger_zero(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Link:
    def __init__(
        self,
        name: str,
        direction: str,
        source: asyncio.StreamReader,
        dest: asyncio.StreamWriter,
        chain: list[Toxic],
        rng: random.Random,
        on_close: Callable[[Link], None],
    ) -> None:
        self.name = name
        self.direction = direction
        self.source = source
        self.dest = dest
        self.rng = rng
        self.on_close = on_close
        self.loop = asyncio.get_running_loop()
        now = self.loop.time()
        self.stages = [self._stage(toxic, now) for toxic in chain]
        self.reset_on_close = any(t.type == "reset_peer" for t in chain)
        self.queue: asyncio.Queue[Chunk | None] = asyncio.Queue(QUEUE_CHUNKS)
        self.changed = asyncio.Event()
        self.closed = False
        self.tasks: list[asyncio.Task[None]] = []

    def _stage(self, toxic: Toxic, now: float) -> Stage:
        return Stage(toxic, self.rng.random() < toxic.toxicity, now)

    def start(self, other: asyncio.StreamWriter) -> None:
        if self.reset_on_close:
            set_linger_zero(self.dest)
            set_linger_zero(other)
        self.tasks = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._run()),
        ]

    # Live changes to the chain

    def add(self, toxic: Toxic) -> None:
        self.stages.append(self._stage(toxic, self.loop.time()))
        self.changed.set()

    def update(self, toxic: Toxic) -> None:
        for i, stage in enumerate(self.stages):
            if stage.toxic is toxic:
                fresh = self._stage(toxic, self.loop.time())
                fresh.sent, fresh.debt = stage.sent, stage.debt
                self.stages[i] = fresh
        self.changed.set()

    def remove(self, toxic: Toxic) -> None:
        self.stages = [s for s in self.stages if s.toxic is not toxic]
        if toxic.type == "timeout":
            # Toxiproxy's timeout cleanup closes the connection it held.
            self.close()
        self.changed.set()

    # Reading and running the chain

    async def _read(self) -> None:
        try:
            while True:
                data = await self.source.read(READ_SIZE)
                if not data:
                    break
                await self.queue.put(Chunk(data, self.loop.time()))
        except (ConnectionError, OSError):
            pass
        await self.queue.put(None)

    def _deadline(self) -> float | None:
        deadlines = [
            stage.idle_since + stage.toxic.attr("timeout") / 1000
            for stage in self.stages
            if stage.enabled and stage.toxic.type == "timeout" and stage.toxic.attr("timeout") > 0
        ]
        return min(deadlines) if deadlines else None

    async def _run(self) -> None:
        getter: asyncio.Task[Chunk | None] | None = None
        try:
            while not self.closed:
                if getter is None:
                    getter = asyncio.create_task(self.queue.get())
                changed = asyncio.create_task(self.changed.wait())
                deadline = self._deadline()
                timeout = None if deadline is None else max(0.0, deadline - self.loop.time())
                done, _ = await asyncio.wait(
                    {getter, changed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                changed.cancel()
                self.changed.clear()
                if getter in done:
                    chunk, getter = getter.result(), None
                    if chunk is None:
                        await self._end()
                        return
                    await self._through(chunk, list(self.stages))
                elif not done and deadline is not None and self.loop.time() >= deadline:
                    self.close()
        except Closed:
            pass
        except (ConnectionError, OSError) as exc:
            logger.info("link %s %s ended: %s", self.name, self.direction, exc)
        finally:
            if getter is not None:
                getter.cancel()
            self.close()

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)
        if self.closed:
            raise Closed

    async def _write(self, data: bytes) -> None:
        if self.closed:
            raise Closed
        self.dest.write(data)
        await self.dest.drain()

    async def _through(self, chunk: Chunk, stages: list[Stage]) -> None:
        """Pass one chunk through `stages` in order and write what comes out."""
        if not stages:
            await self._write(chunk.data)
            return
        stage, rest = stages[0], stages[1:]
        toxic = stage.toxic
        if not stage.enabled or toxic.type in ("noop", "slow_close"):
            await self._through(chunk, rest)
        elif toxic.type == "latency":
            delay = toxic.attr("latency")
            jitter = toxic.attr("jitter")
            if jitter > 0:
                delay += self.rng.randrange(jitter * 2) - jitter
            chunk.ts += delay / 1000
            await self._sleep(chunk.ts - self.loop.time())
            await self._through(chunk, rest)
        elif toxic.type == "bandwidth":
            await self._bandwidth(stage, chunk, rest)
        elif toxic.type == "timeout":
            stage.idle_since = self.loop.time()
        elif toxic.type == "reset_peer":
            await self._sleep(toxic.attr("timeout") / 1000)
            self.close()
            raise Closed
        elif toxic.type == "slicer":
            cuts = slices(
                toxic.attr("average_size"),
                toxic.attr("size_variation"),
                0,
                len(chunk.data),
                self.rng,
            )
            for i in range(1, len(cuts), 2):
                piece = Chunk(chunk.data[cuts[i - 1] : cuts[i]], chunk.ts)
                await self._through(piece, rest)
                await self._sleep(toxic.attr("delay") / 1_000_000)
        elif toxic.type == "limit_data":
            await self._limit(stage, chunk, rest)

    async def _bandwidth(self, stage: Stage, chunk: Chunk, rest: list[Stage]) -> None:
        rate = stage.toxic.attr("rate")  # KB/s with KB = 1000 bytes, so bytes per ms
        if rate <= 0:
            stage.debt = 0.0
            await self._through(chunk, rest)
            return
        data = chunk.data
        stage.debt += len(data) / rate / 1000
        step = rate * 100
        while len(data) > step:
            await self._sleep(BANDWIDTH_SLICE)
            await self._through(Chunk(data[:step], chunk.ts), rest)
            data = data[step:]
            stage.debt -= BANDWIDTH_SLICE
        started = self.loop.time()
        await self._sleep(stage.debt)
        stage.debt -= self.loop.time() - started
        await self._through(Chunk(data, chunk.ts), rest)

    async def _limit(self, stage: Stage, chunk: Chunk, rest: list[Stage]) -> None:
        limit = stage.toxic.attr("bytes")
        remaining = max(0, limit - stage.sent)
        data = chunk.data[:remaining]
        if data:
            await self._through(Chunk(data, chunk.ts), rest)
            stage.sent += len(data)
        if limit - stage.sent <= 0:
            self.close()
            raise Closed

    async def _end(self) -> None:
        """The source reached EOF: slow_close waits, then the destination closes."""
        for stage in list(self.stages):
            if not stage.enabled:
                continue
            if stage.toxic.type == "slow_close":
                await self._sleep(stage.toxic.attr("delay") / 1000)
            elif stage.toxic.type in ("timeout", "reset_peer"):
                if stage.toxic.type == "reset_peer":
                    await self._sleep(stage.toxic.attr("timeout") / 1000)
                break
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.reset_on_close:
            self.dest.transport.abort()
        else:
            self.dest.close()
        self.changed.set()
        self.on_close(self)
