"""The channel layer sharded over two Redis servers (REDIS_URL with two URLs),
one of them killed: the hub's own shard keeps the fast path when the other
dies; when its own dies, the database delivers; nothing is lost either way."""

from __future__ import annotations

import asyncio
import re
import statistics
from pathlib import Path

import pytest

from realtime.testing.api import acall, call, visible_events
from realtime.testing.processes import Daphne, Redis, free_port, server_env, start_redis
from realtime.testing.watchers import Watcher, watch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# A repair every 5 s: what the database delivers is slow enough to tell apart.
SLOW_REPAIR = {"WEBSOCKET_HEARTBEAT_INTERVAL": "10", "WEBSOCKET_HEARTBEAT_TIMEOUT": "25"}
FAST_MS = 500.0
ORDERS = 8


async def new_orders_ms(server: Daphne, staff: str, watcher: Watcher) -> list[float]:
    """Order → frame milliseconds of ORDERS new orders for alice, 0.2 s apart."""
    seen = len(watcher.updates)
    for _ in range(ORDERS):
        body = {"items": [{"name": "tea", "qty": 1}], "owner": "alice"}
        status, _ = await acall("POST", f"{server.http}/api/orders/", staff, body)
        assert status == 201
        await asyncio.sleep(0.2)
    await watcher.wait_updates(seen + ORDERS, timeout=15)
    return [(u.received_at - u.published_at) * 1000 for u in watcher.updates[seen:]]


def test_a_dead_shard_costs_only_its_own_hubs_the_fast_path(tmp_path: Path) -> None:
    """Other shard killed: median under 500 ms; own shard killed: the database
    delivers (median over 500 ms); every event once, in order, throughout."""
    shards = [start_redis(), start_redis()]
    try:
        env = server_env(
            database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
            log_dir=tmp_path / "logs",
            redis_url=",".join(shard.url for shard in shards),
            extra=SLOW_REPAIR,
        )
        with Daphne(free_port(), env, tmp_path / "logs") as server:
            joined = server.wait_for_log(r"hub joins orders\.events\.\d+ on shard (\d)")
            match = re.search(r"hub joins orders\.events\.\d+ on shard (\d)", joined)
            assert match is not None
            own = int(match.group(1))
            other = 1 - own
            staff = server.manage("token", "staff", "--create", "--staff")
            alice = server.manage("token", "alice", "--create")
            medians = asyncio.run(scenario(server, shards, own, other, staff, alice))
            print(f"median order -> frame ms: {medians}")
            assert medians["other shard down"] < FAST_MS, medians
            assert medians["own shard down"] > FAST_MS, medians
            assert server.error_lines() == []
    finally:
        for shard in shards:
            shard.stop()


async def scenario(
    server: Daphne, shards: list[Redis], own: int, other: int, staff: str, alice: str
) -> dict[str, float]:
    watcher = watch(server.ws, alice, since=0)
    medians: dict[str, float] = {}
    try:
        await watcher.wait_connected()
        medians["both up"] = statistics.median(await new_orders_ms(server, staff, watcher))
        shards[other].stop()
        medians["other shard down"] = statistics.median(await new_orders_ms(server, staff, watcher))
        status, body = await asyncio.to_thread(call, "GET", f"{server.http}/health/ready")
        assert (status, body["status"]) == (200, "degraded"), body
        assert body["degraded"][0].startswith(f"redis 127.0.0.1:{shards[other].port} failed")
        shards[other] = await asyncio.to_thread(start_redis, shards[other].port)
        shards[own].stop()
        medians["own shard down"] = statistics.median(await new_orders_ms(server, staff, watcher))
        expected = await asyncio.to_thread(visible_events, server.http, alice)
        assert watcher.received() == expected
        assert watcher.client.stats.duplicates == 0
        assert watcher.client.stats.violations == []
    finally:
        await watcher.stop()
    return medians
