"""The client library and its CLI against a real server."""

from __future__ import annotations

import asyncio
import sys
import time
from asyncio.subprocess import Process
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realtime.client import OrdersClient, State, StateChange, Update
from realtime.testing.processes import Daphne
from tests.integration.conftest import make_server, seed_tokens
from tests.integration.test_resume import write_directly

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Daphne]:
    """A fresh server per test: the tests below count from seq 0."""
    daphne = make_server(tmp_path, "sqlite", "memory", request)
    daphne.start()
    yield daphne
    daphne.stop()


async def test_leaving_the_iterator_and_the_context_stops_the_client_promptly(
    server: Daphne,
) -> None:
    """Breaking out of `async for` and leaving `async with` closes the client instead of hanging."""
    tokens = await asyncio.to_thread(seed_tokens, server)
    await asyncio.to_thread(write_directly, server, 2, "alice", 1)
    seen: list[Update | StateChange] = []
    async with OrdersClient(server.ws, tokens["alice"], since=0) as client:
        async for item in client:
            seen.append(item)
            if isinstance(item, Update) and item.order["version"] == 5:
                break
        started = time.monotonic()
    # A hang, not a speed: the client used to wait forever on a cancelled recv().
    assert time.monotonic() - started < 5.0
    assert client.state is State.CLOSED
    assert [type(i).__name__ for i in seen[:2]] == ["StateChange", "StateChange"]
    assert sum(isinstance(i, Update) for i in seen) == 5


async def watch_cli(url: str, token: str, *args: str, **pipes: Any) -> Process:
    """`python -m realtime.client watch` against `url`, its stdout piped."""
    command = ["-m", "realtime.client", "watch", "--url", url, "--token", token, *args]
    return await asyncio.create_subprocess_exec(
        sys.executable, *command, stdout=asyncio.subprocess.PIPE, **pipes
    )


async def test_watch_cli_prints_updates_and_connection_changes(
    server: Daphne,
) -> None:
    """`python -m realtime.client watch` prints each update and each connection state change."""
    tokens = await asyncio.to_thread(seed_tokens, server)
    watcher = await watch_cli(server.ws, tokens["alice"], "--since", "0")
    assert watcher.stdout is not None
    try:
        first = await asyncio.wait_for(watcher.stdout.readline(), 20)
        assert b" connecting" in first
        connected = await asyncio.wait_for(watcher.stdout.readline(), 20)
        assert b" connected cursor=0" in connected
        await asyncio.to_thread(write_directly, server, 1, "alice", 3)
        lines = [await asyncio.wait_for(watcher.stdout.readline(), 10) for _ in range(5)]
        assert [line.split()[3] for line in lines] == [
            b"pending",
            b"confirmed",
            b"preparing",
            b"ready",
            b"delivered",
        ]
    finally:
        watcher.terminate()
        await asyncio.wait_for(watcher.wait(), 10)


async def test_watch_cli_stops_on_a_bad_token(
    server: Daphne,
) -> None:
    """A refused token (4401) ends the CLI with exit code 2 instead of retrying forever."""
    watcher = await watch_cli(server.ws, "not-a-token", stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(watcher.communicate(), 20)
    assert watcher.returncode == 2
    assert b"closed code=4401" in out
    assert b"stopped: closed with 4401" in err


async def test_the_client_renews_its_token_without_reconnecting(server: Daphne) -> None:
    """A 4 s token is renewed through /api/token/refresh/ and `auth`: no 4401, no reconnect."""
    short = await asyncio.to_thread(server.manage, "token", "alice", "--create", "--ttl", "4")
    async with OrdersClient(server.ws, short) as client:
        async for item in client:
            if isinstance(item, StateChange) and item.state is State.CONNECTED:
                break
        first = client.session.expires_at
        assert first is not None
        await asyncio.sleep(6)
        assert client.stats.connections == 1
        assert client.session.expires_at is not None
        assert client.session.expires_at > first + 60
        assert client.token != short
