"""`/health/live`, `/health/ready` (database and channel layer) and `/metrics`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from realtime.delivery.breaker import BreakerState
from realtime.delivery.hub import get_hub
from realtime.delivery.publisher import LAYER_TIMEOUT, breaker

PROBE = {"type": "health.probe"}


def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return bool(cursor.fetchone() == (1,))


async def _layer_ok() -> bool:
    layer = get_channel_layer()
    if layer is None:
        return True
    channel = await layer.new_channel("health.")
    await layer.send(channel, PROBE)
    message = await layer.receive(channel)
    return bool(message == PROBE)


async def _check(probe: Awaitable[bool]) -> str:
    try:
        ok = await asyncio.wait_for(probe, LAYER_TIMEOUT)
    except Exception as exc:
        return f"failed: {type(exc).__name__}"
    return "ok" if ok else "failed"


async def ready(request: HttpRequest) -> JsonResponse:
    if get_hub().draining:
        return JsonResponse({"status": "draining", "checks": {}}, status=503)
    database = await _check(database_sync_to_async(_database_ok)())
    layer = await _check(_layer_ok())
    checks = {"database": database, "channel_layer": layer, "breaker": breaker.state.name.lower()}
    healthy = database == "ok" and layer == "ok" and breaker.state != BreakerState.OPEN
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
