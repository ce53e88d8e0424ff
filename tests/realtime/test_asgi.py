"""The ASGI application's routing: each scope reaches its endpoint's own
coroutine, with the scope the server made, and no router keeps a frame."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.compatibility import guarantee_single_callable

from realtime import asgi
from realtime.sse.stream import OrdersStream
from realtime.ws.consumer import OrdersConsumer

pytestmark = pytest.mark.timeout(10)


async def receive() -> dict[str, Any]:
    return {"type": "websocket.disconnect", "code": 1000}


async def send(message: dict[str, Any]) -> None:
    pass


def scope(kind: str, path: str) -> dict[str, Any]:
    return {"type": kind, "path": path, "client": ("127.0.0.1", 1), "headers": []}


@pytest.mark.parametrize("path", ["/ws/orders/", "/ws/orders"])
def test_a_websocket_gets_the_consumers_own_coroutine_and_the_servers_scope(path: str) -> None:
    """No router's coroutine sits between the server and the consumer, and no scope copy."""
    made = scope("websocket", path)
    awaitable = asgi.application(made, receive, send)
    try:
        assert awaitable.cr_code is OrdersConsumer.__call__.__code__
        assert awaitable.cr_frame.f_locals["scope"] is made
    finally:
        awaitable.close()


@pytest.mark.parametrize("path", ["/sse/orders/", "/sse/orders"])
def test_a_stream_gets_the_streams_own_coroutine_inside_the_http_observer(path: str) -> None:
    """The SSE paths reach the stream's coroutine through the HTTP observer alone."""
    made = scope("http", path)
    awaitable = asgi.application(made, receive, send)
    try:
        assert awaitable.cr_code is asgi.HttpObserver.__call__.__code__
        inner = asgi.application.app.routes["http"].app(made, receive, send)
        assert inner.cr_code is OrdersStream.__call__.__code__
        inner.close()
    finally:
        awaitable.close()


def test_an_unknown_websocket_path_and_an_unknown_scope_type() -> None:
    """Other WebSocket paths get the refusal with a JSON 404; other scope types an error."""
    awaitable = asgi.application(scope("websocket", "/ws/other/"), receive, send)
    try:
        assert awaitable.cr_code is asgi.unknown_websocket_path.__code__
    finally:
        awaitable.close()
    with pytest.raises(ValueError, match="no application for scope type 'lifespan'"):
        asgi.application(scope("lifespan", ""), receive, send)


def test_asgiref_takes_every_layer_for_an_asgi_3_application() -> None:
    """A plain `__call__` is marked single-callable, so servers do not wrap it as ASGI 2."""
    for app in (
        asgi.application,
        asgi.application.app,
        asgi.application.app.routes["websocket"],
        asgi.consumer,
        OrdersStream.as_asgi(),
    ):
        assert guarantee_single_callable(app) is app
