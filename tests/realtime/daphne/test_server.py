"""The trimmed daphne server: a light receive queue, and an application check
that visits only connections that changed."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
from typing import Any

import pytest

from realtime.daphne.heads import HeadLimits
from realtime.daphne.server import (
    GC_YOUNG_THRESHOLD,
    Inbox,
    OrdersServer,
    endpoint,
    tune_garbage_collector,
    watch_supervisor,
)

pytestmark = pytest.mark.timeout(30)


class Details(dict[str, Any]):
    """A connection's entry that remembers whether the checker looked at it."""

    looked = False

    def get(self, key: str, default: Any = None) -> Any:
        self.looked = True
        return super().get(key, default)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> OrdersServer:
    # Imported after realtime.daphne, which installs the asyncio reactor first.
    from twisted.internet import reactor

    # The checker reschedules itself on the reactor, which does not run here.
    monkeypatch.setattr(reactor, "callLater", lambda *args, **kwargs: None)
    return OrdersServer(
        head_limits=HeadLimits(reactor, timeout=10.0, per_address=10, idle=60.0),
        application=None,
        endpoints=["tcp:0"],
        application_close_timeout=0.2,
    )


async def test_the_inbox_hands_items_to_its_reader_in_order() -> None:
    """get waits for put_nowait and returns items first in, first out; qsize counts the rest."""
    inbox = Inbox()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("a")
    inbox.put_nowait("b")
    assert await asyncio.wait_for(reader, 1) == "a"
    assert inbox.qsize() == 1
    assert await inbox.get() == "b"
    assert inbox.qsize() == 0


async def test_the_inbox_refuses_a_second_reader_and_survives_a_cancelled_one() -> None:
    """A second concurrent reader is an error, not a hang; a cancelled get leaves it usable."""
    inbox = Inbox()
    first = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await inbox.get()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    inbox.put_nowait("x")
    assert await asyncio.wait_for(inbox.get(), 1) == "x"


async def test_the_checker_reaps_finished_applications_and_skips_the_rest(
    server: OrdersServer,
) -> None:
    """A finished application is reaped, a gone protocol removed; unchanged ones are not visited."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        return None

    server.application = app
    finished, idle = object(), object()
    server.connections = {finished: Details(connected=time.time()), idle: Details()}
    assert server.create_application(finished, {"type": "websocket"}) is not None
    await asyncio.wait_for(server.connections[finished]["application_instance"], 1)
    server.application_checker()
    assert "application_instance" not in server.connections[finished]
    server.protocol_disconnected(finished)
    server.application_checker()
    assert finished not in server.connections
    assert idle in server.connections
    assert not server.connections[idle].looked
    assert server.changed == set()


async def test_an_application_outliving_its_connection_is_cancelled_then_reaped(
    server: OrdersServer,
) -> None:
    """An application still running past the close timeout after its peer left is cancelled."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()

    server.application = app
    protocol = object()
    server.connections = {protocol: Details()}
    inbox = server.create_application(protocol, {"type": "websocket"})
    assert inbox is not None
    instance = server.connections[protocol]["application_instance"]
    server.protocol_disconnected(protocol)
    server.application_checker()
    assert protocol in server.changed
    assert not instance.done()
    server.connections[protocol]["disconnected"] = time.time() - 1
    server.application_checker()
    with pytest.raises(asyncio.CancelledError):
        await instance
    server.application_checker()
    assert protocol not in server.connections
    assert server.changed == set()


class Reactor:
    def __init__(self) -> None:
        self.calls: list[tuple[float, Any]] = []
        self.running = True

    def callLater(self, delay: float, call: Any) -> None:
        self.calls.append((delay, call))

    def stop(self) -> None:
        self.running = False


class Listening:
    def __init__(self) -> None:
        self.stopped = False

    def stop_listening(self) -> None:
        self.stopped = True


class Subscriber:
    user_id = 1
    transport = "websocket"

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.closed: tuple[int, str] | None = None

    def deliver(self, event: Any) -> None:
        return None

    def tick(self, now: float) -> float | None:
        return None

    def shutdown(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.hub.unregister(self, ())


async def test_the_drain_stops_accepting_then_closes_with_1012_then_stops_the_hub() -> None:
    """SIGTERM: listener closed and readiness draining first, 1012 to every socket, hub stopped."""
    import signal

    from realtime.daphne.server import Drain
    from realtime.delivery.hub import get_hub

    hub = get_hub()
    subscriber = Subscriber(hub)
    hub.register(subscriber)
    reactor, server = Reactor(), Listening()
    drain = Drain(reactor, server, grace=600)  # type: ignore[arg-type]
    try:
        drain.begin(signal.SIGTERM)
        assert server.stopped
        assert hub.draining
        assert subscriber.closed == (1012, "server restarting")
        [(_, wait)] = reactor.calls
        wait()
        for _ in range(100):
            if len(reactor.calls) > 1:
                break
            await asyncio.sleep(0.01)
        assert hub._tasks == set()
        reactor.calls[-1][1]()
        assert not reactor.running
    finally:
        hub.draining = False
        await hub.stop()


def test_a_worker_listens_on_the_socket_its_supervisor_hands_down() -> None:
    """With an inherited descriptor daphne adopts it; without, it binds with a deep backlog."""
    assert endpoint("127.0.0.1", 8000, fd=7) == "fd:fileno=7"
    assert endpoint("127.0.0.1", 8000) == "tcp:port=8000:interface=127.0.0.1:backlog=4096"


class FakeReactor:
    def __init__(self) -> None:
        self.later: list[tuple[float, Any]] = []

    def callLater(self, delay: float, *call: Any) -> None:
        self.later.append((delay, call))


class FakeDrain:
    def __init__(self) -> None:
        self.begun: list[int] = []

    def begin(self, signum: int) -> None:
        self.begun.append(signum)


def test_a_worker_drains_itself_when_its_supervisor_is_gone() -> None:
    """While the parent is the supervisor the watch goes on; once it is not, the worker drains."""
    reactor, drain = FakeReactor(), FakeDrain()
    watch_supervisor(reactor, drain, os.getppid())  # type: ignore[arg-type]
    assert len(reactor.later) == 1
    assert drain.begun == []
    watch_supervisor(reactor, drain, os.getppid() + 1)  # type: ignore[arg-type]
    assert drain.begun == [signal.SIGTERM]
    assert len(reactor.later) == 1


def test_what_the_server_loaded_is_left_out_of_later_collections() -> None:
    """Objects alive before the server listens are frozen; the young are collected less often."""
    threshold = gc.get_threshold()
    loaded = [object()]
    try:
        tune_garbage_collector()
        assert gc.get_freeze_count() > 0
        assert not any(o is loaded for o in gc.get_objects())
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
