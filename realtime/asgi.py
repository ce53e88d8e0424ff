"""The ASGI application: `/ws/orders/` to the WebSocket consumer,
`/sse/orders/` to the Server-Sent Events stream, every other HTTP request
through Django."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")

from django.core.asgi import get_asgi_application

django_app = get_asgi_application()

from realtime import conf  # noqa: E402
from realtime.development_key import LoopbackOnly  # noqa: E402
from realtime.finished_requests import FinishedRequests  # noqa: E402
from realtime.observability.http import HttpObserver  # noqa: E402
from realtime.request_threads import RequestThreads  # noqa: E402
from realtime.routing import ByPath, ByType, exact_paths, unknown_websocket_path  # noqa: E402
from realtime.sse.stream import OrdersStream  # noqa: E402
from realtime.ws.consumer import OrdersConsumer  # noqa: E402

stream = OrdersStream.as_asgi()
consumer = OrdersConsumer.as_asgi()
application = LoopbackOnly(
    ByType(
        {
            "http": HttpObserver(
                ByPath(
                    exact_paths("sse/orders/", stream),
                    FinishedRequests(RequestThreads(django_app, conf.settings.HTTP_THREADS)),
                )
            ),
            "websocket": ByPath(exact_paths("ws/orders/", consumer), unknown_websocket_path),
        }
    )
)
