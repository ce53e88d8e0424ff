"""The ASGI application: HTTP through Django, `/ws/orders/` to the consumer."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path, re_path

django_app = get_asgi_application()

from realtime.observability.http import HttpObserver  # noqa: E402
from realtime.ws.consumer import OrdersConsumer  # noqa: E402


async def unknown_websocket_path(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Refuse the handshake (HTTP 403) instead of raising inside the router."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


application = ProtocolTypeRouter(
    {
        "http": HttpObserver(django_app),
        "websocket": URLRouter(
            [
                path("ws/orders/", OrdersConsumer.as_asgi()),
                re_path(r"", unknown_websocket_path),  # type: ignore[arg-type]
            ]
        ),
    }
)
