"""The recent-events window answers resumes it can prove complete, and only those."""

from __future__ import annotations

import pytest

from realtime.delivery.events import Event
from realtime.delivery.recent import RecentEvents, cost
from realtime.delivery.scopes import Visibility


def event(seq: int, order_id: int = 1, owner_id: int = 1) -> Event:
    """Orders of one size, so a byte budget holds a known number of events."""
    order = {"seq": f"{seq:06d}"}
    return Event(seq, order_id, owner_id, seq, published_at=0.0, payload=order, meta={})


def test_a_resume_inside_the_window_gets_every_later_event() -> None:
    """From any cursor between the floor and the head, every later event comes back in order."""
    window = RecentEvents(cursor=10, budget=100_000)
    for seq in range(11, 16):
        window.add(event(seq))
    everything = Visibility(user_id=1, everything=True)
    assert [e.seq for e in window.after(10, everything) or []] == [11, 12, 13, 14, 15]
    assert [e.seq for e in window.after(13, everything) or []] == [14, 15]
    assert window.after(15, everything) == []


def test_outside_the_window_the_answer_is_none() -> None:
    """Before the floor (or past the head) the window cannot prove completeness: None."""
    window = RecentEvents(cursor=10, budget=100_000)
    window.add(event(11))
    everything = Visibility(user_id=1, everything=True)
    assert window.after(9, everything) is None
    assert window.after(12, everything) is None


def test_the_window_keeps_to_its_byte_budget_and_raises_its_floor() -> None:
    """Past its budget the oldest events go, and resumes from before them are refused."""
    window = RecentEvents(cursor=0, budget=3 * cost(event(1)))
    for seq in range(1, 101):
        window.add(event(seq))
    everything = Visibility(user_id=1, everything=True)
    assert window.size <= window.budget
    assert (window.floor, len(window)) == (97, 3)
    assert window.after(96, everything) is None
    assert [e.seq for e in window.after(97, everything) or []] == [98, 99, 100]


def test_one_event_over_the_budget_leaves_an_empty_window_at_the_head() -> None:
    """An event larger than the whole budget is not kept; a resume from the head still works."""
    window = RecentEvents(cursor=0, budget=10)
    window.add(event(1))
    assert (window.floor, window.cursor, len(window)) == (1, 1, 0)
    assert window.after(1, Visibility(user_id=1, everything=True)) == []
    assert window.after(0, Visibility(user_id=1, everything=True)) is None


def test_old_or_repeated_events_are_ignored() -> None:
    """An event at or below the head (a repeat) changes nothing."""
    window = RecentEvents(cursor=5, budget=100_000)
    window.add(event(6))
    window.add(event(6))
    window.add(event(4))
    assert [e.seq for e in window.after(5, Visibility(user_id=1, everything=True)) or []] == [6]


def test_visibility_filters_as_the_database_replay_does() -> None:
    """Own orders under `mine`, subscribed orders by id, nothing else."""
    window = RecentEvents(cursor=0, budget=100_000)
    window.add(event(1, order_id=1, owner_id=7))
    window.add(event(2, order_id=2, owner_id=8))
    window.add(event(3, order_id=3, owner_id=8))
    mine_and_order_3 = Visibility(user_id=7, order_ids=frozenset({3}), mine=True)
    assert [e.seq for e in window.after(0, mine_and_order_3) or []] == [1, 3]
    only_order_2 = Visibility(user_id=7, order_ids=frozenset({2}), mine=False)
    assert [e.seq for e in window.after(0, only_order_2) or []] == [2]


def test_rejects_a_window_without_a_budget() -> None:
    """A window of no bytes could answer nothing."""
    with pytest.raises(ValueError, match="budget"):
        RecentEvents(cursor=0, budget=0)
