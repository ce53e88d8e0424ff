"""`/health/live`, `/health/ready` and `/metrics` (docs/operations.md).

Readiness checks each dependency on a path of its own: the database with
`SELECT 1`, Redis with a PING on a connection kept for the probe, and the
hub's loops by their state. It never receives on the channel layer: the hub's
blocking receive holds channels-redis's per-process receive lock, so a probe
that receives waits behind it on every idle server.
"""

from __future__ import annotations

import asyncio
import logging
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

logger = logging.getLogger("realtime.server")
# Seconds between the readiness checks each worker makes of itself.
REFRESH_INTERVAL = 10.0

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.Redis] = (
    weakref.WeakKeyDictionary()
)


def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return bool(cursor.fetchone() == (1,))


def redis_in_use() -> bool:
    """Whether the channel layer is Redis (then readiness PINGs it)."""
    layer = settings.CHANNEL_LAYERS.get("default", {})
    return "redis" in str(layer.get("BACKEND", "")).lower()


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


async def readiness(hub: Hub) -> tuple[int, dict[str, object]]:
    """503 only while the database fails or the server drains: without the
    database nothing is served. Without Redis, deliveries go on through the
    database (slower), so the answer is 200 "degraded" with the reasons: a load
    balancer that pulled every replica would turn that into an outage."""
    if hub.draining:
        set_gauges(ready=False, degraded=False)
        return 503, {"status": "draining", "checks": {}}
    redis = redis_in_use()
    probes = [_check(database_sync_to_async(_database_ok)())]
    if redis:
        probes.append(_check(_redis_ok()))
    results = await asyncio.gather(*probes)
    if results[0] == "ok":
        # A hub the database kept from starting at boot starts now, not at
        # the first WebSocket, which a load balancer would never send.
        await _check(_started(hub))
    checks = {"database": results[0], "hub": hub.health(time.monotonic())}
    if redis:
        checks["redis"] = results[1]
    checks["breaker"] = breaker.state.name.lower()
    reasons = [
        f"{name} {value}"
        for name, value in checks.items()
        if name not in ("database", "breaker") and value != "ok"
    ]
    if breaker.state != BreakerState.CLOSED:
        reasons.append(f"channel-layer breaker {checks['breaker']}")
    if checks["database"] != "ok":
        set_gauges(ready=False, degraded=False)
        return 503, {"status": "unavailable", "checks": checks}
    set_gauges(ready=True, degraded=bool(reasons))
    if reasons:
        return 200, {"status": "degraded", "degraded": reasons, "checks": checks}
    return 200, {"status": "ok", "checks": checks}


def set_gauges(*, ready: bool, degraded: bool) -> None:
    metrics.READY.set(1 if ready else 0)
    metrics.DEGRADED.set(1 if degraded else 0)


async def ready(request: HttpRequest) -> JsonResponse:
    status, body = await readiness(get_hub())
    return JsonResponse(body, status=status)


async def refresh_forever(interval: float = REFRESH_INTERVAL) -> None:
    """Each worker keeps its own readiness gauges current, whether or not a
    probe reaches it (under --workers N the load balancer's probe lands on
    one worker at a time)."""
    for _ in range(10**9):
        try:
            await readiness(get_hub())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("readiness refresh failed: %s", type(exc).__name__)
        await asyncio.sleep(interval)


def exposition(request: HttpRequest) -> HttpResponse:
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # One of `--workers N`: what every worker has written, added up.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
