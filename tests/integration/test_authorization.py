"""Who sees what, on every path of a live server (docs/protocol.md): a customer sees
only their own orders over HTTP (list, get, patch, events) and over the
WebSocket (`mine`, `order:<id>`, resume, `?since`); `all` and writing for
others are staff-only; a foreign Origin and forged tokens are refused."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime.testing.api import acall, new_order
from realtime.testing.processes import Daphne
from tests.integration.conftest import make_server, seed_tokens
from tests.integration.wsclient import close_code, frames_for, next_frame, open_ws

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@dataclass
class World:
    server: Daphne
    tokens: dict[str, str]
    alices: int
    bobs: int


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("authz")
    with make_server(tmp, request.param, "memory", request) as server:
        tokens = seed_tokens(server)
        ids = {owner: new_order(server.http, tokens[owner]) for owner in ("alice", "bob")}
        yield World(server, tokens, ids["alice"], ids["bob"])


async def api(world: World, user: str, method: str, path: str, body: object = None) -> tuple:
    return await acall(method, f"{world.server.http}{path}", world.tokens[user], body)


async def test_http_list_get_and_events_show_a_customer_only_their_orders(world: World) -> None:
    """Bob's list, get and events hold his order only; Alice's is a 404 to him; staff see both."""
    _, listed = await api(world, "bob", "GET", "/api/orders/")
    assert [o["id"] for o in listed] == [world.bobs]
    assert await api(world, "bob", "GET", f"/api/orders/{world.alices}/") == (
        404,
        {"detail": "order not found"},
    )
    _, events = await api(world, "bob", "GET", "/api/events/?since=0")
    assert {e["order"]["id"] for e in events["events"]} == {world.bobs}
    _, everything = await api(world, "staff", "GET", "/api/orders/")
    assert {o["id"] for o in everything} >= {world.alices, world.bobs}


async def test_http_writes_are_limited_to_the_owner_and_staff(world: World) -> None:
    """Bob may not patch Alice's order (404), confirm his own (403) or create for her (403)."""
    patch = {"status": "cancelled"}
    assert (await api(world, "bob", "PATCH", f"/api/orders/{world.alices}/", patch))[0] == 404
    status, body = await api(
        world, "bob", "PATCH", f"/api/orders/{world.bobs}/", {"status": "confirmed"}
    )
    assert (status, body) == (403, {"detail": "customers may only cancel their orders"})
    create = {"items": [{"name": "tea", "qty": 1}], "owner": "alice"}
    status, body = await api(world, "bob", "POST", "/api/orders/", create)
    assert (status, body) == (403, {"detail": "only staff may create orders for another user"})
    _, alices = await api(world, "alice", "GET", f"/api/orders/{world.alices}/")
    assert alices["status"] == "pending"


async def test_websocket_scopes_are_checked(world: World) -> None:
    """Bob's subscribe to Alice's order is not_found, to `all` forbidden, to his own fine."""
    ws = await open_ws(world.server.ws, world.tokens["bob"])
    await next_frame(ws, "welcome")
    for scope, code in ((f"order:{world.alices}", "not_found"), ("all", "forbidden")):
        await ws.send(json.dumps({"type": "subscribe", "scope": scope, "ref": scope}))
        error = await next_frame(ws, "error")
        assert (error["code"], error["ref"]) == (code, scope)
    await ws.send(json.dumps({"type": "subscribe", "scope": f"order:{world.bobs}"}))
    assert (await next_frame(ws, "subscribed"))["scope"] == f"order:{world.bobs}"
    await ws.close()


async def test_resume_and_since_replay_only_what_the_user_may_see(world: World) -> None:
    """`?since=0` and a `resume` frame replay Bob's events and none of Alice's."""
    ws = await open_ws(world.server.ws, world.tokens["bob"], since=0)
    await next_frame(ws, "welcome")
    replayed = await frames_for(ws, 1.0)
    await ws.send(json.dumps({"type": "resume", "since": 0}))
    replayed += await frames_for(ws, 1.0)
    updates = [f["order"]["id"] for f in replayed if f["type"] == "order.update"]
    assert updates == [world.bobs]
    assert [f["type"] for f in replayed].count("resumed") == 2
    await ws.close()


async def test_live_updates_reach_only_the_owner_and_staff(world: World) -> None:
    """A change to Alice's order reaches Alice and staff on `all`, never Bob."""
    watchers = {user: await open_ws(world.server.ws, world.tokens[user]) for user in world.tokens}
    for ws in watchers.values():
        await next_frame(ws, "welcome")
    await watchers["staff"].send(json.dumps({"type": "subscribe", "scope": "all"}))
    await next_frame(watchers["staff"], "subscribed")
    status, _ = await api(
        world, "staff", "PATCH", f"/api/orders/{world.alices}/", {"status": "confirmed"}
    )
    assert status == 200
    frames = await asyncio.gather(*(frames_for(ws, 1.0) for ws in watchers.values()))
    seen = dict(zip(watchers, frames, strict=True))
    got = {
        user: [f["order"]["id"] for f in frames if f["type"] == "order.update"]
        for user, frames in seen.items()
    }
    assert got == {"alice": [world.alices], "bob": [], "staff": [world.alices]}
    for ws in watchers.values():
        await ws.close()


async def test_foreign_origin_is_refused_4403(world: World) -> None:
    """A browser page from another site is closed 4403; the server's own origin is accepted."""
    url = f"{world.server.ws}?token={world.tokens['alice']}"
    foreign = await connect(url, origin="https://evil.example")  # type: ignore[arg-type]
    assert await close_code(foreign) == 4403
    own = await connect(url, origin=f"http://127.0.0.1:{world.server.port}")  # type: ignore[arg-type]
    assert (await next_frame(own, "welcome"))["user"] == "alice"
    await own.close()


def forged_tokens(real: str) -> dict[str, str]:
    header, claims, signature = real.split(".")
    payload = json.loads(base64.urlsafe_b64decode(claims + "=="))
    staff_claims = base64.urlsafe_b64encode(json.dumps({**payload, "staff": True}).encode())
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return {
        "other key": jwt.encode(payload, "not-the-server-secret-0123456789abcdef", "HS256"),
        "edited claims": f"{header}.{staff_claims.rstrip(b'=').decode()}.{signature}",
        "alg none": f"{none_header}.{claims}.",
    }


@pytest.mark.parametrize("forgery", ["other key", "edited claims", "alg none"])
async def test_forged_tokens_are_refused_on_both_paths(world: World, forgery: str) -> None:
    """A token signed with another key, edited, or unsigned gets 4401 and HTTP 401."""
    token = forged_tokens(world.tokens["bob"])[forgery]
    ws = await open_ws(world.server.ws, token)
    assert await close_code(ws) == 4401
    status, body = await acall("GET", f"{world.server.http}/api/orders/", token)
    assert (status, body) == (401, {"detail": "missing, invalid or expired bearer token"})


async def test_unknown_websocket_path_is_refused(world: World) -> None:
    """A WebSocket handshake to a path nobody serves is refused with a JSON 404, not crashed."""
    with pytest.raises(InvalidStatus) as refused:
        await connect(world.server.ws.replace("/ws/orders/", "/ws/other/"))
    assert refused.value.response.status_code == 404
