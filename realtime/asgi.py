"""The ASGI application: `/ws/orders/` to the WebSocket consumer,
`/sse/orders/` to the Server-Sent Events stream, every other HTTP request
through Django."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import re_path

django_app = get_asgi_application()

from realtime import conf  # noqa: E402
from realtime.development_key import LoopbackOnly  # noqa: E402
from realtime.finished_requests import FinishedRequests  # noqa: E402
from realtime.observability.http import HttpObserver  # noqa: E402
from realtime.observability.logging import LIFECYCLE_LOGGER, log_event  # noqa: E402
from realtime.request_threads import RequestThreads  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402
from realtime.sse.stream import OrdersStream  # noqa: E402


class ByPath:
    """HTTP requests to a few exact paths go to their own application, the
    rest to `fallback`: one dict lookup per request, no URL resolving."""

    def __init__(self, routes: dict[str, Any], fallback: Any) -> None:
        self.routes = routes
        self.fallback = fallback

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.routes.get(scope.get("path", ""), self.fallback)(scope, receive, send)


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


logger = logging.getLogger(LIFECYCLE_LOGGER)
stream = OrdersStream.as_asgi()

application = LoopbackOnly(
    ProtocolTypeRouter(
        {
            "http": HttpObserver(
                ByPath(
                    {"/sse/orders/": stream, "/sse/orders": stream},
                    FinishedRequests(RequestThreads(django_app, conf.settings.HTTP_THREADS)),
                )
            ),
            "websocket": URLRouter(
                [
                    *websocket_urlpatterns(),
                    re_path(r"", unknown_websocket_path),  # type: ignore[arg-type]
                ]
            ),
        }
    )
)
