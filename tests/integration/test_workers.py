"""`realtime serve --workers 2` for real: two daphne processes on one port,
fan-out between them through Redis, a worker killed and restarted, the
whole drained on SIGTERM, and the refusal without Redis."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from realtime.testing.api import acall, call, metric, visible_events
from realtime.testing.processes import Daphne, Redis, free_port, server_env, wait_until
from realtime.testing.watchers import Watcher, watch
from tests.integration.conftest import FAST

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CLIENTS = 20
GRACE = float(FAST["SHUTDOWN_GRACE"])
VICTIM = 1


def workers_of(server: Daphne) -> list[psutil.Process]:
    assert server.process is not None
    return psutil.Process(server.process.pid).children()


def worker_of(watcher: Watcher) -> int | None:
    """The worker that served the watcher's latest connection (from `welcome`)."""
    return next((c.worker for _, c in reversed(watcher.changes) if c.worker is not None), None)


async def patch(server: Daphne, token: str, order_id: int, status: str) -> None:
    """One PATCH; a connection reset by the killed worker is tried again once."""
    url = f"{server.http}/api/orders/{order_id}/"
    for _ in range(2):
        try:
            reply = await acall("PATCH", url, token, {"status": status})
        except OSError:
            continue
        assert reply[0] == 200, reply
        return
    raise AssertionError(f"PATCH {status} failed twice")


def workers_env(tmp_path: Path, redis_server: Redis, **extra: str) -> dict[str, str]:
    """A SQLite database of the test's own and Redis, which workers need."""
    return server_env(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        log_dir=tmp_path / "logs",
        redis_url=redis_server.url,
        extra={**FAST, **extra},
    )


def test_two_workers_share_the_port_survive_a_kill_and_drain(
    tmp_path: Path, redis_server: Redis
) -> None:
    """20 clients over both workers get every update, across a kill -9; SIGTERM closes all 1012."""
    env = workers_env(tmp_path, redis_server)
    with Daphne(free_port(), env, tmp_path / "logs", workers=2) as server:
        # Both accepting: until the second one serves, the first takes every connection.
        wait_until(
            lambda: all(f"(worker {n})" in server.log_text() for n in (1, 2)), 30, "two workers"
        )
        alice = server.manage("token", "alice", "--create")
        staff = server.manage("token", "staff", "--create", "--staff")
        status, order = call(
            "POST",
            f"{server.http}/api/orders/",
            staff,
            {"items": [{"name": "tea", "qty": 1}], "owner": "alice"},
        )
        assert status == 201

        async def scenario(watchers: list[Watcher]) -> list[list[int | None]]:
            await asyncio.gather(*(w.wait_connected() for w in watchers))
            assert {worker_of(w) for w in watchers} == {1, 2}
            assert metric(server.http, "ws_connections_open") == CLIENTS

            await patch(server, staff, order["id"], "confirmed")
            await asyncio.gather(*(w.wait_updates(1, timeout=10) for w in watchers))
            assert all(w.versions().get(order["id"]) == 2 for w in watchers)

            before = {p.pid for p in workers_of(server)}
            victim = next(
                p for p in workers_of(server) if p.environ().get("REALTIME_WORKER") == str(VICTIM)
            )
            on_victim = [w for w in watchers if worker_of(w) == VICTIM]
            victim.send_signal(signal.SIGKILL)
            restarted_by = time.monotonic() + 5
            await patch(server, staff, order["id"], "preparing")
            await patch(server, staff, order["id"], "ready")
            while not {p.pid for p in workers_of(server)} - before:
                assert time.monotonic() < restarted_by, "no new worker within 5 s"
                await asyncio.sleep(0.1)
            for w in watchers:
                deadline = time.monotonic() + 15
                while not w.holds({order["id"]: 4}) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            assert [w.versions().get(order["id"]) for w in watchers] == [4] * CLIENTS
            assert all(w.connected() >= 2 for w in on_victim)
            # Everything after the order's creation, which came before the clients did.
            expected = visible_events(server.http, alice, since=1)
            for w in watchers:
                # Every update exactly once, in seq order, across the reconnect.
                assert w.received() == expected
                assert w.client.stats.duplicates == 0
                assert w.client.stats.violations == []

            await asyncio.to_thread(
                wait_until,
                lambda: server.log_text().count(f"(worker {VICTIM})") == 2,
                20,
                "restart",
            )
            seen = [len(w.closes()) for w in watchers]
            started = time.monotonic()
            server.signal(signal.SIGTERM)
            await asyncio.to_thread(server.wait, GRACE + 1)
            assert time.monotonic() - started <= GRACE
            # The first close after SIGTERM; the retries after it find no server.
            return [w.closes()[n : n + 1] for w, n in zip(watchers, seen, strict=True)]

        async def run() -> list[list[int | None]]:
            watchers = [watch(server.ws, alice) for _ in range(CLIENTS)]
            try:
                return await scenario(watchers)
            finally:
                await asyncio.gather(*(w.stop() for w in watchers), return_exceptions=True)

        closes = asyncio.run(run())
        assert closes == [[1012]] * CLIENTS
        assert server.process is not None
        assert server.process.returncode == 0
        log = server.log_text()
        assert f"worker {VICTIM} (pid" in log
        assert "exited with signal SIGKILL" in log
        assert server.error_lines() == []


SPREAD = 1000
PER_USER = 8


async def open_one(
    url: str, token: str, gate: asyncio.Semaphore, opened: list[ClientConnection]
) -> int:
    """The worker that welcomes one connection, or the code it is closed with."""
    async with gate:
        conn = await connect(url, additional_headers={"Authorization": f"Bearer {token}"})
    opened.append(conn)
    try:
        first = json.loads(await asyncio.wait_for(conn.recv(), 10))
    except ConnectionClosed as closed:
        return -(closed.rcvd.code if closed.rcvd else 1006)
    assert first["type"] == "welcome", first
    return int(first["worker"])


def test_a_thousand_connections_split_evenly_and_a_users_limit_is_shared(
    tmp_path: Path, redis_server: Redis
) -> None:
    """1,000 connections land 40/60 or better on two workers; 8 per user means 8 in all."""
    env = workers_env(tmp_path, redis_server, WEBSOCKET_MAX_CONNECTIONS_PER_USER=str(PER_USER))
    with Daphne(free_port(), env, tmp_path / "logs", workers=2) as server:
        wait_until(
            lambda: all(f"(worker {n})" in server.log_text() for n in (1, 2)), 30, "two workers"
        )
        tokens_file = tmp_path / "tokens"
        server.manage("demo", "--users", str(SPREAD // 4), "--tokens-file", str(tokens_file))
        lines = [line.split() for line in tokens_file.read_text().splitlines()]
        customers = [token for name, token in lines if name.startswith("customer")]
        tokens = [token for token in customers for _ in range(4)]
        assert len(tokens) == SPREAD
        alice = server.manage("token", "alice", "--create")

        async def run() -> tuple[list[int], list[int]]:
            gate = asyncio.Semaphore(100)
            opened: list[ClientConnection] = []
            try:
                spread = await asyncio.gather(
                    *(open_one(server.ws, t, gate, opened) for t in tokens)
                )
                one_user = await asyncio.gather(
                    *(open_one(server.ws, alice, gate, opened) for _ in range(3 * PER_USER))
                )
                return spread, one_user
            finally:
                await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)

        spread, one_user = asyncio.run(run())
        counts = [spread.count(1), spread.count(2)]
        print(f"1,000 connections over two workers: {counts}")
        assert sum(counts) == SPREAD
        assert min(counts) >= 0.4 * SPREAD, counts
        assert sorted(one_user) == [-1013] * (2 * PER_USER) + [1] * (PER_USER // 2) + [2] * (
            PER_USER // 2
        )
        assert "of 8 over 2 workers" in server.log_text()


def test_workers_without_redis_are_refused_with_the_reason(tmp_path: Path) -> None:
    """`--workers 2` with no REDIS_URL exits 2, saying fan-out needs the Redis channel layer."""
    env = server_env(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", log_dir=tmp_path / "logs")
    env.pop("REDIS_URL", None)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "realtime.cli",
            "serve",
            "--port",
            str(free_port()),
            "--workers",
            "2",
        ],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "--workers 2 needs REDIS_URL" in run.stderr.decode()
