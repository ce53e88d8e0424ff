from __future__ import annotations

from django.urls import path

from realtime.board import views as board
from realtime.observability import health
from realtime.orders.api import api

urlpatterns = [
    path("api/", api.urls),
    path("health/live", health.live),
    path("health/ready", health.ready),
    path("metrics", health.metrics),
    path("", board.index),
    path("board/<str:name>", board.asset),
]
