from __future__ import annotations

from django.urls import include, path

from realtime import errors
from realtime.board import views as board
from realtime.observability import health
from realtime.orders.api import api

urlpatterns = [
    path("api/", errors.api_root),
    path("api/", include("realtime.events.urls")),
    path("api/", api.urls),
    path("ws/orders/", errors.websocket_only),
    path("health/live", health.live),
    path("health/ready", health.ready),
    path("metrics", health.exposition),
    path("", board.index),
    path("board/<str:name>", board.asset),
    path("favicon.ico", board.favicon),
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.not_found
handler500 = errors.server_error
