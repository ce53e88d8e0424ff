"""The stream driven in-process as an ASGI application (unit level): the
connection core behind an HTTP response, refusals before it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from realtime.auth.tokens import token_for
from realtime.client.eventstream import EventStreamDecoder, ServerEvent
from realtime.delivery.hub import get_hub
from realtime.sse.stream import OrdersStream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]


@pytest.fixture
async def hub_cleanup() -> AsyncIterator[None]:
    yield
    await get_hub().stop()


class Request:
    """One in-process request: what the application sent, and its disconnect."""

    def __init__(self, method: str = "GET", query: str = "", headers: dict[str, str] | None = None):
        self.scope = {
            "type": "http",
            "method": method,
            "path": "/sse/orders/",
            "query_string": query.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
            "client": ["127.0.0.1", 5555],
        }
        self.sent: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})
        self.decoder = EventStreamDecoder()
        self.events: list[ServerEvent] = []
        self.task: asyncio.Task[None] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and self.status == 200:
            self.events += self.decoder.feed(message.get("body", b""))

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"]) if self.sent else 0

    def start(self) -> None:
        self.task = asyncio.create_task(
            OrdersStream.as_asgi()(self.scope, self.inbox.get, self.send)
        )

    async def until(self, kind: str) -> ServerEvent:
        for _ in range(300):
            found = [e for e in self.events if e.event == kind]
            if found:
                return found[-1]
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {kind} event in {self.events}")

    async def disconnect(self) -> None:
        self.inbox.put_nowait({"type": "http.disconnect"})
        assert self.task is not None
        await asyncio.wait_for(self.task, 3)


async def token(user: Any) -> str:
    return str(await database_sync_to_async(token_for)(user))


async def user(name: str, staff: bool = False) -> Any:
    return await database_sync_to_async(get_user_model().objects.create_user)(name, is_staff=staff)


@pytest.mark.usefixtures("hub_cleanup")
async def test_a_stream_opens_with_retry_and_welcome_and_tears_down_on_disconnect() -> None:
    """200 text/event-stream, `retry:`, welcome; a disconnect leaves the hub empty."""
    alice = await user("alice")
    request = Request(headers={"Authorization": f"Bearer {await token(alice)}"})
    request.start()
    welcome = await request.until("welcome")
    assert request.status == 200
    assert dict(request.sent[0]["headers"])[b"content-type"].startswith(b"text/event-stream")
    assert json.loads(welcome.data)["user"] == "alice"
    assert request.decoder.retry is not None
    assert len(get_hub().subscribers) == 1
    await request.disconnect()
    assert get_hub().subscribers == set()
    assert get_hub().group_sizes() == (0, 0, 0)


@pytest.mark.usefixtures("hub_cleanup")
async def test_a_refusal_is_a_json_answer_and_no_stream() -> None:
    """A bad token: 401 with the close code and reason, and the hub never sees it."""
    request = Request(query="token=garbage")
    request.start()
    assert request.task is not None
    await asyncio.wait_for(request.task, 3)
    assert request.status == 401
    assert json.loads(request.sent[1]["body"]) == {"detail": "invalid token", "code": 4401}
    assert get_hub().subscribers == set()


@pytest.mark.usefixtures("hub_cleanup")
async def test_only_get_is_served() -> None:
    """Any other method gets 405 with Allow: GET."""
    request = Request(method="POST")
    request.start()
    assert request.task is not None
    await asyncio.wait_for(request.task, 3)
    assert request.status == 405
    assert dict(request.sent[0]["headers"])[b"allow"] == b"GET"


@pytest.mark.usefixtures("hub_cleanup")
async def test_the_drain_sends_a_close_event_and_ends_the_response() -> None:
    """A hub closing everyone gives the stream `close` 1012 and more_body false."""
    alice = await user("alice")
    request = Request(headers={"Authorization": f"Bearer {await token(alice)}"})
    request.start()
    await request.until("welcome")
    get_hub().close_all(1012, "server restarting")
    closing = await request.until("close")
    assert json.loads(closing.data) == {
        "type": "close",
        "code": 1012,
        "reason": "server restarting",
    }
    for _ in range(100):
        if request.sent[-1].get("more_body") is False:
            break
        await asyncio.sleep(0.01)
    assert request.sent[-1]["more_body"] is False
    await request.disconnect()
