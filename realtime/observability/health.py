"""`/health/live`, `/health/ready` and `/metrics` (docs/operations.md).

Readiness checks each dependency on a path of its own: the database with
`SELECT 1`, each of the channel layer's Redis hosts (a shard, or a master
found through the sentinels) with a PING on a connection kept for the probe,
and the hub's loops by their state. It never receives on the channel layer: the hub's
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
from typing import Any

import redis.asyncio as redis
from channels.db import database_sync_to_async
from channels_redis.utils import create_pool, decode_hosts
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from realtime.delivery.hub import Hub, get_hub
from realtime.delivery.layer import LAYER_TIMEOUT, breakers
from realtime.observability import metrics
from realtime.redis_hosts import describe

logger = logging.getLogger("realtime.server")
# Seconds between the readiness checks each worker makes of itself.
REFRESH_INTERVAL = 10.0

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[redis.Redis]] = (
    weakref.WeakKeyDictionary()
)


def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return bool(cursor.fetchone() == (1,))


def redis_hosts() -> list[dict[str, Any]]:
    """The channel layer's Redis hosts, one per shard; none when it is not Redis."""
    layer = settings.CHANNEL_LAYERS.get("default", {})
    config = layer.get("CONFIG", {})
    # A layer that wraps another (the chaos suite's) names it as `inner`.
    inner = config.get("inner")
    if isinstance(inner, dict):
        layer, config = inner, inner.get("CONFIG", {})
    if "redis" not in str(layer.get("BACKEND", "")).lower():
        return []
    return list(decode_hosts(config.get("hosts")))


def _redis_clients(hosts: list[dict[str, Any]]) -> list[redis.Redis]:
    loop = asyncio.get_running_loop()
    clients = _clients.get(loop)
    if clients is None:
        clients = _clients[loop] = [
            redis.Redis(connection_pool=create_pool(host)) for host in hosts
        ]
    return clients


async def _redis_check(hosts: list[dict[str, Any]]) -> str:
    """ "ok", or which shard failed and how."""
    results = await asyncio.gather(*(_check(c.ping()) for c in _redis_clients(hosts)))
    if len(hosts) == 1:
        return results[0]
    failed = [f"{describe(h)} {r}" for h, r in zip(hosts, results, strict=True) if r != "ok"]
    return "; ".join(failed) or "ok"


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
    hosts = redis_hosts()
    probes = [_check(database_sync_to_async(_database_ok)())]
    if hosts:
        probes.append(_redis_check(hosts))
    results = await asyncio.gather(*probes)
    if results[0] == "ok":
        # A hub the database kept from starting at boot starts now, not at
        # the first WebSocket, which a load balancer would never send.
        await _check(_started(hub))
    checks = {"database": results[0], "hub": hub.health(time.monotonic())}
    if hosts:
        checks["redis"] = results[1]
    checks["breaker"] = breakers.state().name.lower()
    reasons = [
        f"{name} {value}"
        for name, value in checks.items()
        if name not in ("database", "breaker") and value != "ok"
    ]
    for shard, state in breakers.not_closed():
        where = f" on shard {shard}" if len(hosts) > 1 else ""
        reasons.append(f"channel-layer breaker {state.name.lower()}{where}")
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
