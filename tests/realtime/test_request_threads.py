"""`RequestThreads` (`realtime/request_threads.py`): Django's synchronous
request work runs on a fixed set of threads, reused, the least busy first."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async

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
