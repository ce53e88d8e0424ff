"""A fixed set of long-lived threads for Django's synchronous request work.

Django gives every ASGI request a thread of its own for its synchronous code
(views, middleware, signal receivers). A database connection is kept per
thread, so each request also opened a connection and dropped it at the end:
on PostgreSQL a new backend process per request. Here each request runs its
synchronous code on one of HTTP_THREADS threads that live as long as the
server, and their connections are kept (CONN_MAX_AGE) and health-checked
between requests, as in Django's threaded WSGI servers (docs/architecture.md).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext


class RequestThreads:
    """ASGI middleware: each request runs on the least busy of `size` threads."""

    def __init__(self, app: Any, size: int) -> None:
        self.app = app
        self.executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{n}")
            for n in range(size)
        ]
        self.busy = [0] * size

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        slot = min(range(len(self.busy)), key=self.busy.__getitem__)
        self.busy[slot] += 1
        try:
            async with ThreadSensitiveContext(executor=self.executors[slot]):
                await self.app(scope, receive, send)
        finally:
            self.busy[slot] -= 1
