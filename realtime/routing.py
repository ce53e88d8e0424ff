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

Both serve the same connections under stock `daphne` and `realtime serve`."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path


def _both(prefix: str, app: Any) -> list[URLPattern]:
    """`prefix` with and without its trailing slash."""
    bare = prefix.strip("/")
    return [path(f"{bare}/", app), path(bare, app)]


def websocket_urlpatterns(prefix: str = "ws/orders/") -> list[URLPattern]:
    """The WebSocket endpoint, for the `websocket` side of a URLRouter."""
    from realtime.ws.consumer import OrdersConsumer

    return _both(prefix, OrdersConsumer.as_asgi())


def sse_urlpatterns(prefix: str = "sse/orders/") -> list[URLPattern]:
    """The Server-Sent Events endpoint, for the `http` side of a URLRouter."""
    from realtime.sse.stream import OrdersStream

    return _both(prefix, OrdersStream.as_asgi())
