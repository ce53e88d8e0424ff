"""The PostgreSQL connections a status change borrows on the event loop
(realtime/orders/pool.py): checked without a round trip while they look
healthy, replaced when the server dropped them, and a database out of reach
is Django's OperationalError, which the API answers 503."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
from collections.abc import Callable
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from realtime.orders import pool

Script = Callable[[str], dict[str, object]]


class Socket:
    """What `still_connected` asks of a connection: its socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()


def checked(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    rounds: list[object] = []

    async def round_trip(connection: object) -> None:
        rounds.append(connection)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", staticmethod(round_trip))
    return rounds


@pytest.mark.timeout(10)
def test_an_idle_connection_with_nothing_to_read_costs_no_round_trip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing waiting on the socket: the connection is lent without a query."""
    rounds = checked(monkeypatch)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        asyncio.run(pool.still_connected(Socket(ours)))  # type: ignore[arg-type]
    assert rounds == []


@pytest.mark.timeout(10)
@pytest.mark.parametrize("server", ["says goodbye", "closes"])
def test_an_idle_connection_the_server_spoke_on_is_checked_with_a_round_trip(
    monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    """Bytes or the end of the stream on an idle connection: a round trip decides."""
    rounds = checked(monkeypatch)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        if server == "closes":
            theirs.close()
        else:
            theirs.sendall(b"E")
        connection = Socket(ours)
        asyncio.run(pool.still_connected(connection))  # type: ignore[arg-type]
    assert rounds == [connection]


@pytest.mark.timeout(10)
def test_a_connection_past_selects_descriptor_limit_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server with thousands of sockets lends connections numbered past 1024: still checked."""
    rounds = checked(monkeypatch)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    high = 1500
    if soft <= high:
        if hard != resource.RLIM_INFINITY and hard <= high:
            pytest.skip(f"this process may not open descriptor {high}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (high + 1, hard))
    ours, theirs = socket.socketpair()
    try:
        os.dup2(ours.fileno(), high)
        far = socket.socket(fileno=high)
        with far, ours, theirs:
            connection = Socket(far)
            asyncio.run(pool.still_connected(connection))  # type: ignore[arg-type]
            theirs.sendall(b"E")
            asyncio.run(pool.still_connected(connection))  # type: ignore[arg-type]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert rounds == [connection]


# The server ends the backend behind the pool's one idle connection: the
# next borrower gets a new connection that works.
DROPPED = """
import asyncio, json, select
from realtime.orders import pool
def terminate(pid):
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
async def main():
    try:
        async with pool.connection() as first:
            pid = first.info.backend_pid
        await asyncio.to_thread(terminate, pid)
        for _ in range(500):
            if select.select([first.fileno()], [], [], 0)[0]:
                break
            await asyncio.sleep(0.01)
        async with pool.connection() as second:
            cursor = await second.execute("SELECT pg_backend_pid()")
            now = (await cursor.fetchone())[0]
        return {"first": pid, "second": now, "same_object": first is second}
    finally:
        await pool.close()
print(json.dumps(asyncio.run(main())))
"""

# Nothing listens where the database should be.
UNREACHABLE = """
import asyncio, json, time
from django.db import OperationalError
from realtime.orders import pool
from realtime.testing.processes import free_port
connections["default"].settings_dict["PORT"] = str(free_port())
pool.WAIT = 0.5
async def main():
    started = time.monotonic()
    try:
        async with pool.connection():
            said = "connected"
    except OperationalError as exc:
        said = f"{type(exc).__module__}.{type(exc).__name__}"
    finally:
        await pool.close()
    return {"said": said, "seconds": time.monotonic() - started}
print(json.dumps(asyncio.run(main())))
"""


def on_postgresql(test: Callable[..., None]) -> Callable[..., None]:
    """A script test on a fresh PostgreSQL database: the pool serves no other."""
    for mark in (
        pytest.mark.integration,
        pytest.mark.timeout(120),
        pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
    ):
        test = mark(test)
    return test


@on_postgresql
def test_a_connection_the_server_dropped_is_replaced_before_it_is_lent(
    django_script: Script,
) -> None:
    """A terminated backend is noticed at the borrow: the borrower's query runs on a new one."""
    said: dict[str, Any] = django_script(DROPPED)
    assert said["second"] != said["first"]
    assert said["same_object"] is False


@on_postgresql
def test_a_database_out_of_reach_is_djangos_operational_error_within_the_wait(
    django_script: Script,
) -> None:
    """No connection within WAIT: Django's OperationalError (a 503), not a hang."""
    said: dict[str, Any] = django_script(UNREACHABLE)
    assert said["said"] == "django.db.utils.OperationalError"
    assert 0.4 < said["seconds"] < 5
