"""`RequestThreads` (`realtime/request_threads.py`): Django's synchronous
request work runs on a fixed set of threads, reused, the least busy first."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core import signals

from realtime import request_threads
from realtime.request_threads import RequestThreads

pytestmark = pytest.mark.timeout(30)


def app_recording(names: list[str], release: asyncio.Event | None = None) -> Any:
    """An ASGI app whose synchronous part notes the thread it ran on."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await sync_to_async(lambda: names.append(threading.current_thread().name))()
        if release is not None:
            await release.wait()

    return app


async def test_sequential_requests_reuse_one_thread() -> None:
    """Ten requests one after another run on the same long-lived thread."""
    names: list[str] = []
    threads = RequestThreads(app_recording(names), size=4)
    for _ in range(10):
        await threads({"type": "http"}, None, None)
    assert len(set(names)) == 1
    assert names[0].startswith("request-")


async def test_concurrent_requests_spread_over_the_threads() -> None:
    """Four requests in flight at once run on four different threads; a fifth shares one."""
    names: list[str] = []
    release = asyncio.Event()
    threads = RequestThreads(app_recording(names, release), size=4)
    calls = [asyncio.create_task(threads({"type": "http"}, None, None)) for _ in range(5)]
    for _ in range(200):
        if len(names) == 5:
            break
        await asyncio.sleep(0.01)
    assert threads.busy == [2, 1, 1, 1]
    release.set()
    await asyncio.gather(*calls)
    assert len(set(names)) == 4
    assert threads.busy == [0, 0, 0, 0]


def app_with_sync_work(calls: int, seen: list[str]) -> Any:
    """An ASGI app that runs `calls` synchronous steps, each noting its thread."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for _ in range(calls):
            await sync_to_async(lambda: seen.append(threading.current_thread().name))()

    return app


@pytest.fixture
def receivers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Where Django's request-start receivers ran, by thread name, in order."""
    ran: list[str] = []

    def receiver() -> None:
        ran.append(f"start on {threading.current_thread().name}")

    monkeypatch.setattr(request_threads, "ON_REQUEST_STARTED", (receiver,))
    return ran


async def test_request_start_receivers_run_on_the_thread_before_its_first_work(
    receivers: list[str],
) -> None:
    """A request with synchronous work runs the receivers once, on its thread, before that work."""
    threads = RequestThreads(app_with_sync_work(3, receivers), size=2)
    for _ in range(4):
        await threads({"type": "http"}, None, None)
    assert receivers == ["start on request-0_0", "request-0_0", "request-0_0", "request-0_0"] * 4


async def test_a_request_without_synchronous_work_costs_no_thread(receivers: list[str]) -> None:
    """A request that never leaves the event loop runs nothing on a request thread."""
    threads = RequestThreads(app_with_sync_work(0, []), size=2)
    for _ in range(3):
        await threads({"type": "http"}, None, None)
    assert receivers == []
    # Nothing was handed to the thread the requests had: it still owes one its start.
    assert threads.executors[0].pending_start


def test_django_no_longer_hops_to_a_thread_for_its_own_receivers() -> None:
    """Django's request_started keeps none of the receivers the request threads run."""
    RequestThreads(app_with_sync_work(0, []), size=1)
    live = [ref() for _, ref, *_ in signals.request_started.receivers]
    assert not set(live) & set(request_threads.ON_REQUEST_STARTED)
