from __future__ import annotations

from realtime.core.flow import FlowControl


def test_lag_counts_events_past_the_acked_cursor() -> None:
    """Lag is the number of sent events the client has not acked."""
    flow = FlowControl(max_lag=3, max_backlog=10)
    for seq in (1, 4, 9):
        flow.sent(seq)
    assert flow.lag == 3
    flow.ack(4)
    assert flow.lag == 1
    flow.ack(2)
    assert flow.lag == 1


def test_overloaded_by_lag_or_backlog() -> None:
    """Past MAX_LAG unacked events or past the backlog bound is a slow consumer."""
    flow = FlowControl(max_lag=2, max_backlog=5)
    for seq in range(1, 4):
        flow.sent(seq)
    assert flow.overloaded(backlog=0) == "lag 3 events > 2"
    flow.ack(3)
    assert flow.overloaded(backlog=5) is None
    assert flow.overloaded(backlog=6) == "backlog 6 frames > 5"


def test_events_at_or_below_the_ack_are_not_counted() -> None:
    """An event already covered by the ack adds no lag."""
    flow = FlowControl(max_lag=2, max_backlog=5, acked=10)
    flow.sent(7)
    assert flow.lag == 0


def test_a_rewind_counts_older_replayed_events_as_lag() -> None:
    """After a rewind for resume, replayed seqs older than live ones count, and acks clear them."""
    flow = FlowControl(max_lag=10, max_backlog=10)
    flow.ack(100)
    flow.sent(101)
    flow.rewind(40)
    for seq in (41, 42, 43):
        flow.sent(seq)
    assert flow.lag == 4
    flow.ack(42)
    assert flow.lag == 2
    flow.ack(101)
    assert flow.lag == 0
