from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from realtime.daphne.heads import HeadLimits, Ticket, line_too_long


class Clock:
    """A reactor's callLater that runs nothing until told."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def callLater(self, delay: float, fn: Any) -> Any:
        call = SimpleNamespace(fn=fn, cancelled=False)
        call.active = lambda: not call.cancelled
        call.cancel = lambda: setattr(call, "cancelled", True)
        self.calls.append(call)
        return call


def protocol() -> Any:
    transport = SimpleNamespace(connected=True, aborted=False)
    transport.abortConnection = lambda: setattr(transport, "aborted", True)
    return SimpleNamespace(_channel=SimpleNamespace(transport=transport))


def limits(clock: Clock, per_address: int = 5, idle: float = 60.0) -> HeadLimits:
    return HeadLimits(clock, timeout=10.0, per_address=per_address, idle=idle)


def test_an_address_past_its_begun_heads_is_refused_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two heads begun and unfinished: the next connection is refused; one WARNING for many."""
    heads = limits(Clock(), per_address=2)
    tickets = [Ticket(heads, "10.0.0.1", protocol()) for _ in range(2)]
    assert heads.admit("10.0.0.1")
    for ticket in tickets:
        ticket.begin()
    with caplog.at_level(logging.WARNING, "realtime.server"):
        assert not any(heads.admit("10.0.0.1") for _ in range(5))
    assert heads.admit("10.0.0.2")
    assert heads.refused == 5
    assert len(caplog.records) == 1
    tickets[0].arrived()
    assert heads.admit("10.0.0.1")


def test_a_head_that_arrives_in_one_read_is_never_counted() -> None:
    """begin then arrived at once (a storm's heads): nothing stays pending."""
    heads = limits(Clock(), per_address=1)
    for _ in range(100):
        ticket = Ticket(heads, "h", protocol())
        ticket.begin()
        ticket.arrived()
    assert heads.pending == {}


def test_a_begun_head_not_in_by_the_deadline_is_aborted() -> None:
    """The deadline aborts a trickling head and frees its place; a head in time cancels it."""
    clock = Clock()
    heads = limits(clock)
    slow, quick = protocol(), protocol()
    late, prompt = Ticket(heads, "h", slow), Ticket(heads, "h", quick)
    late.begin()
    prompt.begin()
    prompt.arrived()
    assert clock.calls[1].cancelled
    clock.calls[0].fn()
    assert slow._channel.transport.aborted
    assert not quick._channel.transport.aborted
    assert heads.pending == {}
    assert heads.expired == 1


def test_a_connection_not_yet_read_gets_until_the_idle_timeout() -> None:
    """No request line by the deadline: the deadline is set again, until HTTP_IDLE_TIMEOUT."""
    clock = Clock()
    unread = protocol()
    ticket = Ticket(limits(clock, idle=60.0), "h", unread)
    clock.calls[-1].fn()
    assert not unread._channel.transport.aborted
    assert ticket.timer is clock.calls[-1]
    ticket.opened_at -= 61
    clock.calls[-1].fn()
    assert unread._channel.transport.aborted


def test_a_kept_alive_connection_is_timed_again_for_its_next_request() -> None:
    """begin() after arrived() counts the connection and sets a new deadline."""
    clock = Clock()
    heads = limits(clock)
    ticket = Ticket(heads, "h", protocol())
    ticket.begin()
    ticket.arrived()
    ticket.begin()
    assert heads.pending == {"h": 1}
    assert len(clock.calls) == 2


def test_a_socket_waiting_for_its_first_frame_holds_a_place_until_freed_once() -> None:
    """held() counts against the address; freeing twice frees one place."""
    heads = limits(Clock(), per_address=1)
    free = heads.held("10.0.0.1")
    assert not heads.admit("10.0.0.1")
    free()
    free()
    assert heads.admit("10.0.0.1")
    assert heads.pending == {}


def long_line_channel() -> Any:
    transport = SimpleNamespace(written=b"", half_closed=False, aborted=False)
    transport.write = lambda data: setattr(transport, "written", transport.written + data)
    transport.loseWriteConnection = lambda: setattr(transport, "half_closed", True)
    transport.abortConnection = lambda: setattr(transport, "aborted", True)
    return SimpleNamespace(MAX_LENGTH=16384, transport=transport)


@pytest.mark.parametrize(("begun", "status"), [(False, b"414"), (True, b"431")])
def test_a_line_too_long_is_answered_then_the_rest_discarded_until_a_deadline(
    begun: bool, status: bytes
) -> None:
    """414 before the request line, 431 after; the write side ends, reads are dropped, abort due."""
    clock = Clock()
    ticket = Ticket(limits(clock), "h", protocol())
    ticket.begun = begun
    channel = long_line_channel()
    line_too_long(ticket, channel, b"x" * 20000)
    assert channel.transport.written.startswith(b"HTTP/1.1 " + status)
    assert channel.transport.half_closed
    assert channel.dataReceived(b"more") is None
    clock.calls[-1].fn()
    assert channel.transport.aborted
