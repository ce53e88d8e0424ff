"""What a Watcher reads off the connection changes it recorded."""

from __future__ import annotations

from realtime.client import OrdersClient, State, StateChange
from realtime.testing.watchers import Watcher


def watcher(*changes: tuple[float, StateChange]) -> Watcher:
    recorded = Watcher(OrdersClient("ws://127.0.0.1:9/ws/orders/", "token"))
    recorded.changes.extend(changes)
    return recorded


def test_a_try_starts_when_the_backoff_sleep_before_it_ends() -> None:
    """The try that connected after a moment began at the end of the last sleep before it."""
    recorded = watcher(
        (1.0, StateChange(State.CONNECTED)),
        (2.0, StateChange(State.RECONNECTING, retry_in=0.5)),
        (2.6, StateChange(State.RECONNECTING, retry_in=4.0)),
        (9.0, StateChange(State.CONNECTED)),
    )
    assert recorded.tried_after(5.0) == 6.6
    assert recorded.connected_after(5.0) == 9.0


def test_a_sleep_that_ended_before_the_moment_counts_from_the_moment() -> None:
    """A client already trying at the moment tried from that moment on."""
    recorded = watcher(
        (2.0, StateChange(State.RECONNECTING, retry_in=0.5)),
        (7.0, StateChange(State.CONNECTED)),
    )
    assert recorded.tried_after(5.0) == 5.0


def test_no_try_before_connecting_again() -> None:
    """A client that has not connected since the moment has no try to report."""
    recorded = watcher((2.0, StateChange(State.RECONNECTING, retry_in=0.5)))
    assert recorded.tried_after(1.0) is None
