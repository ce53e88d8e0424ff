"""Abuse limits on a live server (docs/protocol.md): frame rate (4429), connections
per user and per process (1013), repeated violations and binary frames (4400),
token expiry during a connection (4401), and a flooding client that costs the
other clients nothing they were owed."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from realtime.testing.api import acall, new_order
from realtime.testing.processes import Daphne
from realtime.testing.watchers import Watcher, watch
from tests.integration.conftest import make_server, seed_tokens
from tests.integration.wsclient import close_code, frames_until_closed, next_frame, open_ws

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MAX_CONNECTIONS = 6
PER_USER = 3


@pytest.fixture(scope="module")
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Daphne, dict[str, str]]]:
    with make_server(
        tmp_path_factory.mktemp("limits"),
        "sqlite",
        "memory",
        request,
        WEBSOCKET_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        WEBSOCKET_MAX_CONNECTIONS_PER_USER=str(PER_USER),
        # Low enough that a server slowed by a loaded machine still sees a
        # burst of 200 frames as one (the bucket refills at 10 a second).
        WEBSOCKET_RATE_LIMIT="10",
    ) as server:
        tokens = seed_tokens(server)
        tokens["mallory"] = server.manage("token", "mallory", "--create")
        yield server, tokens


@pytest.fixture
def server(limited: tuple[Daphne, dict[str, str]]) -> Daphne:
    """The shared server, with every connection of the previous test gone."""
    limited[0].wait_for_open(0)
    return limited[0]


@pytest.fixture
def tokens(limited: tuple[Daphne, dict[str, str]]) -> dict[str, str]:
    return limited[1]


async def test_frames_past_the_rate_get_rate_limited_then_4429(
    server: Daphne, tokens: dict[str, str]
) -> None:
    """Past the burst each frame gets `rate_limited`; past the strikes the server closes 4429."""
    ws = await open_ws(server.ws, tokens["alice"])
    await next_frame(ws, "welcome")
    for n in range(200):
        try:
            await ws.send(json.dumps({"type": "heartbeat", "ts": n}))
        except ConnectionClosed:
            break
    answers = await frames_until_closed(ws)
    refused = {"type": "error", "code": "rate_limited", "detail": "too many frames"}
    assert answers.count(refused) == 11
    assert ws.close_code == 4429


async def test_connections_past_the_per_user_limit_get_1013(
    server: Daphne, tokens: dict[str, str]
) -> None:
    """A user's connection past the per-user limit is closed 1013; others still connect."""
    mine = [await open_ws(server.ws, tokens["alice"]) for _ in range(PER_USER)]
    for ws in mine:
        await next_frame(ws, "welcome")
    extra = await open_ws(server.ws, tokens["alice"])
    assert await close_code(extra) == 1013
    other = await open_ws(server.ws, tokens["bob"])
    assert (await next_frame(other, "welcome"))["user"] == "bob"
    for ws in [*mine, other]:
        await ws.close()


async def test_connections_past_the_process_limit_get_1013(
    server: Daphne, tokens: dict[str, str]
) -> None:
    """With WEBSOCKET_MAX_CONNECTIONS open, the next connection is closed 1013 with the reason."""
    users = ["alice", "bob"] * PER_USER
    held = [await open_ws(server.ws, tokens[user]) for user in users[:MAX_CONNECTIONS]]
    for ws in held:
        await next_frame(ws, "welcome")
    extra = await open_ws(server.ws, tokens["staff"])
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(extra.recv(), 5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1013,
        f"server at its connection limit ({MAX_CONNECTIONS})",
    )
    for ws in held:
        await ws.close()


async def test_binary_frames_get_errors_then_4400(server: Daphne, tokens: dict[str, str]) -> None:
    """Each binary frame is answered with an error; repeated, the connection is closed 4400."""
    ws = await open_ws(server.ws, tokens["alice"])
    await next_frame(ws, "welcome")
    await ws.send(b"\x00\x01")
    error = await next_frame(ws, "error")
    assert (error["code"], error["detail"]) == ("bad_message", "binary frames are not supported")
    for _ in range(10):
        await ws.send(b"\x00\x01")
    assert await close_code(ws) == 4400


async def test_a_token_expiring_mid_connection_closes_4401(
    server: Daphne, tokens: dict[str, str]
) -> None:
    """A connection outliving its token's exp is closed 4401 'token expired'."""
    ws = await open_ws(
        server.ws, await asyncio.to_thread(server.manage, "token", "alice", "--ttl", "3")
    )
    await next_frame(ws, "welcome")
    started = time.monotonic()
    await frames_until_closed(ws)
    assert (ws.close_code, ws.close_reason) == (4401, "token expired")
    assert time.monotonic() - started < 6


def flooder(server: Daphne, token: str, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "realtime.testing.flooder", "--seconds", str(seconds)]
    return subprocess.Popen(
        [*command, "--url", server.ws, "--token", token],
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )


async def advance(server: Daphne, token: str, orders: list[int], steps: list[str]) -> None:
    """Every order through `steps`, one status change at a time."""
    for step in steps:
        for order_id in orders:
            status, body = await acall(
                "PATCH", f"{server.http}/api/orders/{order_id}/", token, {"status": step}
            )
            assert status == 200, body
            await asyncio.sleep(0.02)


def latencies_ms(watchers: list[Watcher], since: int) -> list[float]:
    return [
        (u.received_at - u.published_at) * 1000
        for w in watchers
        for u in w.updates
        if u.seq > since
    ]


async def test_a_flooding_client_is_limited_and_others_get_every_update(
    server: Daphne, tokens: dict[str, str], tmp_path: Path
) -> None:
    """One client flooding frames is closed 4429 over and over while the others miss nothing."""
    created = [
        await asyncio.to_thread(new_order, server.http, tokens[owner])
        for owner in ("alice", "bob")
        for _ in range(5)
    ]
    watchers = [watch(server.ws, tokens["alice"]), watch(server.ws, tokens["bob"])]
    watchers.append(watch(server.ws, tokens["staff"], scopes=("all",)))
    for watcher in watchers:
        await watcher.wait_connected()
    start_seq = max((u.seq for w in watchers for u in w.updates), default=0)

    await advance(server, tokens["staff"], created, ["confirmed", "preparing"])
    for watcher, expected in zip(watchers, (10, 10, 20), strict=True):
        await watcher.wait_updates(expected, timeout=20)
    before = latencies_ms(watchers, start_seq)
    middle_seq = max(u.seq for w in watchers for u in w.updates)

    # A loaded machine can delay a heartbeat past the client's silence limit
    # before the flood begins; what the flood may not cause is a close.
    closed_before = [w.closes() for w in watchers]
    out = tmp_path / "flood.json"
    flood = flooder(server, tokens["mallory"], 6, out)
    try:
        # The flood has begun once the server has refused it at least once.
        await asyncio.to_thread(server.wait_for_log, r"user=mallory code=4429")
        await advance(server, tokens["staff"], created, ["ready", "delivered"])
    finally:
        await asyncio.to_thread(flood.wait, 30)
    for watcher, expected in zip(watchers, (20, 20, 40), strict=True):
        await watcher.wait_updates(expected, timeout=20)
    during = latencies_ms(watchers, middle_seq)
    report: dict[str, Any] = json.loads(out.read_text())
    for watcher in watchers:
        await watcher.stop()

    print(
        f"\nflood: {report}\nlatency before p50 {statistics.median(before):.1f} ms, "
        f"max {max(before):.1f} ms; during p50 {statistics.median(during):.1f} ms, "
        f"max {max(during):.1f} ms"
    )
    assert report["closes"].get("4429", 0) >= 1
    assert report["rate_limited"] > 0
    assert [len(w.updates) for w in watchers] == [20, 20, 40]
    assert [w.closes() for w in watchers] == closed_before
    assert server.error_lines() == []
    server.wait_for_open(0)
