"""PostgreSQL connections for the status change a PATCH makes from the event
loop (docs/architecture.md, "The write path"): psycopg's asynchronous pool,
one per loop, connecting as Django does (its DATABASES entry and OPTIONS).

A request that borrows one needs no thread: a synchronous view waits for a
thread of its own, and every round trip it makes hands the interpreter lock
back and forth with the loop. Instead of a `SELECT 1` per request (Django's
CONN_HEALTH_CHECKS), a connection is checked without a round trip: one that
sat idle has nothing to read unless the server dropped it."""

from __future__ import annotations

import asyncio
import select
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from realtime import conf

# How long a change waits for a connection before it is answered 503: far
# longer than a healthy wait behind HTTP_THREADS one-statement changes, and
# well inside a client's request timeout while the database is away.
WAIT = 3.0

_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncConnectionPool[Any]] = (
    weakref.WeakKeyDictionary()
)


async def still_connected(connection: AsyncConnection[Any]) -> None:
    """The pool's check before it lends a connection. Something to read on an
    idle connection (the server's goodbye, the end of the stream) is
    confirmed with a round trip, which raises if the connection is gone, and
    the pool tries another."""
    # poll, not select: a server with thousands of sockets open hands the
    # pool descriptors past select's limit of 1024.
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN)
    if poller.poll(0):
        await AsyncConnectionPool.check_connection(connection)


def _connection_params() -> dict[str, Any]:
    params = connections[DEFAULT_DB_ALIAS].get_connection_params()
    # Django's cursor class is for its synchronous connections.
    params.pop("cursor_factory", None)
    return {**params, "autocommit": True}


def _pool() -> AsyncConnectionPool[Any]:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = AsyncConnectionPool(
            kwargs=_connection_params(),
            min_size=0,
            max_size=conf.settings.HTTP_THREADS,
            open=False,
            check=still_connected,
            timeout=WAIT,
            name="realtime.orders",
        )
        _pools[loop] = pool
    return pool


@asynccontextmanager
async def connection() -> AsyncIterator[AsyncConnection[Any]]:
    """A connection in autocommit from this loop's pool. psycopg's errors
    come out as Django's (a lost connection or no connection within WAIT:
    OperationalError), which the API answers 503."""
    pool = _pool()
    with connections[DEFAULT_DB_ALIAS].wrap_database_errors:
        if pool.closed:
            await pool.open()
        try:
            async with pool.connection() as borrowed:
                yield borrowed
        except PoolTimeout:
            # The pool tries to connect again after a backoff that doubles
            # while the database is away, which would refuse requests for
            # seconds after it is back; a new pool tries at the next request.
            await close()
            raise


async def close() -> None:
    """Close this loop's pool, if it has one (a test's loop before it ends)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.close()
