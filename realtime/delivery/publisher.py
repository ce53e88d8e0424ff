"""Publishing committed events to the channel layer, behind a circuit breaker
per shard with bounded timeouts (docs/guarantees.md). A publish that fails is
not lost: the hubs' database repair delivers it.

A publish runs on the loop of this process's hub (the server's loop), or,
where no hub runs (a writer script, a management command), on one loop the
process keeps for publishing: either way one loop, so one channel-layer
connection, serves every publish instead of a new loop and a new Redis
connection each."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING

from channels.layers import get_channel_layer

from realtime.delivery import layer as calls
from realtime.delivery import shards
from realtime.delivery.events import Event

if TYPE_CHECKING:
    from realtime.events.models import Event as Row


async def publish(event: Event) -> bool:
    """To every shard's events group at once; True when every one took it."""
    layer = get_channel_layer()
    if layer is None:
        return False
    message = event.as_message()
    sent = await asyncio.gather(
        *(
            calls.layer_call(
                "publish", layer.group_send(shards.group(layer, shard), message), shard
            )
            for shard in range(shards.ring_size(layer))
        )
    )
    return all(sent)


class PublishingLoop:
    """The loop publishes run on where no hub's loop runs, on a daemon thread
    started at the first publish."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="publisher", daemon=True).start()
                self._loop = loop
            return self._loop


PUBLISHING_LOOP = PublishingLoop()


def publishing_loop() -> asyncio.AbstractEventLoop:
    return calls.home_loop() or PUBLISHING_LOOP.get()


def on_event_committed(sender: object, row: Row, **kwargs: object) -> None:
    """The receiver of the event log's `event_committed`: runs after the commit, and
    returns once the publish did (or failed, within LAYER_TIMEOUT). With the
    in-memory layer, the hub of this process takes the event directly, and
    nothing waits: handing it over cannot fail."""
    event = Event.from_row(row, published_at=time.time())
    loop = publishing_loop()
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    take = calls.local_take(loop)
    if take is not None:
        if here is loop:
            take(event)
        else:
            loop.call_soon_threadsafe(take, event)
        return
    if here is loop:
        # Committed on the loop's own thread: waiting here would block the publish.
        loop.create_task(publish(event))
        return
    asyncio.run_coroutine_threadsafe(publish(event), loop).result()
