"""Two daphne processes sharing PostgreSQL and Redis: an update made through
one process's API reaches clients on both, and a client that moves from one
process to the other resumes without loss."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from realtime.testing import postgres
from realtime.testing.api import acall, visible_events
from realtime.testing.processes import Daphne, Redis, free_port, server_env
from realtime.testing.watchers import Watcher, watch
from tests.integration.conftest import FAST, seed_tokens

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_updates_reach_both_processes_and_a_moving_client_resumes(
    tmp_path: Path, redis_server: Redis
) -> None:
    """A PATCH on A reaches clients of A and B; a client moving from A to B misses nothing."""
    with postgres.fresh_database() as database_url:
        servers = [
            Daphne(
                free_port(),
                server_env(
                    database_url=database_url,
                    log_dir=tmp_path / name,
                    redis_url=redis_server.url.replace("/0", "/3"),
                    extra=FAST,
                ),
                tmp_path / name,
            )
            for name in ("a", "b")
        ]
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers))
        a, b = servers
        watchers: list[Watcher] = []
        try:
            tokens = await asyncio.to_thread(seed_tokens, a)
            on_a = watch(a.ws, tokens["alice"], since=0)
            on_b = watch(b.ws, tokens["alice"], since=0)
            mover = watch(a.ws, tokens["alice"], since=0)
            watchers = [on_a, on_b, mover]
            for watcher in watchers:
                await watcher.wait_connected()

            body = {"items": [{"name": "tea", "qty": 1}], "owner": "alice"}
            status, order = await acall("POST", f"{a.http}/api/orders/", tokens["staff"], body)
            assert status == 201
            started = time.monotonic()
            patch = {"status": "confirmed"}
            assert (
                await acall("PATCH", f"{a.http}/api/orders/{order['id']}/", tokens["staff"], patch)
            )[0] == 200
            for watcher in (on_a, on_b):
                await watcher.wait_updates(2, timeout=5)
                assert [u.order["status"] for u in watcher.updates] == ["pending", "confirmed"]
            print(f"PATCH on A -> client on B: {(time.monotonic() - started) * 1000:.0f} ms")

            await mover.wait_updates(2)
            await mover.stop()
            left_at = mover.client.cursor
            for step in ("preparing", "ready"):
                url = f"{b.http}/api/orders/{order['id']}/"
                assert (await acall("PATCH", url, tokens["staff"], {"status": step}))[0] == 200
            moved = watch(b.ws, tokens["alice"], since=left_at)
            watchers.append(moved)
            expected = await asyncio.to_thread(visible_events, b.http, tokens["alice"], left_at)
            assert len(expected) == 2
            await moved.wait_updates(len(expected), timeout=10)
            assert moved.received() == expected
            assert moved.client.stats.violations == []
        finally:
            for watcher in watchers:
                await watcher.stop()
            for server in servers:
                server.stop()
