"""The consumer driven in-process with WebsocketCommunicator (unit level)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from prometheus_client import REGISTRY

from realtime.asgi import application
from realtime.auth.tokens import token_for
from realtime.delivery.hub import get_hub
from realtime.orders import service
from realtime.orders.states import Status
from realtime.ws.wire import PENDING_HOLD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]


@pytest.fixture
async def hub_cleanup() -> AsyncIterator[None]:
    yield
    await get_hub().stop()


async def token(user: Any) -> str:
    return str(await database_sync_to_async(token_for)(user))


async def user(name: str, staff: bool = False) -> Any:
    return await database_sync_to_async(get_user_model().objects.create_user)(name, is_staff=staff)


async def connect(token: str, query: str = "") -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator = WebsocketCommunicator(application, f"/ws/orders/?token={token}{query}")
    connected, _ = await communicator.connect()
    assert connected
    return communicator, await communicator.receive_json_from(timeout=3)


async def next_of(communicator: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    for _ in range(50):
        frame: dict[str, Any] = await communicator.receive_json_from(timeout=3)
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


@pytest.mark.usefixtures("hub_cleanup")
async def test_welcome_then_teardown_leaves_nothing_behind() -> None:
    """A valid token gets welcome; after disconnect the hub holds no connection or group."""
    alice = await user("alice")
    communicator, welcome = await connect(await token(alice))
    assert welcome["type"] == "welcome"
    assert welcome["user"] == "alice"
    assert len(get_hub().subscribers) == 1
    await communicator.disconnect()
    assert get_hub().subscribers == set()
    assert get_hub().group_sizes() == (0, 0, 0)


@pytest.mark.usefixtures("hub_cleanup")
async def test_bad_token_is_closed_4401_after_accept() -> None:
    """An invalid token is accepted and then closed with 4401."""
    communicator = WebsocketCommunicator(application, "/ws/orders/?token=garbage")
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_output(timeout=3)) == {
        "type": "websocket.close",
        "code": 4401,
        "reason": "invalid token",
    }


@pytest.mark.usefixtures("hub_cleanup")
async def test_foreign_origin_is_closed_4403() -> None:
    """A browser Origin outside ALLOWED_HOSTS is closed with 4403."""
    alice = await user("alice")
    communicator = WebsocketCommunicator(
        application,
        f"/ws/orders/?token={await token(alice)}",
        headers=[(b"origin", b"https://evil.example")],
    )
    await communicator.connect()
    assert (await communicator.receive_output(timeout=3))["code"] == 4403


@pytest.mark.usefixtures("hub_cleanup")
async def test_order_changes_reach_the_owner_in_seq_order() -> None:
    """Creating and changing an order pushes order.update frames with rising seq and version."""
    alice = await user("alice")
    communicator, _ = await connect(await token(alice))
    order = await database_sync_to_async(service.create_order)(alice, [{"name": "tea", "qty": 1}])
    await database_sync_to_async(service.change_status)(order.pk, Status.CONFIRMED, {"n": 1})
    first = await next_of(communicator, "order.update")
    second = await next_of(communicator, "order.update")
    assert (first["order"]["version"], second["order"]["version"]) == (1, 2)
    assert second["seq"] > first["seq"]
    assert second["meta"] == {"n": 1}
    await communicator.disconnect()


@pytest.mark.usefixtures("hub_cleanup")
async def test_resume_replays_missed_events_exactly_once() -> None:
    """?since= replays every later event once, then reports resumed with the cursor."""
    alice = await user("alice")
    order = await database_sync_to_async(service.create_order)(alice, [{"name": "tea", "qty": 1}])
    await database_sync_to_async(service.change_status)(order.pk, Status.CONFIRMED)
    communicator, welcome = await connect(await token(alice), "&since=0")
    replayed = [await next_of(communicator, "order.update") for _ in range(2)]
    resumed = await next_of(communicator, "resumed")
    assert [f["order"]["version"] for f in replayed] == [1, 2]
    assert resumed == {"type": "resumed", "since": 0, "replayed": 2, "cursor": welcome["cursor"]}
    await communicator.disconnect()


@pytest.mark.usefixtures("hub_cleanup")
async def test_a_recent_resume_is_served_from_memory_with_the_same_visibility(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A resume from inside the hub's recent window needs no database, and shows only own events."""
    alice, bob = await user("alice"), await user("bob")
    watcher, welcome = await connect(await token(alice))
    for owner in (alice, bob, alice):
        await database_sync_to_async(service.create_order)(owner, [{"name": "tea", "qty": 1}])
    live = [await next_of(watcher, "order.update") for _ in range(2)]
    caplog.set_level(logging.INFO, logger="realtime.ws")
    since = f"&since={welcome['cursor']}"
    communicator, _ = await connect(await token(alice), since)
    replayed = [await next_of(communicator, "order.update") for _ in range(2)]
    resumed = await next_of(communicator, "resumed")
    assert [f["seq"] for f in replayed] == [f["seq"] for f in live]
    assert (resumed["replayed"], resumed["cursor"]) == (2, live[-1]["seq"])
    [resume] = [r for r in caplog.records if r.getMessage() == "resume"]
    assert resume.fields["source"] == "memory"  # type: ignore[attr-defined]
    await communicator.disconnect()
    await watcher.disconnect()


@pytest.mark.usefixtures("hub_cleanup")
async def test_silent_connection_is_closed_4408() -> None:
    """With nothing received for the heartbeat timeout, the server closes with 4408."""
    alice = await user("alice")
    communicator, _ = await connect(await token(alice))
    for _ in range(20):
        output = await communicator.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            assert output["code"] == 4408
            break
    else:
        raise AssertionError("no close")
    assert get_hub().subscribers == set()


@pytest.mark.usefixtures("hub_cleanup")
async def test_repeated_violations_close_4400() -> None:
    """Each bad frame gets an error; past the limit the connection is closed with 4400."""
    alice = await user("alice")
    communicator, _ = await connect(await token(alice))
    for _ in range(11):
        await communicator.send_to(text_data=json.dumps({"type": "nope"}))
    codes = []
    for _ in range(40):
        output = await communicator.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            codes.append(output["code"])
            break
        frame = json.loads(output["text"])
        if frame["type"] == "error":
            codes.append(frame["code"])
    assert codes == ["unknown_type"] * 11 + [4400]


def received() -> float:
    return REGISTRY.get_sample_value("ws_messages_received_total") or 0.0


@pytest.mark.usefixtures("hub_cleanup")
async def test_every_frame_from_the_client_is_counted() -> None:
    """ws_messages_received_total grows by one per client frame, good or bad."""
    alice = await user("alice")
    communicator, _ = await connect(await token(alice))
    before = received()
    await communicator.send_to(text_data=json.dumps({"type": "heartbeat", "ts": 1}))
    await next_of(communicator, "heartbeat_ack")
    await communicator.send_to(text_data="not json")
    await next_of(communicator, "error")
    assert received() == before + 2
    await communicator.disconnect()


@pytest.mark.usefixtures("hub_cleanup")
async def test_a_connect_without_a_token_is_welcomed_after_an_auth_first_frame() -> None:
    """No token in the URL: the first frame's token admits it, scopes and since from the URL."""
    staff = await user("staff", staff=True)
    communicator = WebsocketCommunicator(application, "/ws/orders/?scopes=all")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "auth", "token": await token(staff)})
    welcome = await communicator.receive_json_from(timeout=3)
    assert welcome["type"] == "welcome"
    assert welcome["user"] == "staff"
    assert (await next_of(communicator, "subscribed"))["scope"] == "all"
    await communicator.disconnect()


@pytest.mark.usefixtures("hub_cleanup")
async def test_the_pending_hold_is_taken_out_of_the_scope_and_released() -> None:
    """The wait for an auth frame holds its place once and frees it; the scope keeps no hold."""
    staff = await user("staff", staff=True)
    calls: list[str] = []

    def hold() -> Any:
        calls.append("held")
        return lambda: calls.append("released")

    communicator = WebsocketCommunicator(application, "/ws/orders/")
    extensions = communicator.scope.setdefault("extensions", {})
    extensions[PENDING_HOLD] = hold
    connected, _ = await communicator.connect()
    assert connected
    assert PENDING_HOLD not in extensions
    await communicator.send_json_to({"type": "auth", "token": await token(staff)})
    assert (await communicator.receive_json_from(timeout=3))["type"] == "welcome"
    assert calls == ["held", "released"]
    await communicator.disconnect()


@pytest.mark.usefixtures("hub_cleanup")
@pytest.mark.parametrize(
    ("first", "reason"),
    [
        ({"type": "subscribe", "scope": "mine"}, "the first frame must be an auth frame"),
        ({"type": "auth", "token": "garbage"}, "invalid token"),
        ({"type": "auth", "token": ""}, "token must be a non-empty string"),
    ],
)
async def test_a_first_frame_that_is_not_a_valid_auth_is_closed_4401(
    first: dict[str, str], reason: str
) -> None:
    """Anything but an `auth` frame with a good token first: 4401 with the reason."""
    communicator = WebsocketCommunicator(application, "/ws/orders/")
    await communicator.connect()
    await communicator.send_json_to(first)
    assert (await communicator.receive_output(timeout=3)) == {
        "type": "websocket.close",
        "code": 4401,
        "reason": reason,
    }


@pytest.mark.usefixtures("hub_cleanup")
async def test_a_socket_that_sends_no_auth_frame_is_closed_4401_at_the_header_deadline(
    settings: Any,
) -> None:
    """No token and no frame: 4401 once HTTP_HEADER_TIMEOUT has passed, and nothing is left."""
    settings.HTTP_HEADER_TIMEOUT = 0.3
    communicator = WebsocketCommunicator(application, "/ws/orders/")
    await communicator.connect()
    assert (await communicator.receive_output(timeout=3)) == {
        "type": "websocket.close",
        "code": 4401,
        "reason": "no auth frame within 0.3 s",
    }
    assert get_hub().subscribers == set()
