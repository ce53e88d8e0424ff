"""A reader that stops reading at the TCP level while updates stream: the
server closes it with 4409 instead of buffering without bound, a healthy
reader on the same server is unaffected, and after resuming the stalled
client has every update (docs/protocol.md, G1)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from realtime.testing.api import visible_events
from realtime.testing.processes import HOST, Daphne
from realtime.testing.watchers import Watcher, stalled_reader, watch
from realtime.testing.writers import write_sampling_rss
from tests.integration.conftest import make_server, seed_tokens

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MAX_LAG = 100
ORDERS = 160  # 5 events each, 50 KB per frame: 40 MB streamed
ITEM_BYTES = 50_000
# The stated bound on what one stalled reader may cost the server: the frames
# it may lag by, plus room for the allocator. Without flow control the server
# would keep every frame the stalled socket refused, over 30 MB here.
RSS_BOUND = MAX_LAG * ITEM_BYTES + 12 * 2**20


async def stream(server: Daphne, seed: int) -> int:
    """Runs a writer process while sampling the server's RSS; returns the peak growth."""
    assert server.process is not None
    args = ["--orders", str(ORDERS), "--owners", "alice", "--item-bytes", str(ITEM_BYTES)]
    return await write_sampling_rss(server.env, server.process.pid, *args, "--seed", str(seed))


async def test_a_stalled_reader_is_closed_with_4409_and_resumes_without_loss(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A stalled socket gets 4409, server RSS stays bounded, and a resume gets every update."""
    server = make_server(
        tmp_path,
        "sqlite",
        "redis",
        request,
        WEBSOCKET_MAX_LAG=str(MAX_LAG),
        WEBSOCKET_HEARTBEAT_INTERVAL="1",
        WEBSOCKET_HEARTBEAT_TIMEOUT="20",
    )
    server.start()
    healthy: Watcher | None = None
    resumed: Watcher | None = None
    try:
        tokens = await asyncio.to_thread(seed_tokens, server)
        alice = tokens["alice"]
        healthy = watch(server.ws, alice, since=0)
        await healthy.wait_connected()

        stalled, welcome = await stalled_reader(HOST, server.port, f"{server.ws}?token={alice}")

        growth = await stream(server, seed=1)

        conn = welcome["connection_id"]
        # Raises if the stalled reader is not closed with 4409 within 10 s.
        text = await asyncio.to_thread(server.wait_for_log, rf"close conn={conn} .*code=4409")
        slow = re.search(rf"slow consumer conn={conn} why=\"(lag|backlog) (\d+)", text)
        assert slow is not None
        assert int(slow.group(2)) == MAX_LAG + 1
        stalled.transport.abort()
        assert growth < RSS_BOUND

        expected = await asyncio.to_thread(visible_events, server.http, alice, welcome["cursor"])
        assert len(expected) == ORDERS * 5
        resumed = watch(server.ws, alice, since=welcome["cursor"])
        await resumed.wait_updates(len(expected))
        got = [(u.seq, u.order["id"], u.order["version"]) for u in resumed.updates]
        assert got == expected

        await healthy.wait_updates(len(expected))
        assert len(healthy.updates) == len(expected)
        assert healthy.closes() == []
        print(f"lag at 4409: {slow.group(2)}; server RSS growth: {growth / 2**20:.1f} MiB")
    finally:
        for watcher in (healthy, resumed):
            if watcher is not None:
                await watcher.stop()
        server.stop()
