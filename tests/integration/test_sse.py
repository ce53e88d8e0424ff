"""`/sse/orders/` against real daphne, on SQLite and PostgreSQL: strict resume
with `Last-Event-ID`, the refusals before the stream, heartbeats, the close
events (drain, revocation, expiry, slow consumer) (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from realtime.client.eventstream import ServerEvent
from realtime.client.streaming import EventStream, StreamRefused
from realtime.testing.api import acall, new_order, visible_events
from realtime.testing.processes import HOST, Daphne
from realtime.testing.watchers import Watcher, stalled_stream, watch
from tests.integration.conftest import make_server, seed_tokens

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

INTERVAL = 0.5


@pytest.fixture(
    scope="module", params=[("sqlite", "memory"), ("postgres", "redis")], ids=["sqlite", "postgres"]
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Daphne, dict[str, str]]]:
    database, layer = request.param
    tmp = tmp_path_factory.mktemp(f"sse-{database}")
    server = make_server(tmp, database, layer, request, AUTH_RECHECK_INTERVAL="1")
    with server:
        yield server, seed_tokens(server)


async def first_events(
    url: str, token: str, count: int, headers: dict[str, str] | None = None
) -> list[ServerEvent]:
    stream = EventStream(url, {**bearer(token), **(headers or {})}, 5)
    await stream.open()
    got: list[ServerEvent] = []
    try:
        async with asyncio.timeout(10):
            async for event in stream.events():
                got.append(event)
                if len(got) >= count:
                    break
    finally:
        stream.abort()
    return got


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def write_orders(server: Daphne, orders: int, owners: str, seed: int) -> int:
    args = ["--orders", str(orders), "--owners", owners, "--seed", str(seed)]
    result = subprocess.run(
        [sys.executable, "-m", "realtime.testing.writers", *args],
        env=server.env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return int(result.stdout)


async def dropping_every(watchers: list[Watcher], seconds: float, until: asyncio.Event) -> int:
    drops = 0
    for _ in range(10_000):
        if until.is_set():
            return drops
        await asyncio.sleep(seconds)
        for watcher in watchers:
            await watcher.client.drop()
        drops += 1
    return drops


async def test_last_event_id_resumes_every_scope_exactly_once_while_dropped(
    stack: tuple[Daphne, dict[str, str]],
) -> None:
    """Streams dropped every half second while writers run: exactly the events written, in
    seq order, none twice, on `mine` and on `all`."""
    server, tokens = stack
    before = (await acall("GET", f"{server.http}/api/events/?since=0", tokens["staff"]))[1]
    start = int(before["cursor"])
    alice = watch(server.sse, tokens["alice"], since=start, transport="sse")
    staff = watch(server.sse, tokens["staff"], since=start, scopes=("all",), transport="sse")
    watchers = [alice, staff]
    for watcher in watchers:
        await watcher.wait_connected()
    done = asyncio.Event()
    dropper = asyncio.create_task(dropping_every(watchers, 0.5, done))
    try:
        writes = [
            asyncio.to_thread(write_orders, server, 6, "alice,bob", seed) for seed in (1, 2, 3)
        ]
        await asyncio.gather(*writes)
        await asyncio.sleep(1)
    finally:
        done.set()
        drops = await dropper
    try:
        for watcher, user in ((alice, "alice"), (staff, "staff")):
            expected = await asyncio.to_thread(visible_events, server.http, tokens[user], start)
            await watcher.wait_updates(len(expected), timeout=30)
            got = [(u.seq, u.order["id"], u.order["version"]) for u in watcher.updates]
            assert got == expected, user
            stats = watcher.client.stats
            assert (stats.duplicates, stats.stale, stats.violations) == (0, 0, [])
            assert stats.connections > drops // 2
    finally:
        for watcher in watchers:
            await watcher.stop()


async def test_refusals_come_before_the_stream_as_json(
    stack: tuple[Daphne, dict[str, str]],
) -> None:
    """401, 403 and 400 answer JSON with the close code and reason a WebSocket would get."""
    server, tokens = stack
    cases = [
        ("", {}, 401, 4401, "missing token"),
        ("", {"Authorization": "Bearer garbage"}, 401, 4401, "invalid token"),
        ("?scopes=all", {"Authorization": f"Bearer {tokens['alice']}"}, 403, 4403, "all"),
        ("?since=-3", {"Authorization": f"Bearer {tokens['alice']}"}, 400, 4400, "since"),
        ("", {"Authorization": f"Bearer {tokens['alice']}", "Last-Event-ID": "x"}, 400, 4400, "ID"),
        ("", {"Authorization": "Bearer x", "Origin": "http://evil.example"}, 403, 4403, "origin"),
    ]
    bob_order = await asyncio.to_thread(new_order, server.http, tokens["bob"])
    cases.append(
        (
            f"?scopes=order:{bob_order}",
            {"Authorization": f"Bearer {tokens['alice']}"},
            403,
            4403,
            "no such order",
        )
    )
    for query, headers, status, code, words in cases:
        stream = EventStream(f"{server.sse}{query}", headers, 5)
        with pytest.raises(StreamRefused) as refused:
            await stream.open()
        stream.abort()
        assert (refused.value.status, refused.value.code) == (status, code), query
        assert words in refused.value.detail


async def test_the_token_may_come_in_the_query_for_eventsource(
    stack: tuple[Daphne, dict[str, str]],
) -> None:
    """`?token=` (what a browser's EventSource can send) opens the stream, and no log line
    holds the token."""
    server, tokens = stack
    events = await first_events(f"{server.sse}?token={tokens['bob']}", "", 1)
    assert events[0].event == "welcome"
    assert json.loads(events[0].data)["user"] == "bob"
    assert tokens["bob"] not in server.log_text()


async def test_an_idle_stream_gets_heartbeats(stack: tuple[Daphne, dict[str, str]]) -> None:
    """welcome, then a heartbeat event every interval, each with the cursor."""
    server, tokens = stack
    started = time.monotonic()
    events = await first_events(server.sse, tokens["bob"], 4)
    kinds = [e.event for e in events]
    assert kinds[0] == "welcome"
    assert kinds[-2:] == ["heartbeat", "heartbeat"]
    assert all("cursor" in json.loads(e.data) for e in events[-2:])
    assert time.monotonic() - started < 4 * INTERVAL + 2


async def test_deactivation_ends_the_stream_with_4401(
    stack: tuple[Daphne, dict[str, str]],
) -> None:
    """A user deactivated while streaming gets a close event 4401 within a recheck."""
    server, _ = stack
    token = await asyncio.to_thread(server.manage, "token", "dora", "--create")
    stream = EventStream(server.sse, {"Authorization": f"Bearer {token}"}, 5)
    await stream.open()
    try:
        events = stream.events()
        assert (await anext(events)).event == "welcome"
        await asyncio.to_thread(deactivate, server, "dora")
        closing = await until_close(events, 10)
        assert (closing["code"], closing["reason"]) == (4401, "user deactivated")
    finally:
        stream.abort()


async def test_an_expiring_token_ends_the_stream_with_4401_at_exp(
    stack: tuple[Daphne, dict[str, str]],
) -> None:
    """A token with two seconds to live gets its close event 4401 when it expires."""
    server, _ = stack
    token = await asyncio.to_thread(server.manage, "token", "erin", "--create", "--ttl", "2")
    stream = EventStream(server.sse, {"Authorization": f"Bearer {token}"}, 5)
    await stream.open()
    started = time.monotonic()
    try:
        closing = await until_close(stream.events(), 10)
    finally:
        stream.abort()
    assert (closing["code"], closing["reason"]) == (4401, "token expired")
    assert time.monotonic() - started < 3.5


async def until_close(events: AsyncIterator[ServerEvent], within: float) -> dict[str, object]:
    async with asyncio.timeout(within):
        async for event in events:
            if event.event == "close":
                closing: dict[str, object] = json.loads(event.data)
                return closing
    raise AssertionError("the stream ended without a close event")


def deactivate(server: Daphne, username: str) -> None:
    script = (
        "import django; django.setup(); from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.filter(username={username!r}).update(is_active=False)"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        env={**server.env, "DJANGO_SETTINGS_MODULE": "realtime.settings"},
        check=True,
        timeout=60,
    )


async def test_per_user_and_server_limits_count_both_transports(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """With two connections per user, a WebSocket and a stream fill the cap: a third stream
    gets 429 with Retry-After; past the server's limit, 503."""
    server = make_server(
        tmp_path,
        "sqlite",
        "memory",
        request,
        WEBSOCKET_MAX_CONNECTIONS_PER_USER="2",
        WEBSOCKET_MAX_CONNECTIONS="3",
    )
    with server:
        tokens = await asyncio.to_thread(seed_tokens, server)
        on_ws = watch(server.ws, tokens["alice"])
        on_sse = watch(server.sse, tokens["alice"], transport="sse")
        try:
            for watcher in (on_ws, on_sse):
                await watcher.wait_connected()
            with pytest.raises(StreamRefused) as user_limit:
                await EventStream(
                    server.sse, {"Authorization": f"Bearer {tokens['alice']}"}, 5
                ).open()
            assert (user_limit.value.status, user_limit.value.code) == (429, 1013)
            assert user_limit.value.retry_after is not None
            third = watch(server.sse, tokens["bob"], transport="sse")
            await third.wait_connected()
            with pytest.raises(StreamRefused) as server_limit:
                await EventStream(
                    server.sse, {"Authorization": f"Bearer {tokens['bob']}"}, 5
                ).open()
            assert (server_limit.value.status, server_limit.value.code) == (503, 1013)
            assert server_limit.value.retry_after is not None
            await third.stop()
            warning = r"WARNING realtime\.ws connection limit conn=\S+ user=alice .*transport=sse"
            server.wait_for_log(warning)
        finally:
            for watcher in (on_ws, on_sse):
                await watcher.stop()


async def test_sigterm_ends_every_stream_with_a_1012_close_event(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The drain sends `close` 1012 and the server exits within SHUTDOWN_GRACE."""
    server = make_server(tmp_path, "sqlite", "memory", request)
    server.start()
    try:
        tokens = await asyncio.to_thread(seed_tokens, server)
        stream = EventStream(server.sse, {"Authorization": f"Bearer {tokens['alice']}"}, 5)
        await stream.open()
        events = stream.events()
        assert (await anext(events)).event == "welcome"
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        closing = await until_close(events, 5)
        assert (closing["code"], closing["reason"]) == (1012, "server restarting")
        assert await asyncio.to_thread(server.wait, 6) == 0
        assert time.monotonic() - started < float(server.env["SHUTDOWN_GRACE"])
        stream.abort()
    finally:
        server.stop()
    assert server.error_lines() == []


async def test_a_reader_that_stops_reading_is_closed_with_4409(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A stream whose reader stops taking bytes while events flow is closed with 4409 and
    torn down; a healthy stream beside it gets every event."""
    server = make_server(
        tmp_path,
        "sqlite",
        "memory",
        request,
        WEBSOCKET_MAX_LAG="50",
        WEBSOCKET_HEARTBEAT_INTERVAL="1",
        WEBSOCKET_HEARTBEAT_TIMEOUT="20",
    )
    with server:
        tokens = await asyncio.to_thread(seed_tokens, server)
        healthy = watch(server.sse, tokens["alice"], since=0, transport="sse")
        await healthy.wait_connected()
        sock, head = await asyncio.to_thread(
            stalled_stream, HOST, server.port, "/sse/orders/", tokens["alice"]
        )
        try:
            assert b"200 OK" in head
            args = ["--orders", "40", "--owners", "alice", "--item-bytes", "20000"]
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "realtime.testing.writers", *args],
                env=server.env,
                check=True,
                timeout=60,
            )
            log = await asyncio.to_thread(
                server.wait_for_log, r"close conn=\S+ .*code=4409 .*transport=sse", 20
            )
            assert re.search(r"slow consumer conn=\S+ .*transport=sse", log)
            expected = await asyncio.to_thread(visible_events, server.http, tokens["alice"])
            await healthy.wait_updates(len(expected))
            assert [u.seq for u in healthy.updates] == [e[0] for e in expected]
            await asyncio.to_thread(server.wait_for_open, 1)
        finally:
            sock.close()
            await healthy.stop()


async def test_a_stream_whose_writes_stop_draining_is_closed_within_the_timeout(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A peer that takes nothing more (its window full, as a dead host's never reopens) is
    closed with 4408 within heartbeat_timeout plus a tick, with no frames from it needed."""
    server = make_server(
        tmp_path,
        "sqlite",
        "memory",
        request,
        WEBSOCKET_HEARTBEAT_INTERVAL="0.5",
        WEBSOCKET_HEARTBEAT_TIMEOUT="2",
    )
    with server:
        tokens = await asyncio.to_thread(seed_tokens, server)
        sock, head = await asyncio.to_thread(
            stalled_stream, HOST, server.port, "/sse/orders/", tokens["alice"]
        )
        try:
            assert b"200 OK" in head
            args = ["--orders", "3", "--owners", "alice", "--item-bytes", "60000"]
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "realtime.testing.writers", *args],
                env=server.env,
                check=True,
                timeout=60,
            )
            stalled_at = time.monotonic()
            log = await asyncio.to_thread(
                server.wait_for_log, r"close conn=\S+ .*code=4408 .*transport=sse", 10
            )
            assert time.monotonic() - stalled_at < 2 + 0.5 + 2
            assert re.search(r"heartbeat timeout conn=\S+ .*transport=sse", log)
        finally:
            sock.close()
        await asyncio.to_thread(server.wait_for_open, 0)
    assert server.error_lines() == []
