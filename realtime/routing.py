"""Routes for a host project's own `asgi.py` (docs/integrate.md):

    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.core.asgi import get_asgi_application
    from django.urls import re_path

    from realtime.routing import sse_urlpatterns, websocket_urlpatterns

    django_app = get_asgi_application()
    application = ProtocolTypeRouter({
        "http": URLRouter([*sse_urlpatterns(), re_path(r"", django_app)]),
        "websocket": URLRouter(websocket_urlpatterns()),
    })

Both serve the same connections under stock `daphne` and `realtime serve`.
`ByType` and `ByPath` route the same way at about 1 KB less per open
connection (docs/integrate.md)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from typing import Any

from django.urls import URLPattern, path

from realtime.observability.logging import LIFECYCLE_LOGGER, log_event

logger = logging.getLogger(LIFECYCLE_LOGGER)


def _forms(prefix: str) -> tuple[str, str]:
    """`prefix` with and without its trailing slash, without the leading one."""
    bare = prefix.strip("/")
    return f"{bare}/", bare


def _both(prefix: str, app: Any) -> list[URLPattern]:
    return [path(form, app) for form in _forms(prefix)]


def exact_paths(prefix: str, app: Any) -> dict[str, Any]:
    """The paths `_both` matches, for `ByPath`."""
    return {f"/{form}": app for form in _forms(prefix)}


def websocket_urlpatterns(prefix: str = "ws/orders/") -> list[URLPattern]:
    """The WebSocket endpoint, for the `websocket` side of a URLRouter."""
    from realtime.ws.consumer import OrdersConsumer

    return _both(prefix, OrdersConsumer.as_asgi())


def sse_urlpatterns(prefix: str = "sse/orders/") -> list[URLPattern]:
    """The Server-Sent Events endpoint, for the `http` side of a URLRouter."""
    from realtime.sse.stream import OrdersStream

    return _both(prefix, OrdersStream.as_asgi())


# The routers below have a plain (not async) __call__ that hands back the
# chosen application's awaitable: a WebSocket or stream open for hours then
# holds its consumer's coroutine only, not one per routing layer (and no copy
# of its scope, which channels' URLRouter makes), about 1 KB per connection.
# asgiref would take a plain __call__ for an ASGI 2 application, hence the mark.


class ByType:
    """channels' ProtocolTypeRouter: each scope type to its application."""

    _asgi_single_callable = True

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
        app = self.routes.get(scope["type"])
        if app is None:
            raise ValueError(f"no application for scope type {scope['type']!r}")
        return app(scope, receive, send)  # type: ignore[no-any-return]


class ByPath:
    """Requests to a few exact paths go to their own application, the rest to
    `fallback`: one dict lookup per request, no URL resolving."""

    _asgi_single_callable = True

    def __init__(self, routes: dict[str, Any], fallback: Any) -> None:
        self.routes = routes
        self.fallback = fallback

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
        app = self.routes.get(scope.get("path", ""), self.fallback)
        return app(scope, receive, send)  # type: ignore[no-any-return]


async def unknown_websocket_path(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Refuse the handshake with a JSON 404 saying where the endpoint is (the
    ASGI denial-response extension), or a plain refusal where the server has
    no such extension."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    path = str(scope.get("path", ""))
    log_event(logger, "unknown path", path=path[:200])
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    detail = {"detail": f"no WebSocket endpoint at {path[:200]}: connect to /ws/orders/"}
    await send(
        {
            "type": "websocket.http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "websocket.http.response.body", "body": json.dumps(detail).encode()})
