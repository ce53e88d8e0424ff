"""The client library and its CLI against a real server."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from realtime.client import ClientStopped, OrdersClient, State, StateChange, Update
from realtime.testing.api import visible_versions
from realtime.testing.processes import Daphne
from realtime.testing.proxies import UpgradeRefusingProxy
from realtime.testing.watchers import Watcher
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


async def test_the_store_runs_ahead_of_the_iterator_until_its_items_are_read(
    server: Daphne,
) -> None:
    """`unread` counts the updates the store holds and the iterator has not
    given out; a Watcher `holds` versions only once it has recorded them."""
    tokens = await asyncio.to_thread(seed_tokens, server)
    await asyncio.to_thread(write_directly, server, 2, "alice", 1)
    truth = await asyncio.to_thread(visible_versions, server.http, tokens["alice"])
    client = OrdersClient(server.ws, tokens["alice"], since=0)
    watcher = Watcher(client)
    client.start()
    try:
        deadline = time.monotonic() + 10
        while watcher.versions() != truth and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert watcher.versions() == truth
        # Two connection changes and one update per version, none read yet.
        assert client.unread == 2 + sum(truth.values())
        assert not watcher.holds(truth)

        watcher.task = asyncio.create_task(watcher._record())
        deadline = time.monotonic() + 5
        while not watcher.holds(truth) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert client.unread == 0
        assert len(watcher.updates) == sum(truth.values())
    finally:
        await watcher.stop()


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


async def test_watch_cli_takes_the_servers_http_address_and_says_when_it_resyncs(
    server: Daphne,
) -> None:
    """`watch --url http://HOST:PORT --since 1` after a prune prints `resync_required`
    with the cursor it moved to and how many orders it refetched."""
    tokens = await asyncio.to_thread(seed_tokens, server)
    await asyncio.to_thread(write_directly, server, 2, "alice", 2)
    await asyncio.to_thread(server.manage, "prune", "--retention", "0")
    # A restart empties the hub's window, which would still answer from memory.
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.start)
    watcher = await watch_cli(server.http, tokens["alice"], "--since", "1")
    assert watcher.stdout is not None
    try:
        lines = [await asyncio.wait_for(watcher.stdout.readline(), 20) for _ in range(3)]
    finally:
        watcher.terminate()
        await asyncio.wait_for(watcher.wait(), 10)
    assert b" connected cursor=" in lines[1]
    assert re.fullmatch(rb"\S+ resync_required cursor=\d+: refetched 2 orders", lines[2].strip())


async def test_watch_cli_refuses_a_url_that_names_no_server() -> None:
    """A port out of range or another scheme: exit 2 with one line, not a silent hang;
    --help shows the default URL."""
    for url in ("ws://127.0.0.1:99999/ws/orders/", "ftp://127.0.0.1/"):
        watcher = await watch_cli(url, "token", stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(watcher.communicate(), 20)
        assert watcher.returncode == 2
        assert err.decode().count("\n") == 1
        assert "not a server URL" in err.decode()
    helped = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "realtime.client", "watch", "--help", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(helped.communicate(), 20)
    assert "default: ws://127.0.0.1:8000/ws/orders/" in " ".join(out.decode().split())


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


async def first_connected(client: OrdersClient) -> StateChange:
    async with asyncio.timeout(20):
        async for item in client:
            if isinstance(item, StateChange) and item.state is State.CONNECTED:
                return item
    raise AssertionError("never connected")


async def test_auto_falls_back_to_the_stream_where_upgrades_are_refused(server: Daphne) -> None:
    """Behind a proxy that answers 403 to every upgrade, `auto` streams instead, keeps
    streaming for the session, and gets the updates."""
    tokens = await asyncio.to_thread(seed_tokens, server)
    with UpgradeRefusingProxy(server.port) as proxy:
        client = OrdersClient(proxy.http, tokens["alice"], since=0, transport="auto")
        async with client:
            assert (await first_connected(client)).transport == "sse"
            assert await client.drop()
            assert (await first_connected(client)).transport == "sse"
            await asyncio.to_thread(write_directly, server, 1, "alice", 5)
            async with asyncio.timeout(20):
                versions = [item.order["version"] async for item in updates(client, count=5)]
        assert versions == [1, 2, 3, 4, 5]
        assert proxy.refused == 1


async def updates(client: OrdersClient, count: int) -> AsyncIterator[Update]:
    seen = 0
    async for item in client:
        if isinstance(item, Update):
            yield item
            seen += 1
            if seen == count:
                return


async def read_to_the_end(client: OrdersClient) -> None:
    async for _ in client:
        pass


async def test_auto_does_not_fall_back_on_the_servers_own_refusal(server: Daphne) -> None:
    """A bad token is the server's 4401 close, not a refused upgrade: the client stops."""
    client = OrdersClient(server.ws, "not-a-token", transport="auto")
    async with client:
        with pytest.raises(ClientStopped) as stopped:
            await read_to_the_end(client)
    assert stopped.value.code == 4401
    assert client.using == "websocket"


async def test_a_stream_renews_its_token_by_reconnecting_where_it_left_off(
    server: Daphne,
) -> None:
    """A 4 s token over SSE: fetched afresh and reconnected with Last-Event-ID before it
    expires, with no 4401 and every update once."""
    short = await asyncio.to_thread(server.manage, "token", "alice", "--create", "--ttl", "4")
    async with OrdersClient(server.sse, short, since=0, transport="sse") as client:
        await first_connected(client)
        await asyncio.to_thread(write_directly, server, 1, "alice", 7)
        await asyncio.sleep(6)
        assert client.stats.connections >= 2
        assert client.token != short
        assert client.state is State.CONNECTED
        await asyncio.to_thread(write_directly, server, 1, "alice", 8)
        async with asyncio.timeout(10):
            got = [item.seq async for item in updates(client, count=10)]
    assert got == sorted(set(got))
    assert client.stats.duplicates == 0


async def test_watch_cli_streams_with_transport_sse(server: Daphne) -> None:
    """`watch --transport sse` says which transport it connected with."""
    tokens = await asyncio.to_thread(seed_tokens, server)
    watcher = await watch_cli(server.ws, tokens["alice"], "--transport", "sse")
    assert watcher.stdout is not None
    try:
        await asyncio.wait_for(watcher.stdout.readline(), 20)
        connected = await asyncio.wait_for(watcher.stdout.readline(), 20)
        assert b" connected " in connected
        assert connected.rstrip().endswith(b"transport=sse")
    finally:
        watcher.terminate()
        await asyncio.wait_for(watcher.wait(), 10)


async def test_a_token_provider_is_asked_at_every_connect(server: Daphne) -> None:
    """A callable instead of a token: called for the first connect and again after a drop."""
    tokens = await asyncio.to_thread(seed_tokens, server)
    asked: list[int] = []

    async def provider() -> str:
        asked.append(len(asked))
        return tokens["alice"]

    client = OrdersClient(server.http, provider, refresh_path=None, snapshot_path=None)
    # Nothing to drop before the client connects.
    assert not await client.drop()
    async with client:
        await first_connected(client)
        assert await client.drop()
        await first_connected(client)
    assert len(asked) == 2
