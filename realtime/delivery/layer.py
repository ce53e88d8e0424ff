"""Channel-layer calls, which the hub (joining the events group) and the
publisher (sending to it) both make: each under its shard's circuit breaker
with a bounded timeout, on the loop of this process's hub when one runs
(docs/guarantees.md)."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

from realtime.delivery import shards
from realtime.delivery.breaker import BreakerState
from realtime.delivery.events import Event
from realtime.observability import metrics

logger = logging.getLogger("realtime.delivery")

LAYER_TIMEOUT = 2.0

breakers = shards.Breakers()

Take = Callable[[Event], None]

# The loops a hub runs on (a server's, where publishes go too), each with how
# its hub takes an event committed in this process.
_homes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Take] = weakref.WeakKeyDictionary()


def make_home(loop: asyncio.AbstractEventLoop, take: Take) -> None:
    _homes[loop] = take


def home_loop() -> asyncio.AbstractEventLoop | None:
    """The loop a hub of this process runs on, if one is running (in a server, its loop)."""
    return next((loop for loop in list(_homes) if loop.is_running()), None)


def local_take(loop: asyncio.AbstractEventLoop) -> Take | None:
    """How the hub on `loop` takes an event directly, when the channel layer is
    the in-memory one, which reaches no other process: then no publish is needed."""
    if not isinstance(get_channel_layer(), InMemoryChannelLayer):
        return None
    return _homes.get(loop)


def _record_breaker() -> None:
    metrics.BREAKER_STATE.set(int(breakers.state()))


async def layer_call(name: str, call: Coroutine[Any, Any, object], shard: int = 0) -> bool:
    """Await one channel-layer call under its shard's breaker; True when it succeeded."""
    breaker = breakers[shard]
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
        logger.warning("channel layer %s failed%s: %s", name, _on(shard), type(exc).__name__)
        return False
    if breaker.state != BreakerState.CLOSED or breaker.failures:
        logger.info("channel layer %s recovered%s", name, _on(shard))
    breaker.succeeded()
    _record_breaker()
    return True


def _on(shard: int) -> str:
    layer = get_channel_layer()
    return f" on shard {shard}" if shards.ring_size(layer) > 1 else ""
