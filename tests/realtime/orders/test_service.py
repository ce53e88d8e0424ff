from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from realtime.orders.models import Order, OrderEvent
from realtime.orders.service import (
    TransitionError,
    change_status,
    check_meta,
    check_text,
    create_order,
    latest_seq,
    prune_events,
    pruned_through,
)
from realtime.orders.states import Status

pytestmark = pytest.mark.django_db


def test_each_change_appends_one_event_with_the_new_version() -> None:
    """Create and every status change write an event whose version matches the order's."""
    alice = get_user_model().objects.create_user("alice")
    order = create_order(alice, [{"name": "tea", "qty": 1}])
    change_status(order.pk, Status.CONFIRMED, {"by": "test"})
    events = list(OrderEvent.objects.order_by("seq"))
    assert [(e.version, e.payload["status"]) for e in events] == [(1, "pending"), (2, "confirmed")]
    assert events[1].meta == {"by": "test"}
    assert latest_seq() == events[1].seq


def test_a_refused_transition_writes_nothing() -> None:
    """A bad transition raises and leaves neither the order nor the event log changed."""
    alice = get_user_model().objects.create_user("alice")
    order = create_order(alice, [{"name": "tea", "qty": 1}])
    with pytest.raises(TransitionError, match="from 'pending' to 'ready'"):
        change_status(order.pk, Status.READY)
    assert OrderEvent.objects.count() == 1


def test_prune_deletes_old_events_but_keeps_the_newest_and_records_the_horizon() -> None:
    """Pruning past the retention keeps the newest event, so a fresh cursor stays valid."""
    alice = get_user_model().objects.create_user("alice")
    order = create_order(alice, [{"name": "tea", "qty": 1}])
    for status in (Status.CONFIRMED, Status.PREPARING):
        change_status(order.pk, status)
    OrderEvent.objects.update(created_at=timezone.now() - timedelta(hours=2))
    newest = latest_seq()
    assert prune_events(3600) == 2
    assert list(OrderEvent.objects.values_list("seq", flat=True)) == [newest]
    assert pruned_through() == newest - 1
    assert prune_events(3600) == 0


@pytest.mark.parametrize(
    ("meta", "detail"),
    [
        ({"a": float("nan")}, "NaN"),
        ({"a": float("inf")}, "NaN or infinite"),
        ({"a": "x" * 300}, "256 bytes"),
        ({"a": "\u00e9" * 200}, "256 bytes"),
        ({"a": ["ok", {"b": "nul\x00"}]}, "NUL"),
        ({"k\x00": 1}, "NUL"),
        ({"a": "\ud800"}, "surrogate"),
    ],
)
def test_meta_that_cannot_be_stored_or_sent_is_refused(
    meta: dict[str, object], detail: str
) -> None:
    """meta must be finite, NUL-free, valid Unicode and at most 256 bytes of UTF-8."""
    with pytest.raises(ValueError, match=detail):
        check_meta(meta)


def test_plain_text_and_small_meta_pass() -> None:
    """Ordinary Unicode text and meta pass unchanged."""
    assert check_text("caf\u00e9 \U0001f375") == "caf\u00e9 \U0001f375"
    assert check_meta({"by": "kitchen", "n": 2}) == {"by": "kitchen", "n": 2}


def test_a_change_limited_to_an_owner_does_not_touch_another_owners_order() -> None:
    """change_status(owner_id=) finds only that owner's order: no change, no event."""
    users = get_user_model().objects
    alice, bob = users.create_user("alice"), users.create_user("bob")
    order = create_order(alice, [{"name": "tea", "qty": 1}])
    with pytest.raises(Order.DoesNotExist):
        change_status(order.pk, Status.CANCELLED, owner_id=bob.pk)
    assert OrderEvent.objects.count() == 1
    assert change_status(order.pk, Status.CANCELLED, owner_id=alice.pk).version == 2
