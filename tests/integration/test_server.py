"""The server core against real daphne, on SQLite and PostgreSQL, with the
in-memory layer and with real Redis."""

from __future__ import annotations

import asyncio
import json
import re
import time

import jwt
import pytest

from realtime.auth.tokens import ALGORITHM
from realtime.testing.api import acall, metric
from realtime.testing.processes import SECRET_KEY
from tests.integration.conftest import Stack
from tests.integration.wsclient import close_code, frames_for, next_frame, open_ws

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


async def create_order(stack: Stack, owner: str) -> dict[str, object]:
    status, order = await acall(
        "POST",
        f"{stack.server.http}/api/orders/",
        stack.tokens["staff"],
        {"items": [{"name": "tea", "qty": 1}], "owner": owner},
    )
    assert status == 201, order
    return order


async def test_patch_pushes_to_the_owner_and_staff_only(stack: Stack) -> None:
    """A PATCH reaches the owner's and a staff `all` connection, and not another customer."""
    server = stack.server
    alice = await open_ws(server.ws, stack.tokens["alice"])
    bob = await open_ws(server.ws, stack.tokens["bob"])
    staff = await open_ws(server.ws, stack.tokens["staff"])
    for ws in (alice, bob, staff):
        await next_frame(ws, "welcome")
    await staff.send(json.dumps({"type": "subscribe", "scope": "all", "ref": "s1"}))
    assert (await next_frame(staff, "subscribed")) == {
        "type": "subscribed",
        "scope": "all",
        "ref": "s1",
    }
    order = await create_order(stack, "alice")
    status, patched = await acall(
        "PATCH",
        f"{server.http}/api/orders/{order['id']}/",
        stack.tokens["staff"],
        {"status": "confirmed", "meta": {"by": "test"}},
    )
    assert status == 200, patched
    for ws in (alice, staff):
        created = await next_frame(ws, "order.update")
        assert created["order"]["version"] == 1
        update = await next_frame(ws, "order.update")
        assert update["order"]["status"] == "confirmed"
        assert update["meta"] == {"by": "test"}
        assert update["seq"] > created["seq"]
    assert not [f for f in await frames_for(bob, 0.5) if f["type"] == "order.update"]
    for ws in (alice, bob, staff):
        await ws.close()


@pytest.mark.parametrize("token", ["", "not-a-jwt", "expired"])
async def test_missing_invalid_or_expired_token_closes_4401(stack: Stack, token: str) -> None:
    """Invalid or expired token, or none and a first frame other than `auth`: 4401."""
    if token == "expired":
        claims = jwt.decode(stack.tokens["alice"], options={"verify_signature": False})
        token = jwt.encode({**claims, "exp": int(time.time()) - 5}, SECRET_KEY, ALGORITHM)
    ws = await open_ws(stack.server.ws, token or None)
    if not token:
        await ws.send(json.dumps({"type": "heartbeat", "ts": 1}))
    assert await close_code(ws) == 4401


async def test_customer_asking_for_all_gets_forbidden_and_stays_open(stack: Stack) -> None:
    """A customer subscribing to `all` gets a `forbidden` error; the connection still works."""
    ws = await open_ws(stack.server.ws, stack.tokens["bob"])
    await next_frame(ws, "welcome")
    await ws.send(json.dumps({"type": "subscribe", "scope": "all", "ref": 9}))
    error = await next_frame(ws, "error")
    assert (error["code"], error["ref"]) == ("forbidden", 9)
    await ws.send(json.dumps({"type": "heartbeat", "ts": 1}))
    assert (await next_frame(ws, "heartbeat_ack"))["ts"] == 1
    await ws.close()


async def test_malformed_frames_get_errors_and_the_connection_keeps_working(stack: Stack) -> None:
    """Bad JSON, unknown types, bad fields and binary frames each get an error frame."""
    ws = await open_ws(stack.server.ws, stack.tokens["alice"])
    await next_frame(ws, "welcome")
    cases = [
        ("{oops", "bad_json"),
        ('{"type":"dance"}', "unknown_type"),
        ('{"type":"resume","since":"x"}', "bad_message"),
        ('{"type":"subscribe","scope":"order:999999"}', "not_found"),
        (b"\x00\x01", "bad_message"),
    ]
    for frame, code in cases:
        await ws.send(frame)
        assert (await next_frame(ws, "error"))["code"] == code
    await ws.send(json.dumps({"type": "heartbeat", "ts": 2.5, "ref": "still-here"}))
    assert (await next_frame(ws, "heartbeat_ack"))["ref"] == "still-here"
    await ws.close()


async def test_oversized_frame_closes_1009(stack: Stack) -> None:
    """A frame over WEBSOCKET_MAX_MESSAGE_BYTES closes the connection with 1009."""
    ws = await open_ws(stack.server.ws, stack.tokens["alice"])
    await next_frame(ws, "welcome")
    await ws.send(json.dumps({"type": "heartbeat", "pad": "x" * 5000}))
    assert await close_code(ws) == 1009


async def test_silent_client_is_closed_4408_within_the_bound(stack: Stack) -> None:
    """A client that sends nothing is closed with 4408 within timeout plus the check period."""
    started = time.monotonic()
    ws = await open_ws(stack.server.ws, stack.tokens["alice"])
    await next_frame(ws, "welcome", answer_heartbeats=False)
    assert await close_code(ws) == 4408
    elapsed = time.monotonic() - started
    # timeout 2 s, ticker period 0.125 s; the rest is scheduling slack on a shared machine.
    assert 2.0 <= elapsed <= 2.0 + 0.125 + 1.0, elapsed
    print(f"silence-to-4408 at test settings: {elapsed:.3f} s")


async def test_clients_killed_at_the_tcp_level_are_torn_down(stack: Stack) -> None:
    """Aborted TCP connections leave no open connection and no group membership behind."""
    base = stack.server.http
    before = metric(base, "ws_connections_open")
    clients = [await open_ws(stack.server.ws, stack.tokens["bob"]) for _ in range(5)]
    for ws in clients:
        await next_frame(ws, "welcome")
    assert metric(base, "ws_connections_open") == before + 5
    for ws in clients:
        ws.transport.abort()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and metric(base, "ws_connections_open") > before:
        await asyncio.sleep(0.1)
    assert metric(base, "ws_connections_open") == before
    assert metric(base, "ws_group_members") == before


def test_log_has_no_error_traceback_or_token(stack: Stack) -> None:
    """After everything above, websocket.log holds no ERROR, traceback or token."""
    text = stack.server.log_text()
    assert " close " in text
    assert stack.server.error_lines() == []
    for token in stack.tokens.values():
        assert token not in text
    assert not re.search(r"eyJ[\w-]{10,}\.[\w-]{10,}", text)


async def test_server_frames_larger_than_the_client_frame_limit_are_delivered(stack: Stack) -> None:
    """The frame-size limit applies to client frames only: a 5 KB update reaches the client."""
    ws = await open_ws(stack.server.ws, stack.tokens["alice"])
    await next_frame(ws, "welcome")
    items = [{"name": "x" * 100, "qty": 1} for _ in range(40)]
    status, order = await acall(
        "POST", f"{stack.server.http}/api/orders/", stack.tokens["alice"], {"items": items}
    )
    assert status == 201, order
    update = await next_frame(ws, "order.update")
    assert update["order"]["items"] == items
    await ws.close()


async def test_permessage_deflate_is_refused(stack: Stack) -> None:
    """A client offering permessage-deflate gets plain frames: updates are framed once for all."""
    ws = await open_ws(stack.server.ws, stack.tokens["alice"])
    assert ws.protocol.extensions == []
    await next_frame(ws, "welcome")
    await ws.close()
