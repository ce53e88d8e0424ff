"""The hub fills channel-layer gaps from the database, in seq order, once, and
ticks only the connections that are due, whatever its repairs wait for."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from realtime.delivery.events import Event
from realtime.delivery.hub import Hub, get_hub
from realtime.delivery.layer import home_loop
from realtime.delivery.scopes import MINE, Scope
from realtime.events.log import latest_seq
from realtime.orders import service
from realtime.orders.states import Status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]


@dataclass(eq=False)
class Recorder:
    user_id: int
    transport: ClassVar[str] = "websocket"
    events: list[Event] = field(default_factory=list)
    ticks: list[float] = field(default_factory=list)
    every: float = 3600.0

    def deliver(self, event: Event) -> None:
        self.events.append(event)

    def tick(self, now: float) -> float | None:
        self.ticks.append(now)
        return now + self.every

    def shutdown(self, code: int, reason: str) -> None:
        pass


def make_events(count: int) -> tuple[int, list[int]]:
    owner = get_user_model().objects.create_user("owner")
    order = service.create_order(owner, [{"name": "tea", "qty": 1}])
    statuses = [Status.CONFIRMED, Status.PREPARING, Status.READY, Status.DELIVERED]
    for status in statuses[: count - 1]:
        service.change_status(order.pk, status)
    return owner.pk, list(latest_seq() - i for i in reversed(range(count)))


async def test_a_gap_is_filled_from_the_database_before_the_newer_event() -> None:
    """When seq 4 arrives after 1, the hub delivers 2 and 3 from the database first."""
    owner_id, seqs = await database_sync_to_async(make_events)(4)
    hub = Hub(heartbeat_interval=25, heartbeat_timeout=60)
    hub.cursor = seqs[0] - 1
    recorder = Recorder(owner_id)
    hub.register(recorder)
    hub.subscribe(recorder, MINE)
    live = Event(seqs[0], 1, owner_id, 1, 0.0, {}, {})
    await hub.accept(live)
    newest = Event(seqs[3], 1, owner_id, 4, 0.0, {}, {})
    await hub.accept(newest)
    await hub.accept(Event(seqs[2], 1, owner_id, 3, 0.0, {}, {}))
    assert [e.seq for e in recorder.events] == seqs
    assert hub.cursor == seqs[3]


async def test_repair_delivers_what_the_layer_dropped() -> None:
    """repair() reads every event past the cursor, so a drop converges without a new event."""
    owner_id, seqs = await database_sync_to_async(make_events)(2)
    hub = Hub(heartbeat_interval=25, heartbeat_timeout=60)
    hub.cursor = seqs[0] - 1
    recorder = Recorder(owner_id)
    hub.register(recorder)
    hub.subscribe(recorder, MINE)
    assert await hub.repair() == 2
    assert await hub.repair() == 0
    assert [e.seq for e in recorder.events] == seqs


async def test_a_repair_lets_the_loop_run_between_its_events() -> None:
    """Events filled from the database go out one per turn of the event loop,
    so a page of them holds up no heartbeat or read for longer than one event."""
    owner_id, seqs = await database_sync_to_async(make_events)(4)
    hub = Hub(heartbeat_interval=25, heartbeat_timeout=60)
    hub.cursor = seqs[0] - 1
    turns = 0
    seen: list[int] = []

    class Counting(Recorder):
        def deliver(self, event: Event) -> None:
            seen.append(turns)
            super().deliver(event)

    async def spin() -> None:
        nonlocal turns
        for _ in range(10_000_000):
            turns += 1
            await asyncio.sleep(0)

    recorder = Counting(owner_id)
    hub.register(recorder)
    hub.subscribe(recorder, MINE)
    spinner = asyncio.create_task(spin())
    try:
        assert await hub.repair() == 4
    finally:
        spinner.cancel()
    assert [e.seq for e in recorder.events] == seqs
    assert seen == sorted(set(seen)), "two events went out in the same turn of the loop"


async def test_events_route_only_to_matching_groups() -> None:
    """mine goes to the owner, order:<id> to its watchers, all to staff; leaving empties groups."""
    hub = Hub(heartbeat_interval=25, heartbeat_timeout=60)
    owner, other, staff, watcher = Recorder(1), Recorder(2), Recorder(3), Recorder(4)
    for recorder in (owner, other, staff, watcher):
        hub.register(recorder)
        hub.subscribe(recorder, MINE)
    hub.subscribe(staff, Scope("all"))
    hub.subscribe(watcher, Scope("order", 7))
    hub.cursor = 9
    await hub.accept(Event(10, 7, 1, 1, 0.0, {}, {}))
    assert [len(r.events) for r in (owner, other, staff, watcher)] == [1, 0, 1, 1]
    for recorder, scopes in (
        (owner, [MINE]),
        (other, [MINE]),
        (staff, [MINE, Scope("all")]),
        (watcher, [MINE, Scope("order", 7)]),
    ):
        hub.unregister(recorder, scopes)
    assert hub.group_sizes() == (0, 0, 0)
    assert hub.count_for(1) == 0


async def run_until_ticked(hub: Hub, recorder: Recorder, ticks: int) -> None:
    """Runs the hub until `recorder` has been ticked `ticks` times (10 s at most)."""
    await hub.start()
    try:
        deadline = time.monotonic() + 10
        while len(recorder.ticks) < ticks and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await hub.stop()


async def test_the_ticker_visits_only_connections_that_are_due() -> None:
    """A connection is ticked when it registers and then only when its own tick said it is due."""
    hub = Hub(heartbeat_interval=0.2, heartbeat_timeout=0.2)
    quiet, busy = Recorder(user_id=1), Recorder(user_id=2, every=0.1)
    hub.register(quiet)
    hub.register(busy)
    await run_until_ticked(hub, busy, 5)
    assert len(quiet.ticks) == 1
    assert len(busy.ticks) >= 5
    gaps = [b - a for a, b in zip(busy.ticks, busy.ticks[1:], strict=False)]
    assert min(gaps) >= 0.1


async def test_a_connection_that_left_is_not_ticked() -> None:
    """Unregistering takes a connection off the ticker at once."""
    hub = Hub(heartbeat_interval=0.2, heartbeat_timeout=0.2)
    gone, stays = Recorder(user_id=1, every=0.05), Recorder(user_id=2, every=0.05)
    hub.register(gone)
    hub.register(stays)
    hub.unregister(gone, ())
    await run_until_ticked(hub, stays, 3)
    assert gone.ticks == []
    assert len(stays.ticks) >= 3


async def test_ticks_go_on_while_a_repair_waits_for_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A repair stuck behind busy database threads holds up no heartbeat."""
    hub = Hub(heartbeat_interval=0.2, heartbeat_timeout=0.2)
    stuck = asyncio.Event()
    repairs: list[float] = []

    async def repair() -> int:
        repairs.append(time.monotonic())
        await stuck.wait()
        return 0

    monkeypatch.setattr(hub, "repair", repair)
    busy = Recorder(user_id=1, every=0.05)
    hub.register(busy)
    await hub.start()
    try:
        deadline = time.monotonic() + 10
        while not repairs and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert repairs, "the repair loop never ran"
        ticked = len(busy.ticks)
        while len(busy.ticks) < ticked + 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(busy.ticks) >= ticked + 5
        assert len(repairs) == 1
    finally:
        stuck.set()
        await hub.stop()


async def test_the_running_hubs_loop_is_where_publishes_go() -> None:
    """Once a hub exists on the running loop, home_loop() names that loop."""
    get_hub()
    assert home_loop() is asyncio.get_running_loop()


async def test_a_taken_event_in_order_goes_out_at_once_one_out_of_order_after_the_gap() -> None:
    """take(): nothing before the hub runs; then the next seq at once, a later one after the gap."""
    owner_id, seqs = await database_sync_to_async(make_events)(3)
    hub = Hub(heartbeat_interval=25, heartbeat_timeout=60)
    recorder = Recorder(owner_id)
    hub.register(recorder)
    hub.subscribe(recorder, MINE)
    hub.take(Event(seqs[0], 1, owner_id, 1, 0.0, {}, {}))
    assert recorder.events == []
    await hub.start()
    try:
        hub.cursor = seqs[0] - 1
        hub.take(Event(seqs[0], 1, owner_id, 1, 0.0, {}, {}))
        assert [e.seq for e in recorder.events] == seqs[:1]
        hub.take(Event(seqs[2], 1, owner_id, 3, 0.0, {}, {}))
        hub.take(Event(seqs[0], 1, owner_id, 1, 0.0, {}, {}))
        deadline = time.monotonic() + 10
        while len(recorder.events) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    finally:
        await hub.stop()
    assert [e.seq for e in recorder.events] == seqs
