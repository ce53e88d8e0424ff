"""The demo's order service: each change publishes its event in its transaction."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from realtime.events import sql as event_sql
from realtime.events.log import latest_seq
from realtime.events.models import Event
from realtime.orders import sql
from realtime.orders.models import Order
from realtime.orders.service import TransitionError, change_status, create_order
from realtime.orders.states import Status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["sql", "orm"])
def writes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test twice: through the hand-written SQL (realtime/orders/sql.py),
    and through the ORM that databases without it use."""
    if request.param == "orm":
        monkeypatch.setattr(sql, "VENDORS", frozenset())
        monkeypatch.setattr(event_sql, "VENDORS", frozenset())
    return str(request.param)


def test_each_change_appends_one_event_with_the_new_version() -> None:
    """Create and every status change publish an event whose version matches the order's."""
    alice = get_user_model().objects.create_user("alice")
    order = create_order(alice, [{"name": "tea", "qty": 1}])
    change_status(order.pk, Status.CONFIRMED, {"by": "test"})
    events = list(Event.objects.order_by("seq"))
    assert [(e.version, e.payload["status"]) for e in events] == [(1, "pending"), (2, "confirmed")]
    assert events[1].meta == {"by": "test"}
    assert latest_seq() == events[1].seq


def test_a_refused_transition_writes_nothing() -> None:
    """A bad transition raises and leaves neither the order nor the event log changed."""
    alice = get_user_model().objects.create_user("alice")
    order = create_order(alice, [{"name": "tea", "qty": 1}])
    with pytest.raises(TransitionError, match="from 'pending' to 'ready'"):
        change_status(order.pk, Status.READY)
    assert Event.objects.count() == 1


def test_a_change_limited_to_an_owner_does_not_touch_another_owners_order() -> None:
    """change_status(owner_id=) finds only that owner's order: no change, no event."""
    users = get_user_model().objects
    alice, bob = users.create_user("alice"), users.create_user("bob")
    order = create_order(alice, [{"name": "tea", "qty": 1}])
    with pytest.raises(Order.DoesNotExist):
        change_status(order.pk, Status.CANCELLED, owner_id=bob.pk)
    assert Event.objects.count() == 1
    assert change_status(order.pk, Status.CANCELLED, owner_id=alice.pk)["version"] == 2


def test_a_change_to_pending_is_refused_without_a_write() -> None:
    """Nothing moves to pending: a 409 naming the current status, no event."""
    alice = get_user_model().objects.create_user("alice")
    order = create_order(alice, [])
    with pytest.raises(TransitionError, match="from 'pending' to 'pending'"):
        change_status(order.pk, Status.PENDING)
    assert Event.objects.count() == 1
