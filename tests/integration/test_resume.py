"""Resume across a server restart: a client of the library gets every update
made while the server was down, exactly once and in seq order (G1)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from realtime.testing.api import visible_events, visible_versions
from realtime.testing.processes import Daphne
from realtime.testing.watchers import Watcher, watch
from tests.integration.conftest import make_server, seed_tokens

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def write_directly(server: Daphne, orders: int, owners: str = "alice,bob", seed: int = 1) -> int:
    """Orders created and advanced by a separate writer process, straight into the database."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "realtime.testing.writers",
            "--orders",
            str(orders),
            "--owners",
            owners,
            "--seed",
            str(seed),
        ],
        env=server.env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return int(result.stdout)


def assert_exactly_once_in_order(watcher: Watcher, expected: list[tuple[int, int, int]]) -> None:
    got = [(u.seq, u.order["id"], u.order["version"]) for u in watcher.updates]
    assert got == expected
    assert watcher.client.stats.duplicates == 0
    assert watcher.client.stats.violations == []


@pytest.mark.parametrize(
    ("database", "signum", "code"),
    [("sqlite", signal.SIGTERM, 1012), ("postgres", signal.SIGKILL, 1006)],
    ids=["sqlite-sigterm", "postgres-sigkill"],
)
async def test_a_client_resumes_across_a_restart_with_updates_made_while_down(
    database: str, signum: int, code: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """After SIGTERM (1012) or SIGKILL (no close frame) the client resumes every missed update."""
    server = make_server(tmp_path, database, "redis", request)
    server.start()
    watcher: Watcher | None = None
    try:
        tokens = await asyncio.to_thread(seed_tokens, server)
        before = visible_events(server.http, tokens["alice"])
        start = before[-1][0] if before else 0
        watcher = watch(server.ws, tokens["alice"], since=start)
        await watcher.wait_connected()
        await asyncio.to_thread(write_directly, server, 3, "alice", 1)
        await watcher.wait_updates(15)
        assert len(watcher.updates) == 15

        server.signal(signum)
        await asyncio.to_thread(server.wait, 10)
        written = await asyncio.to_thread(write_directly, server, 4, "alice,bob", 2)
        assert written == 20
        await asyncio.to_thread(server.start)

        await watcher.wait_connected(2, timeout=20)
        expected = await asyncio.to_thread(visible_events, server.http, tokens["alice"], start)
        await watcher.wait_updates(len(expected))
        assert_exactly_once_in_order(watcher, expected)
        assert watcher.closes()[0] == code
        assert watcher.client.stats.replayed == len(expected) - 15
    finally:
        if watcher is not None:
            await watcher.stop()
        server.stop()


async def test_a_resume_older_than_retained_history_resyncs_from_a_snapshot(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """After `realtime prune`, a resume from a pruned seq resyncs from `GET /api/orders/`."""
    server = make_server(tmp_path, "sqlite", "memory", request)
    server.start()
    watcher: Watcher | None = None
    try:
        tokens = await asyncio.to_thread(seed_tokens, server)
        await asyncio.to_thread(write_directly, server, 3, "alice,bob", 4)
        pruned = await asyncio.to_thread(server.manage, "prune", "--retention", "0")
        assert pruned.startswith("pruned ")
        # A restart empties the hub's window of recent events, which would
        # otherwise still answer from memory what the database no longer has.
        server.stop()
        server.start()
        watcher = watch(server.ws, tokens["alice"], since=1)
        await watcher.wait_connected()
        truth = await asyncio.to_thread(visible_versions, server.http, tokens["alice"])
        deadline = time.monotonic() + 10
        while (watcher.versions() != truth or not watcher.resyncs) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert watcher.versions() == truth
        assert watcher.client.stats.resyncs == 1
        # The client says so: where it moved to and how many orders it refetched.
        assert [(r.cursor, r.orders, r.error) for r in watcher.resyncs] == [(15, len(truth), None)]
        assert watcher.client.cursor == 15  # the newest seq: 3 orders of 5 events
    finally:
        if watcher is not None:
            await watcher.stop()
        server.stop()
