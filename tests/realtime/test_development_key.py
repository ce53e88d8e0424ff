"""The development-key guard: loopback clients reach the application through
it without a frame of its own; others get 503, or 1013 with no denial response."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime.development_key import DETAIL, LoopbackOnly

pytestmark = pytest.mark.timeout(10)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "reached"})


def guard() -> LoopbackOnly:
    guarding = LoopbackOnly(app)
    guarding.guarding = True
    return guarding


def run(guarding: LoopbackOnly, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def main() -> None:
        awaitable = guarding(scope, receive, send)
        if scope["client"][0] == "127.0.0.1":
            assert awaitable.cr_code is app.__code__  # type: ignore[attr-defined]
        await awaitable

    asyncio.run(main())
    return sent


def test_a_loopback_client_gets_the_applications_own_coroutine() -> None:
    """Through the guard, a loopback client runs the application's coroutine itself."""
    assert run(guard(), {"type": "websocket", "client": ("127.0.0.1", 1)}) == [{"type": "reached"}]


def test_other_clients_are_refused_with_the_reason() -> None:
    """HTTP gets 503, a WebSocket the 503 denial response, or 1013 where there is none."""
    http = run(guard(), {"type": "http", "client": ("192.0.2.1", 1)})
    assert http[0]["status"] == 503
    assert DETAIL.encode() in http[1]["body"]
    denial = {"websocket.http.response": {}}
    ws = run(guard(), {"type": "websocket", "client": ("192.0.2.1", 1), "extensions": denial})
    assert [m["type"] for m in ws] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    plain = run(guard(), {"type": "websocket", "client": ("192.0.2.1", 1)})
    assert plain == [{"type": "websocket.close", "code": 1013, "reason": DETAIL[:120]}]
