"""The status change in hand-written SQL, on SQLite and PostgreSQL: the same
answer, event and refusals as the ORM gave, and one winner among writers
racing from the same status (realtime/orders/sql.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model

from realtime.events.models import Event
from realtime.orders import sql
from realtime.orders.models import Order
from realtime.orders.service import change_status, create_order
from realtime.orders.states import Status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

Script = Callable[[str], dict[str, object]]

# Creation times whose text PostgreSQL's statement builds as Python does.
STAMPS = [
    "2026-01-02T03:04:05+00:00",
    "2026-01-02T03:04:05.120000+00:00",
    "2026-01-02T03:04:05.000001+00:00",
]

# Each script makes its changes both ways, each on orders of its own: from a
# thread (`change_status`) and from an event loop (`achange_status`, on a
# loop of its own each time, which closes its connections before it ends).
CHANGES = """
import asyncio
from realtime.orders import pool, service
def on_a_loop(*args, **kwargs):
    async def change():
        try:
            return await service.achange_status(*args, **kwargs)
        finally:
            await pool.close()
    return asyncio.run(change())
CHANGES = {"change_status": service.change_status, "achange_status": on_a_loop}
"""

ANSWERS = (
    f"STAMPS = {STAMPS!r}\n"
    + CHANGES
    + """
import json
from django.contrib.auth import get_user_model
from realtime.events.models import Event
from realtime.orders.models import Order
from realtime.orders.states import Status
users = get_user_model().objects
alice, bob = users.create_user("alice"), users.create_user("bob")
def answers(change):
    order = service.create_order(alice, [{"name": "t\\u00eaa", "qty": 2}])
    answer = change(order.pk, Status.CONFIRMED, {"by": "test"})
    stored = Order.objects.get(pk=order.pk).as_dict()
    event = Event.objects.filter(subject=order.pk).latest("seq")
    refusals = []
    for order_id, status, owner in (
        (order.pk, Status.PENDING, None),
        (order.pk, Status.READY, None),
        (order.pk, Status.CANCELLED, bob.pk),
        (2**62, Status.CANCELLED, None),
    ):
        try:
            change(order_id, status, owner_id=owner)
            refusals.append("changed")
        except service.TransitionError as exc:
            refusals.append(f"409 {exc.current}")
        except Order.DoesNotExist:
            refusals.append("404")
    events = Event.objects.filter(subject=order.pk).count()
    cancelled = change(order.pk, Status.CANCELLED, owner_id=alice.pk)
    created = []
    for stamp in STAMPS:
        other = service.create_order(alice, [])
        Order.objects.filter(pk=other.pk).update(created_at=stamp)
        said = change(other.pk, Status.CONFIRMED)["created_at"]
        created.append([said, Order.objects.get(pk=other.pk).as_dict()["created_at"]])
    return {
        "answer": answer,
        "stored": stored,
        "event": [event.payload, event.meta, event.version, event.owner == alice.pk, event.subject],
        "refusals": refusals,
        "events": events,
        "owner_cancels": cancelled["version"],
        "created": created,
    }
print(json.dumps({name: answers(change) for name, change in CHANGES.items()}))
"""
)

RACE = (
    CHANGES
    + """
import json
from django.contrib.auth import get_user_model
from realtime.events.models import Event
from realtime.orders.models import Order
from realtime.orders.states import Status
alice = get_user_model().objects.create_user("alice")
def race(change):
    order = service.create_order(alice, [])
    said = []
    def confirm():
        try:
            said.append(change(order.pk, Status.CONFIRMED)["version"])
        except service.TransitionError as exc:
            said.append(str(exc.current))
    together(*[confirm] * 4)
    return {
        "said": sorted(map(str, said)),
        "version": Order.objects.get(pk=order.pk).version,
        "events": list(
            Event.objects.filter(subject=order.pk).order_by("seq").values_list("version", flat=True)
        ),
    }
print(json.dumps({name: race(change) for name, change in CHANGES.items()}))
"""
)

# A host project's transaction that changes an order, then publishes: the
# order row's lock first, the sequence lock second.
ROW_THEN_LOCK = """
import json, threading, time
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from realtime import publish
from realtime.events.models import Event
from realtime.orders import service
from realtime.orders.models import Order
from realtime.orders.states import Status
order = service.create_order(get_user_model().objects.create_user("alice"), [])
holding, changing = threading.Event(), threading.Event()
said = []
def until_the_change_waits():
    changing.wait(timeout=30)
    if connection.vendor != "postgresql":
        return
    # Until the change is queued on the order's row (SQLite's writers queue
    # on the database's write lock, which nothing shows).
    with connection.cursor() as cursor:
        for _ in range(1000):
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
def host_project():
    try:
        with transaction.atomic():
            Order.objects.filter(pk=order.pk).update(status=Status.CONFIRMED, version=2)
            holding.set()
            until_the_change_waits()
            publish(order.pk, owner=order.owner_id, payload={"status": "confirmed"}, version=2)
        said.append("host committed")
    except Exception as exc:
        said.append(repr(exc))
def change():
    holding.wait(timeout=30)
    changing.set()
    try:
        said.append(service.change_status(order.pk, Status.CANCELLED)["status"])
    except Exception as exc:
        said.append(repr(exc))
together(host_project, change)
print(json.dumps({
    "said": said,
    "versions": list(Event.objects.order_by("seq").values_list("version", flat=True)),
}))
"""


def test_a_change_queued_behind_a_host_transaction_that_then_publishes_commits(
    django_script: Script,
) -> None:
    """The change waits for the order's row, not holding the sequence lock: no deadlock."""
    said = django_script(ROW_THEN_LOCK)
    # Both threads wake at the host's commit and may say so in either order;
    # the versions give the order of the commits.
    assert sorted(said["said"]) == ["cancelled", "host committed"]
    assert said["versions"] == [1, 2, 3]


def test_a_change_answers_and_refuses_as_the_orm_did(django_script: Script) -> None:
    """From a thread or an event loop, the answer is the stored order and its
    event's payload; refusals are 409 or 404."""
    results = django_script(ANSWERS)
    assert set(results) == {"change_status", "achange_status"}
    for change, said in results.items():
        assert isinstance(said, dict), change
        assert said["answer"] == said["stored"], change
        answer = said["answer"]
        assert (answer["status"], answer["version"]) == ("confirmed", 2)
        assert (answer["owner"], answer["items"]) == ("alice", [{"name": "têa", "qty": 2}])
        assert said["event"] == [answer, {"by": "test"}, 2, True, answer["id"]], change
        assert said["refusals"] == ["409 confirmed", "409 confirmed", "404", "404"], change
        assert said["events"] == 2, change
        assert said["owner_cancels"] == 3, change
        assert said["created"] == [[stamp, stamp] for stamp in STAMPS], change


def test_one_of_the_writers_racing_from_the_same_status_wins(django_script: Script) -> None:
    """Four writers confirm one pending order at once, from threads or event
    loops: one succeeds, three are refused."""
    results = django_script(RACE)
    assert set(results) == {"change_status", "achange_status"}
    for change, said in results.items():
        assert isinstance(said, dict), change
        assert said["said"] == ["2", "confirmed", "confirmed", "confirmed"], change
        assert said["version"] == 2, change
        assert said["events"] == [1, 2], change


@pytest.mark.django_db
def test_a_change_refused_for_a_status_that_moved_on_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refused, then the order is found in a status that allows the change: it is made."""
    alice = get_user_model().objects.create_user("alice")
    order = create_order(alice, [])
    Order.objects.filter(pk=order.pk).update(status=Status.READY)
    change, calls = sql.change, []

    def moved_back_after_the_first(*args: object) -> sql.Changed | None:
        changed = change(*args)
        if not calls:
            Order.objects.filter(pk=order.pk).update(status=Status.PENDING)
        calls.append(changed)
        return changed

    monkeypatch.setattr(sql, "change", moved_back_after_the_first)
    assert change_status(order.pk, Status.CONFIRMED)["status"] == "confirmed"
    assert [e.version for e in Event.objects.order_by("seq")] == [1, 2]
    assert len(calls) == 2
