"""The shop's ASGI application: Django for HTTP, plus the order stream as
WebSockets at /ws/orders/ and Server-Sent Events at /sse/orders/."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import re_path

django_app = get_asgi_application()

from realtime.routing import sse_urlpatterns, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": URLRouter([*sse_urlpatterns(), re_path(r"", django_app)]),
        "websocket": URLRouter(websocket_urlpatterns()),
    }
)
