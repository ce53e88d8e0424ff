"""A kitchen display on `all` resumes strictly (G1 on every scope): with
`?scopes=all&since=N` and with `subscribe` + `since`, while four writers change
orders before and throughout the replay, it receives exactly the events
`GET /api/events/?since=N` lists for staff, in seq order, once each."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from realtime.testing.api import visible_events
from realtime.testing.processes import Daphne
from tests.integration.conftest import make_server, seed_tokens
from tests.integration.test_guarantees import HTTP_WRITERS, http_writer
from tests.integration.test_resume import write_directly

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

SEED = 7
HISTORY_ORDERS = 120
ACK_EVERY = 100


class Board:
    """A raw staff connection that answers heartbeats, acks, and records
    every `order.update` as (seq, order id, version) and every other frame."""

    def __init__(self, url: str, first: list[dict[str, Any]]) -> None:
        self.url, self.first = url, first
        self.updates: list[tuple[int, int, int]] = []
        self.frames: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self.run())

    async def run(self) -> None:
        async with connect(self.url, open_timeout=10, max_queue=None) as ws:
            for frame in self.first:
                await ws.send(json.dumps(frame))
            for _ in range(1_000_000):
                frame = json.loads(await ws.recv())
                if frame["type"] == "order.update":
                    order = frame["order"]
                    self.updates.append((frame["seq"], order["id"], order["version"]))
                    if len(self.updates) % ACK_EVERY == 0:
                        await ws.send(json.dumps({"type": "heartbeat_ack", "cursor": frame["seq"]}))
                    continue
                self.frames.append(frame)
                if frame["type"] == "heartbeat":
                    cursor = self.updates[-1][0] if self.updates else 0
                    ack = {"type": "heartbeat_ack", "ts": frame["ts"], "cursor": cursor}
                    await ws.send(json.dumps(ack))

    async def wait_for(self, last_seq: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.task.done():
            if self.updates and self.updates[-1][0] >= last_seq:
                return
            await asyncio.sleep(0.05)
        if self.task.done():
            self.task.result()
        raise AssertionError(f"no seq {last_seq} within {timeout} s: got {self.updates[-3:]}")

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def kinds(self) -> list[str]:
        return [str(f["type"]) for f in self.frames if f["type"] != "heartbeat"]


def run_writers(base: str, token: str) -> list[str]:
    errors: list[str] = []
    threads = [
        threading.Thread(target=http_writer, args=([base], token, random.Random(SEED + i), errors))
        for i in range(HTTP_WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
@pytest.mark.parametrize("form", ["url", "subscribe"])
async def test_a_staff_board_resumes_all_exactly_once_in_seq_order(
    form: str, database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Every staff-visible event after since arrives once, in seq order, with writers running."""
    server: Daphne = make_server(tmp_path, database, "memory", request)
    with server:
        tokens = await asyncio.to_thread(seed_tokens, server)
    # History written while the server is down: its resume reads the database.
    written = await asyncio.to_thread(write_directly, server, HISTORY_ORDERS, "alice,bob", SEED)
    with server:
        staff = tokens["staff"]
        head = (await asyncio.to_thread(visible_events, server.http, staff))[-1][0]
        since = head - written + 10
        url = f"{server.ws}?token={staff}"
        if form == "url":
            board = Board(f"{url}&scopes=all&since={since}", [])
        else:
            board = Board(url, [{"type": "subscribe", "scope": "all", "since": since, "ref": 1}])
        try:
            errors = await asyncio.to_thread(run_writers, server.http, staff)
            assert errors == []
            expected = await asyncio.to_thread(visible_events, server.http, staff, since)
            assert len(expected) > head - since
            await board.wait_for(expected[-1][0])
            assert board.updates == expected
            replies = [f for f in board.frames if f["type"] in ("resumed", "subscribed")]
            assert replies[-1]["since"] == since
            assert replies[-1]["replayed"] >= head - since
            assert "resync_required" not in board.kinds()
        finally:
            await board.stop()
        assert server.error_lines() == []
