"""A fixed set of long-lived threads for Django's synchronous request work.

Django gives every ASGI request a thread of its own for its synchronous code
(views, middleware, signal receivers). A database connection is kept per
thread, so each request also opened a connection and dropped it at the end:
on PostgreSQL a new backend process per request. Here each request runs its
synchronous code on one of HTTP_THREADS threads that live as long as the
server, and their connections are kept (CONN_MAX_AGE) and health-checked
between requests, as in Django's threaded WSGI servers (docs/architecture.md).

Django's own `request_started` receivers (`close_old_connections`,
`reset_queries`) look after the connections of the thread they run on, so
Django hops to a request thread and back to run them at the start of every
request, one that never runs synchronous code included. Here they run on
the request's thread just before its first synchronous work instead, and
not at all for a request that has none (docs/architecture.md, "HTTP
requests and their threads").
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import ThreadSensitiveContext
from django.core import signals
from django.db import close_old_connections, reset_queries

T = TypeVar("T")
# What Django connects to request_started, run here instead.
ON_REQUEST_STARTED = (reset_queries, close_old_connections)


def _after_request_started(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    for receiver in ON_REQUEST_STARTED:
        receiver()
    return fn(*args, **kwargs)


class RequestThread(ThreadPoolExecutor):
    """One request thread. `request_started()` marks a request begun; the
    thread's next work item first runs the receivers it needs."""

    def __init__(self, name: str) -> None:
        super().__init__(max_workers=1, thread_name_prefix=name)
        self.pending_start = False

    def request_started(self) -> None:
        self.pending_start = True

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if not self.pending_start:
            return super().submit(fn, *args, **kwargs)
        self.pending_start = False
        return super().submit(_after_request_started, fn, *args, **kwargs)


class RequestThreads:
    """ASGI middleware: each request runs on the least busy of `size` threads."""

    def __init__(self, app: Any, size: int) -> None:
        self.app = app
        self.executors = [RequestThread(f"request-{n}") for n in range(size)]
        self.busy = [0] * size
        for receiver in ON_REQUEST_STARTED:
            signals.request_started.disconnect(receiver)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        slot = min(range(len(self.busy)), key=self.busy.__getitem__)
        self.busy[slot] += 1
        executor = self.executors[slot]
        executor.request_started()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        finally:
            self.busy[slot] -= 1
