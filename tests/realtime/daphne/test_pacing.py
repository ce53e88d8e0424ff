"""A turn of the loop reads at most its budget of new connections' request
heads; the rest wait, in arrival order, for the next turns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from realtime.daphne.pacing import HandshakePacer

pytestmark = pytest.mark.timeout(30)


class Loop:
    """A reactor's callLater(0) as the event loop runs it: in the next turn,
    never in the turn that scheduled it."""

    def __init__(self) -> None:
        self.soon: list[Callable[[], Any]] = []

    def callLater(self, delay: float, call: Callable[[], Any]) -> None:
        assert delay == 0
        self.soon.append(call)

    def turn(self) -> None:
        """One turn of the loop."""
        due, self.soon = self.soon, []
        for call in due:
            call()


class Transport:
    def __init__(self) -> None:
        self.reading = True
        self.connected = True
        self.disconnecting = False
        # Selector registrations changed: each pause or resume is one.
        self.changes = 0

    def pauseProducing(self) -> None:
        self.reading = False
        self.changes += 1

    def resumeProducing(self) -> None:
        self.reading = True
        self.changes += 1


class Connection:
    """A protocol that is its own connection, recording what it was given."""

    def __init__(self, name: str, log: list[tuple[str, bytes]]) -> None:
        self.name = name
        self.log = log
        self.transport = Transport()

    def dataReceived(self, data: bytes) -> None:
        self.log.append((self.name, data))


def paced(pacer: HandshakePacer, count: int, log: list[tuple[str, bytes]]) -> list[Connection]:
    connections = [Connection(f"c{i}", log) for i in range(count)]
    for connection in connections:
        pacer.pace(connection, connection)
    return connections


def test_first_reads_within_the_budget_go_straight_through() -> None:
    """Up to the budget, a new connection's request is handled in the turn it arrived."""
    loop, log = Loop(), list[tuple[str, bytes]]()
    pacer = HandshakePacer(loop, most=3)
    for connection in paced(pacer, 3, log):
        connection.dataReceived(b"GET /")
        assert connection.transport.reading
    assert [name for name, _ in log] == ["c0", "c1", "c2"]


def test_first_reads_past_the_budget_wait_for_the_next_turns_in_order() -> None:
    """Past the budget a first read waits; the next turns take the waiting in order."""
    loop, log = Loop(), list[tuple[str, bytes]]()
    pacer = HandshakePacer(loop, most=2)
    connections = paced(pacer, 5, log)
    for connection in connections:
        connection.dataReceived(connection.name.encode())
    assert [name for name, _ in log] == ["c0", "c1"]
    loop.turn()
    assert [name for name, _ in log] == ["c0", "c1", "c2", "c3"]
    loop.turn()
    assert log == [(f"c{i}", f"c{i}".encode()) for i in range(5)]
    assert not pacer.waiting
    # A waiting connection that sends nothing more costs no selector change.
    assert all(c.transport.reading for c in connections)
    assert [c.transport.changes for c in connections] == [0] * 5


def test_a_connection_that_sends_again_while_waiting_is_paused_until_its_turn() -> None:
    """What it sends while waiting is held unread, then handed over after its first read."""
    loop, log = Loop(), list[tuple[str, bytes]]()
    pacer = HandshakePacer(loop, most=1)
    first, second = paced(pacer, 2, log)
    first.dataReceived(b"GET / HTTP/1.1\r\n")
    second.dataReceived(b"GET /a HTTP/1.1\r\n")
    second.dataReceived(b"Host: x\r\n")
    second.dataReceived(b"\r\n")
    assert not second.transport.reading
    assert second.transport.changes == 1
    loop.turn()
    assert second.transport.reading
    assert log[1:] == [("c1", b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")]
    second.dataReceived(b"next")
    assert log[-1] == ("c1", b"next")


def test_a_new_arrival_queues_behind_those_already_waiting() -> None:
    """A first read with budget left still goes after the connections waiting before it."""
    loop, log = Loop(), list[tuple[str, bytes]]()
    pacer = HandshakePacer(loop, most=1)
    first, second, third = paced(pacer, 3, log)
    first.dataReceived(b"1")
    second.dataReceived(b"2")
    loop.turn()
    third.dataReceived(b"3")
    assert [name for name, _ in log] == ["c0", "c1"]
    loop.turn()
    assert [name for name, _ in log] == ["c0", "c1", "c2"]


def test_later_reads_of_a_connection_are_never_held() -> None:
    """Only the first read is paced: the rest of a request or the next frames go straight in."""
    loop, log = Loop(), list[tuple[str, bytes]]()
    pacer = HandshakePacer(loop, most=1)
    first, second = paced(pacer, 2, log)
    first.dataReceived(b"head")
    first.dataReceived(b"more")
    first.dataReceived(b"and more")
    assert [data for _, data in log] == [b"head", b"more", b"and more"]
    second.dataReceived(b"waits")
    assert log[-1] == ("c0", b"and more")


def test_a_connection_closed_while_waiting_is_skipped() -> None:
    """A client that gave up while waiting costs its turn nothing."""
    loop, log = Loop(), list[tuple[str, bytes]]()
    pacer = HandshakePacer(loop, most=1)
    first, gone, last = paced(pacer, 3, log)
    for connection in (first, gone, last):
        connection.dataReceived(b"x")
    gone.transport.connected = False
    loop.turn()
    assert [name for name, _ in log] == ["c0", "c2"]


def test_a_pacer_needs_room_for_one_read() -> None:
    """A budget of zero would never read a new connection."""
    with pytest.raises(ValueError, match="room for one"):
        HandshakePacer(Loop(), most=0)
