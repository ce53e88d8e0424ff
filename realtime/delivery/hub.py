"""The process-wide hub: one channel-layer subscription fans events out to the
process's connections (docs/architecture.md).

Events reach the hub in seq order or with gaps (a dropped or reordered
message, a Redis outage); a gap is filled from the database before the newer
event is dispatched, and a periodic repair reads whatever came after the
cursor. Because seq is assigned in commit order, an event that has arrived
proves every smaller seq is already committed and readable. The same loop
ticks the connections whose heartbeat is due, from a timing wheel, so idle
connections hold no tasks and cost nothing between their heartbeats.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Coroutine, Iterable
from typing import Any, ClassVar, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from realtime import conf
from realtime.delivery import replay, shards
from realtime.delivery.events import MESSAGE_TYPE, Event
from realtime.delivery.layer import layer_call, make_home
from realtime.delivery.recent import RecentEvents
from realtime.delivery.scopes import Scope
from realtime.delivery.wheel import TimingWheel, tick_period
from realtime.events.log import latest_seq
from realtime.observability import metrics

logger = logging.getLogger("realtime.delivery")

REPAIR_PAGE = 500
# Bytes of the newest events kept for resumes from memory: a few thousand
# ordinary events, small beside what flow control lets one client lag by.
RECENT_BYTES = 4 * 2**20
RECEIVE_BACKOFF = 0.5
TICK_SLACK = 0.002


class Subscriber(Protocol):
    # "websocket" or "sse": the open-connections gauge is kept per transport.
    transport: ClassVar[str]

    @property
    def user_id(self) -> int: ...

    def deliver(self, event: Event) -> None: ...

    def tick(self, now: float) -> float | None:
        """Do what is due; returns when to be ticked next, or None."""

    def shutdown(self, code: int, reason: str) -> None: ...


class Hub:
    def __init__(self, heartbeat_interval: float, heartbeat_timeout: float) -> None:
        self.cursor = 0
        self.recent = RecentEvents(0, RECENT_BYTES)
        self.tick_period = tick_period(heartbeat_interval, heartbeat_timeout)
        self.repair_interval = max(self.tick_period, min(heartbeat_interval / 2, 5.0))
        self.subscribers: set[Subscriber] = set()
        self._due: TimingWheel[Subscriber] = TimingWheel(self.tick_period)
        self.draining = False
        self._per_user: dict[int, int] = {}
        self._per_transport: dict[str, int] = {}
        self._mine: dict[int, set[Subscriber]] = {}
        self._orders: dict[int, set[Subscriber]] = {}
        self._all: set[Subscriber] = set()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._started: asyncio.Future[None] | None = None
        self._channel: str | None = None
        # The channel layer's shard the hub's channel and group live on.
        self.shard = 0
        self._joined = False
        self._receiver: asyncio.Task[None] | None = None
        self.last_tick = 0.0

    # Lifecycle

    async def start(self) -> None:
        """Idempotent: the first caller starts the hub, the rest wait for it.
        The server starts it before it listens; a hub whose database was away
        then is started by the first connection instead."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                self.cursor = await database_sync_to_async(latest_seq)()
                self.recent = RecentEvents(self.cursor, RECENT_BYTES)
                layer = get_channel_layer()
                if layer is not None:
                    self._channel = await layer.new_channel("hub.")
                    self.shard = shards.shard_of(layer, self._channel)
                    if shards.ring_size(layer) > 1:
                        logger.info(
                            "hub joins %s on shard %d", shards.group(layer, self.shard), self.shard
                        )
                    await self._join()
                    self._receiver = self.spawn(self._receive_loop())
                self.last_tick = time.monotonic()
                self.spawn(self._tick_loop())
                self.spawn(self._repair_loop())
                self._started.set_result(None)
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started = None
                raise
        await asyncio.shield(self._started)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` until it ends or the hub stops, which cancels it."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._receiver = None
        self._started = None

    @property
    def running(self) -> bool:
        return self._started is not None and self._started.done()

    def health(self, now: float) -> str:
        """ "ok", or what is wrong with the hub's loops (for /health/ready)."""
        if self._started is None or not self._started.done():
            return "not started"
        if self._receiver is not None and self._receiver.done():
            return "receive loop ended"
        if self._receiver is not None and not self._joined:
            # Rejoined by the tick loop once the channel layer answers again.
            return "not in the events group"
        # The tick loop runs every tick_period; a blocked event loop stops it.
        if now - self.last_tick > max(5.0, 4 * self.tick_period):
            return f"tick loop stalled for {now - self.last_tick:.1f} s"
        return "ok"

    def close_all(self, code: int, reason: str) -> None:
        """Ask every connection to close (graceful drain on SIGTERM)."""
        self.draining = True
        for subscriber in tuple(self.subscribers):
            subscriber.shutdown(code, reason)

    # Membership

    def count_for(self, user_id: int) -> int:
        return self._per_user.get(user_id, 0)

    def register(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            return
        self.subscribers.add(subscriber)
        # Due at once: its first tick says when it is next due.
        self._due.schedule(subscriber, time.monotonic())
        self._per_user[subscriber.user_id] = self.count_for(subscriber.user_id) + 1
        self._count_transport(subscriber.transport, 1)

    def unregister(self, subscriber: Subscriber, scopes: Iterable[Scope]) -> None:
        if subscriber not in self.subscribers:
            return
        for scope in tuple(scopes):
            self.unsubscribe(subscriber, scope)
        self.subscribers.discard(subscriber)
        self._due.cancel(subscriber)
        left = self.count_for(subscriber.user_id) - 1
        if left > 0:
            self._per_user[subscriber.user_id] = left
        else:
            self._per_user.pop(subscriber.user_id, None)
        self._count_transport(subscriber.transport, -1)

    def _count_transport(self, transport: str, change: int) -> None:
        count = self._per_transport.get(transport, 0) + change
        self._per_transport[transport] = count
        metrics.OPEN_CONNECTIONS.labels(transport=transport).set(count)

    def subscribe(self, subscriber: Subscriber, scope: Scope) -> None:
        if scope.kind == "all":
            members = self._all
        else:
            index, key = self._index(subscriber, scope)
            members = index.setdefault(key, set())
        if subscriber not in members:
            members.add(subscriber)
            metrics.GROUP_MEMBERS.inc()

    def unsubscribe(self, subscriber: Subscriber, scope: Scope) -> None:
        if scope.kind == "all":
            if subscriber in self._all:
                self._all.discard(subscriber)
                metrics.GROUP_MEMBERS.dec()
            return
        index, key = self._index(subscriber, scope)
        members = index.get(key)
        if members is not None and subscriber in members:
            members.discard(subscriber)
            metrics.GROUP_MEMBERS.dec()
            if not members:
                del index[key]

    def _index(
        self, subscriber: Subscriber, scope: Scope
    ) -> tuple[dict[int, set[Subscriber]], int]:
        if scope.kind == "mine":
            return self._mine, subscriber.user_id
        assert scope.order_id is not None
        return self._orders, scope.order_id

    def group_sizes(self) -> tuple[int, int, int]:
        """Members of mine, order and all groups: all zero once every client left."""
        return (
            sum(len(m) for m in self._mine.values()),
            sum(len(m) for m in self._orders.values()),
            len(self._all),
        )

    # Delivery

    def take(self, event: Event) -> None:
        """An event committed in this process, handed over on the hub's loop
        without the channel layer: the next in seq order goes out at once, any
        other the way the layer's would. A hub not running yet starts from the
        database's newest seq, which counts this event."""
        if not self.running:
            return
        if event.seq == self.cursor + 1 and not self._lock.locked():
            self._dispatch(event)
        elif event.seq > self.cursor:
            self.spawn(self._guarded(self.accept(event), "dispatch"))

    async def accept(self, event: Event) -> None:
        async with self._lock:
            if event.seq <= self.cursor:
                return
            if event.seq > self.cursor + 1:
                await self._fill(before=event.seq)
            self._dispatch(event)

    async def repair(self) -> int:
        """Dispatch whatever the database holds past the cursor; returns how many."""
        async with self._lock:
            return await self._fill(before=None)

    async def _fill(self, before: int | None) -> int:
        filled = 0
        for _ in range(10_000):
            events = await database_sync_to_async(replay.fetch_events)(
                self.cursor, before=before, limit=REPAIR_PAGE
            )
            for event in events:
                self._dispatch(event)
                # A page may hold hundreds of events for thousands of
                # connections: heartbeats and reads wait for one event's
                # fan-out, never a page's.
                await asyncio.sleep(0)
            filled += len(events)
            if len(events) < REPAIR_PAGE:
                break
        if filled:
            metrics.REPAIRED_EVENTS.inc(filled)
        return filled

    def _dispatch(self, event: Event) -> None:
        self.cursor = event.seq
        self.recent.add(event)
        metrics.DELIVERY_LAG.observe(max(0.0, time.time() - event.published_at))
        targets: list[Subscriber] = []
        targets.extend(self._mine.get(event.owner_id, ()))
        targets.extend(self._orders.get(event.subject, ()))
        targets.extend(self._all)
        for subscriber in targets:
            subscriber.deliver(event)

    # Loops

    async def _join(self) -> None:
        layer = get_channel_layer()
        if layer is not None and self._channel is not None:
            group = shards.group(layer, self.shard)
            self._joined = await layer_call(
                "group_add", layer.group_add(group, self._channel), self.shard
            )

    async def _receive_loop(self) -> None:
        layer = get_channel_layer()
        assert layer is not None
        assert self._channel is not None
        while True:
            try:
                message: dict[str, Any] = await layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.LAYER_ERRORS.labels(operation="receive").inc()
                logger.warning("channel layer receive failed: %s", type(exc).__name__)
                self._joined = False
                await asyncio.sleep(RECEIVE_BACKOFF)
                continue
            if message.get("type") == MESSAGE_TYPE:
                try:
                    event = Event.from_message(message)
                except (KeyError, TypeError, ValueError):
                    logger.warning("dropped a malformed channel-layer message")
                    continue
                await self._guarded(self.accept(event), "dispatch")

    async def _tick_loop(self) -> None:
        while True:
            # Woken just past each slot's end, not a period after the last
            # tick: a connection comes back at most one period late, not two.
            now = time.monotonic()
            await asyncio.sleep(self._due.slot_end(now) - now + TICK_SLACK)
            now = self.last_tick = time.monotonic()
            for subscriber in self._due.pop_due(now):
                try:
                    next_at = subscriber.tick(now)
                except Exception:
                    logger.exception("heartbeat tick failed")
                    next_at = now + self.tick_period
                if next_at is not None and subscriber in self.subscribers:
                    self._due.schedule(subscriber, next_at)

    async def _repair_loop(self) -> None:
        """Apart from the ticks: a repair waits for a database thread, which a
        connect storm's resumes keep busy, and heartbeats must not wait too."""
        while True:
            await asyncio.sleep(self.repair_interval)
            if not self._joined:
                await self._join()
            await self._guarded(self.repair(), "repair")

    async def _guarded(self, work: Any, what: str) -> None:
        """A failing database must not end the hub's loops; the next tick retries."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("hub %s failed: %s: %s", what, type(exc).__name__, exc)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """The hub of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = Hub(
            conf.settings.WEBSOCKET_HEARTBEAT_INTERVAL, conf.settings.WEBSOCKET_HEARTBEAT_TIMEOUT
        )
        _hubs[loop] = hub
        make_home(loop, hub.take)
    return hub
