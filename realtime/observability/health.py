"""`/health/live`, `/health/ready` and `/metrics` (docs/operations.md).

Readiness checks each dependency on a path of its own: the database with
`SELECT 1`, Redis with a PING on a connection kept for the probe, and the
hub's loops by their state. It never receives on the channel layer: the hub's
blocking receive holds channels-redis's per-process receive lock, so a probe
that receives waits behind it on every idle server.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import Awaitable

import redis.asyncio as redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from realtime.delivery.breaker import BreakerState
from realtime.delivery.hub import Hub, get_hub
from realtime.delivery.publisher import LAYER_TIMEOUT, breaker
from realtime.observability import metrics

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.Redis] = (
    weakref.WeakKeyDictionary()
)


def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return bool(cursor.fetchone() == (1,))


def _redis() -> redis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=LAYER_TIMEOUT,
            socket_timeout=LAYER_TIMEOUT,
            max_connections=2,
        )
        _clients[loop] = client
    return client


async def _redis_ok() -> bool:
    return bool(await _redis().ping())


async def _started(hub: Hub) -> bool:
    await hub.start()
    return True


async def _check(probe: Awaitable[bool]) -> str:
    try:
        ok = await asyncio.wait_for(probe, LAYER_TIMEOUT)
    except Exception as exc:
        return f"failed: {type(exc).__name__}"
    return "ok" if ok else "failed"


async def ready(request: HttpRequest) -> JsonResponse:
    hub = get_hub()
    if hub.draining:
        metrics.READY.set(0)
        return JsonResponse({"status": "draining", "checks": {}}, status=503)
    probes = [_check(database_sync_to_async(_database_ok)())]
    if settings.REDIS_URL:
        probes.append(_check(_redis_ok()))
    results = await asyncio.gather(*probes)
    if results[0] == "ok":
        # A hub the database kept from starting at boot starts now, not at
        # the first WebSocket, which a load balancer would never send.
        await _check(_started(hub))
    checks = {"database": results[0], "hub": hub.health(time.monotonic())}
    if settings.REDIS_URL:
        checks["redis"] = results[1]
    healthy = all(v == "ok" for v in checks.values()) and breaker.state != BreakerState.OPEN
    checks["breaker"] = breaker.state.name.lower()
    metrics.READY.set(1 if healthy else 0)
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


def exposition(request: HttpRequest) -> HttpResponse:
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # One of `--workers N`: what every worker has written, added up.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
