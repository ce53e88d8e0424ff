"""Publishing committed events to the channel layer, behind a circuit breaker
with bounded timeouts (docs/guarantees.md). A publish that fails is not lost:
the hubs' database repair delivers it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from realtime.delivery.breaker import BreakerState, CircuitBreaker
from realtime.delivery.events import Event
from realtime.observability import metrics

if TYPE_CHECKING:
    from realtime.orders.models import OrderEvent

logger = logging.getLogger("realtime.delivery")

EVENTS_GROUP = "orders.events"
LAYER_TIMEOUT = 2.0

breaker = CircuitBreaker()


def _record_breaker() -> None:
    metrics.BREAKER_STATE.set(int(breaker.state))


async def layer_call(name: str, call: Coroutine[Any, Any, object]) -> bool:
    """Await one channel-layer call under the breaker; True when it succeeded."""
    if not breaker.allow(time.monotonic()):
        call.close()
        metrics.LAYER_ERRORS.labels(operation=name).inc()
        return False
    try:
        await asyncio.wait_for(call, LAYER_TIMEOUT)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        breaker.failed(time.monotonic())
        _record_breaker()
        metrics.LAYER_ERRORS.labels(operation=name).inc()
        logger.warning("channel layer %s failed: %s", name, type(exc).__name__)
        return False
    if breaker.state != BreakerState.CLOSED or breaker.failures:
        logger.info("channel layer %s recovered", name)
    breaker.succeeded()
    _record_breaker()
    return True


async def publish(event: Event) -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    return await layer_call("publish", layer.group_send(EVENTS_GROUP, event.as_message()))


def on_event_committed(sender: object, row: OrderEvent, **kwargs: object) -> None:
    """The receiver of orders' `event_committed`: runs after the commit."""
    async_to_sync(publish)(Event.from_row(row, published_at=time.time()))
