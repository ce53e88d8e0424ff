"""`FinishedRequests` (`realtime/finished_requests.py`): the disconnect daphne
sends after every response is kept from Django, whose handler otherwise
leaves a reference cycle per request; a disconnect before the response ends
still reaches the application."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler

from realtime.finished_requests import FinishedRequests

pytestmark = pytest.mark.timeout(30)

REQUESTS = 20
SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/health/live",
    "raw_path": b"/health/live",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"127.0.0.1")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}


async def as_daphne_serves(app: Any) -> list[dict[str, Any]]:
    """One GET as daphne delivers it: the body, then a disconnect once the response is out."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            inbox.put_nowait({"type": "http.disconnect"})

    await app(dict(SCOPE), inbox.get, send)
    return sent


async def unreachable_after_requests(app: Any) -> int:
    """Objects only the cycle collector can free after REQUESTS requests through `app`."""
    gc.collect()
    gc.disable()
    try:
        for _ in range(REQUESTS):
            sent = await as_daphne_serves(app)
            assert sent[0]["status"] == 200
        return gc.collect()
    finally:
        gc.enable()


async def test_djangos_handler_leaves_no_cycle_per_request_behind_it() -> None:
    """Django alone leaves dozens of cyclic objects per request; behind FinishedRequests, none."""
    django_alone = await unreachable_after_requests(ASGIHandler())
    wrapped = await unreachable_after_requests(FinishedRequests(ASGIHandler()))
    assert django_alone >= REQUESTS * 20
    assert wrapped < REQUESTS


async def test_a_disconnect_before_the_response_reaches_the_application() -> None:
    """A client that leaves mid-request is still seen as gone."""
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append((await receive())["type"])

    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "http.disconnect"})
    await FinishedRequests(app)(dict(SCOPE), inbox.get, inbox.put)
    assert seen == ["http.disconnect"]


async def test_after_the_response_a_read_waits_until_it_is_cancelled() -> None:
    """A disconnect after the response is never delivered; the read ends when cancelled."""
    reads: list[asyncio.Task[Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        reads.append(asyncio.create_task(receive()))

    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await FinishedRequests(app)(dict(SCOPE), inbox.get, send)
    inbox.put_nowait({"type": "http.disconnect"})
    for _ in range(10):
        await asyncio.sleep(0)
    assert not reads[0].done()
    reads[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await reads[0]
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
