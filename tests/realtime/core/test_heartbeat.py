from __future__ import annotations

import pytest

from realtime.core.heartbeat import HeartbeatAction, HeartbeatState


def test_sends_a_heartbeat_every_interval() -> None:
    """poll asks for a heartbeat once the interval has passed since the last one."""
    state = HeartbeatState.start(0.0, interval=25, timeout=60)
    state.received(20)
    assert state.poll(24.9) is HeartbeatAction.NONE
    assert state.poll(25.0) is HeartbeatAction.SEND
    state.sent(25.0)
    assert state.poll(26.0) is HeartbeatAction.NONE


def test_times_out_after_silence_and_any_frame_counts_as_life() -> None:
    """With heartbeats on schedule, silence for the timeout means TIMEOUT; a frame resets it."""
    state = HeartbeatState.start(0.0, interval=1, timeout=3)
    state.sent(1.0)
    state.received(2.0)
    for now in (2.0, 3.0, 4.0):
        assert state.poll(now) is HeartbeatAction.SEND
        state.sent(now)
    assert state.poll(4.9) is HeartbeatAction.NONE
    assert state.poll(5.0) is HeartbeatAction.TIMEOUT
    assert state.silence(5.0) == 3.0


def test_a_late_heartbeat_moves_the_silence_deadline_on_by_its_lateness() -> None:
    """A tick that comes 8.7 s late (6.7 s more than an interval) sends the heartbeat
    instead of closing a client that was never asked, and the deadline moves 6.7 s on."""
    state = HeartbeatState.start(0.0, interval=2, timeout=10)
    assert state.poll(10.7) is HeartbeatAction.SEND
    state.sent(10.7)
    assert state.grace == pytest.approx(6.7)
    assert state.poll(16.69) is HeartbeatAction.SEND
    state.sent(16.69)
    assert state.poll(16.7) is HeartbeatAction.TIMEOUT
    state.received(16.65)
    assert state.grace == 0.0
    assert state.poll(16.7) is HeartbeatAction.NONE


def test_a_heartbeat_late_by_less_than_an_interval_moves_nothing() -> None:
    """The ticker's own granularity leaves the deadline where silence put it."""
    state = HeartbeatState.start(0.0, interval=0.5, timeout=2)
    state.sent(0.9)
    assert state.grace == 0.0
    for now in (1.4, 1.9):
        state.sent(now)
    assert state.poll(2.0) is HeartbeatAction.TIMEOUT


def test_a_timeout_shorter_than_the_interval_needs_no_heartbeat_to_fire() -> None:
    """When no heartbeat is due before the deadline, silence alone closes the connection."""
    state = HeartbeatState.start(0.0, interval=25, timeout=10)
    assert state.poll(9.9) is HeartbeatAction.NONE
    assert state.poll(10.0) is HeartbeatAction.TIMEOUT


def test_next_due_is_the_next_heartbeat_or_the_silence_deadline() -> None:
    """next_due is the next heartbeat or the timeout, whichever comes first; frames move it."""
    state = HeartbeatState.start(0.0, interval=25, timeout=60)
    assert state.next_due() == 25.0
    state.sent(25.0)
    assert state.next_due() == 50.0
    state = HeartbeatState.start(0.0, interval=25, timeout=10)
    assert state.next_due() == 10.0
    state.received(7.0)
    assert state.next_due() == 17.0


def test_received_never_moves_backwards() -> None:
    """A late-stamped frame cannot make a live client look silent."""
    state = HeartbeatState.start(10.0, interval=1, timeout=3)
    state.received(5.0)
    assert state.last_received == 10.0


def test_rejects_non_positive_settings() -> None:
    """Zero or negative interval or timeout is a configuration error."""
    with pytest.raises(ValueError, match="positive"):
        HeartbeatState.start(0.0, interval=0, timeout=3)
