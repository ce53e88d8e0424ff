"""Where a committed event is published (`realtime/delivery/publisher.py`):
on the hub's loop when one runs here, otherwise on one loop the process keeps,
never a new loop per publish; with the in-memory layer, straight to the hub."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from realtime.delivery import layer, publisher
from realtime.delivery.events import Event

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[asyncio.AbstractEventLoop, str]]:
    """Each publish's loop and thread, with the channel layer left out."""
    seen: list[tuple[asyncio.AbstractEventLoop, str]] = []

    async def record(event: Any) -> bool:
        seen.append((asyncio.get_running_loop(), threading.current_thread().name))
        return True

    monkeypatch.setattr(publisher, "publish", record)
    monkeypatch.setattr(publisher.Event, "from_row", staticmethod(lambda row, published_at: row))
    return seen


def test_publishes_with_no_hub_share_one_loop_of_the_process(
    published: list[tuple[asyncio.AbstractEventLoop, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three publishes from a script run on one loop, on the publisher thread, which stays open."""
    monkeypatch.setattr(layer, "home_loop", lambda: None)
    for n in range(3):
        publisher.on_event_committed(None, row=n)
    loops = {loop for loop, _ in published}
    assert len(published) == 3
    assert len(loops) == 1
    assert {name for _, name in published} == {"publisher"}
    assert not loops.pop().is_closed()


async def test_with_the_in_memory_layer_the_running_hub_takes_the_event_directly(
    published: list[tuple[asyncio.AbstractEventLoop, str]],
) -> None:
    """A commit on a request's thread hands the event to this process's hub, not to the layer."""
    here = asyncio.get_running_loop()
    taken: list[Event] = []
    layer.make_home(here, taken.append)
    event = Event(1, 1, 1, 1, 0.0, {}, {})
    await asyncio.to_thread(publisher.on_event_committed, None, row=event)
    for _ in range(100):
        if taken:
            break
        await asyncio.sleep(0.01)
    assert taken == [event]
    assert published == []


async def test_a_publish_runs_on_the_hubs_loop_when_one_runs_here(
    published: list[tuple[asyncio.AbstractEventLoop, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a request's thread, the publish runs on the loop the hub runs on, and waits for it."""
    here = asyncio.get_running_loop()
    monkeypatch.setattr(layer, "home_loop", lambda: here)
    await asyncio.to_thread(publisher.on_event_committed, None, row=1)
    assert published == [(here, threading.current_thread().name)]


async def test_a_commit_on_the_hubs_own_thread_publishes_without_blocking_it(
    published: list[tuple[asyncio.AbstractEventLoop, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the loop's own thread the publish is scheduled, not waited for (which would hang)."""
    here = asyncio.get_running_loop()
    monkeypatch.setattr(layer, "home_loop", lambda: here)
    publisher.on_event_committed(None, row=1)
    assert published == []
    await asyncio.sleep(0)
    assert published == [(here, threading.current_thread().name)]
