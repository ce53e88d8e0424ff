"""The timing wheel hands items back when due: never early, at most a slot late."""

from __future__ import annotations

import pytest

from realtime.delivery.wheel import TimingWheel, tick_period


def test_an_item_is_never_handed_back_before_its_time() -> None:
    """Items come back once `now` reaches their time, not a slot earlier."""
    wheel: TimingWheel[str] = TimingWheel(1.0)
    wheel.schedule("a", 10.2)
    assert wheel.pop_due(10.19) == []
    assert wheel.pop_due(10.99) == []
    assert wheel.pop_due(11.0) == ["a"]
    assert "a" not in wheel
    assert len(wheel) == 0


def test_items_come_back_at_most_one_slot_late_in_time_order() -> None:
    """An item on a slot boundary comes back at once; several slots come back oldest first."""
    wheel: TimingWheel[str] = TimingWheel(0.5)
    wheel.schedule("late", 3.2)
    wheel.schedule("early", 2.0)
    assert wheel.pop_due(2.0) == ["early"]
    wheel.schedule("early", 2.1)
    assert wheel.pop_due(5.0) == ["early", "late"]


def test_rescheduling_replaces_and_cancel_removes() -> None:
    """An item is filed once: scheduling again moves it, cancel takes it out."""
    wheel: TimingWheel[str] = TimingWheel(1.0)
    wheel.schedule("a", 1.0)
    wheel.schedule("a", 5.0)
    wheel.schedule("b", 1.0)
    wheel.cancel("b")
    wheel.cancel("never filed")
    assert len(wheel) == 1
    assert wheel.pop_due(4.0) == []
    assert wheel.pop_due(5.0) == ["a"]


def test_an_item_filed_in_the_past_comes_back_on_the_next_pop() -> None:
    """A time already passed is due at once, not lost in a slot already popped."""
    wheel: TimingWheel[str] = TimingWheel(1.0)
    assert wheel.pop_due(100.0) == []
    wheel.schedule("overdue", 50.0)
    assert wheel.pop_due(100.5) == ["overdue"]


def test_rejects_a_non_positive_resolution() -> None:
    """A zero resolution would file every item in a slot of its own forever."""
    with pytest.raises(ValueError, match="positive"):
        TimingWheel(0.0)


def test_tick_period_bounds_detection_delay() -> None:
    """The ticker polls at least twice a second and at least four times per timeout."""
    assert tick_period(25, 60) == 0.5
    assert tick_period(0.5, 1.5) == 0.125
    assert tick_period(0.01, 0.01) == 0.05


def test_an_item_comes_back_at_the_end_of_the_slot_it_is_due_in() -> None:
    """Popped just after slot_end(at), an item is handed back at most one resolution late."""
    for at in (0.0, 0.1, 0.2499, 0.25, 3.7, 1000.01):
        wheel: TimingWheel[str] = TimingWheel(0.25)
        wheel.schedule("x", at)
        end = wheel.slot_end(at)
        assert at < end <= at + 0.25
        assert wheel.pop_due(end + 1e-6) == ["x"]
