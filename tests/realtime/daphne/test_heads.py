from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from realtime.daphne.heads import HeadLimits, Ticket


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


def test_an_address_past_its_pending_heads_is_refused_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two pending heads allowed: the third connection is refused; one WARNING for many refusals."""
    limits = HeadLimits(Clock(), timeout=10.0, per_address=2)
    tickets = [Ticket(limits, "10.0.0.1", protocol()) for _ in range(2)]
    with caplog.at_level(logging.WARNING, "realtime.server"):
        assert not any(limits.admit("10.0.0.1") for _ in range(5))
    assert limits.admit("10.0.0.2")
    assert limits.refused == 5
    assert len(caplog.records) == 1
    tickets[0].arrived()
    assert limits.admit("10.0.0.1")


def test_a_head_not_in_by_the_deadline_is_aborted() -> None:
    """The deadline aborts the connection and frees its place; a head in time cancels it."""
    clock = Clock()
    limits = HeadLimits(clock, timeout=10.0, per_address=5)
    slow, quick = protocol(), protocol()
    late, prompt = Ticket(limits, "h", slow), Ticket(limits, "h", quick)
    prompt.arrived()
    assert clock.calls[1].cancelled
    clock.calls[0].fn()
    assert slow._channel.transport.aborted
    assert not quick._channel.transport.aborted
    assert limits.pending == {}
    assert limits.expired == 1
    assert late.timer is None


def test_a_kept_alive_connection_is_timed_again_for_its_next_request() -> None:
    """start() after arrived() counts the connection and sets a new deadline."""
    clock = Clock()
    limits = HeadLimits(clock, timeout=10.0, per_address=5)
    ticket = Ticket(limits, "h", protocol())
    ticket.arrived()
    ticket.start()
    assert limits.pending == {"h": 1}
    assert len(clock.calls) == 2
