from __future__ import annotations

import itertools

import pytest

from realtime.orders.states import Status, allowed_next, can_transition

FORWARD = [Status.PENDING, Status.CONFIRMED, Status.PREPARING, Status.READY, Status.DELIVERED]


@pytest.mark.parametrize(("current", "target"), list(itertools.pairwise(FORWARD)))
def test_forward_steps_are_allowed(current: Status, target: Status) -> None:
    """Each status may move to the next one."""
    assert can_transition(current, target)


def test_skips_backwards_and_final_states_are_refused() -> None:
    """No skipping, no going back, nothing after delivered or cancelled."""
    assert not can_transition(Status.PENDING, Status.READY)
    assert not can_transition(Status.READY, Status.CONFIRMED)
    assert not can_transition(Status.DELIVERED, Status.CANCELLED)
    assert not can_transition(Status.CANCELLED, Status.PENDING)


@pytest.mark.parametrize("current", FORWARD[:-1])
def test_any_open_order_may_be_cancelled(current: Status) -> None:
    """Every non-final status may go to cancelled."""
    assert can_transition(current, Status.CANCELLED)


def test_allowed_next_names_the_next_step_and_cancel_until_final() -> None:
    """An open order may go one step on or be cancelled; a final one nowhere."""
    assert allowed_next(Status.PREPARING) == [Status.READY, Status.CANCELLED]
    assert allowed_next(Status.DELIVERED) == []
    assert allowed_next(Status.CANCELLED) == []
