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
    """Silence for the timeout means TIMEOUT; a received frame resets the clock."""
    state = HeartbeatState.start(0.0, interval=1, timeout=3)
    state.received(2.0)
    assert state.poll(4.9) is not HeartbeatAction.TIMEOUT
    assert state.poll(5.0) is HeartbeatAction.TIMEOUT
    assert state.silence(5.0) == 3.0


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
