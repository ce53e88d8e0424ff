"""Writing the demo's orders: every change bumps the version and writes its
event in the same transaction (`realtime.publish`, or on PostgreSQL one
statement that does both: docs/architecture.md, "The write path")."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from realtime.events.models import ORDER_UPDATE, Event
from realtime.events.publishing import (
    check_meta,
    check_text,
    encoded_meta,
    publish,
    send_after_commit,
    send_committed,
)
from realtime.orders import pool, sql
from realtime.orders.models import Order
from realtime.orders.states import Status, allowed_next, can_transition

__all__ = ["TransitionError", "achange_status", "change_status", "check_text", "create_order"]

# A refused change reads the status again; this many races in a row are a refusal.
CHANGE_ATTEMPTS = 3

Outcome = TypeVar("Outcome")


class TransitionError(Exception):
    def __init__(self, current: Status, target: Status) -> None:
        self.current, self.target = current, target
        self.allowed = allowed_next(current)
        allowed = ", ".join(self.allowed) or "none, the order is final"
        super().__init__(
            f"cannot change status from '{current}' to '{target}'; allowed next: {allowed}"
        )


def _publish(order: Order, meta: dict[str, Any]) -> None:
    publish(
        order.pk, owner=order.owner_id, payload=order.as_dict(), version=order.version, meta=meta
    )


def create_order(
    owner: User, items: list[dict[str, Any]], meta: dict[str, Any] | None = None
) -> Order:
    meta = check_meta(meta)
    with transaction.atomic():
        order = Order.objects.create(owner=owner, items=items)
        _publish(order, meta)
    return order


def change_status(
    order_id: int,
    status: Status,
    meta: dict[str, Any] | None = None,
    *,
    owner_id: int | None = None,
) -> dict[str, Any]:
    """The order as it stands after the change (its event's payload).
    Order.DoesNotExist if there is no such order (owned by `owner_id`, if given)."""
    meta = meta or {}
    meta_text = encoded_meta(meta)
    connection = connections[DEFAULT_DB_ALIAS]
    if not sql.handles(connection):
        return _change_with_orm(order_id, status, meta, owner_id)
    wanted = _wanted(order_id, status, owner_id)
    if sql.records_with_change(connection):
        return _change_and_record(connection, wanted, meta, meta_text)
    with transaction.atomic():
        changed, now = _attempts(
            connection, wanted, lambda now: sql.change(connection, wanted, now)
        )
        order = {
            "id": order_id,
            "owner": changed.owner,
            "status": status.value,
            "version": changed.version,
            "items": changed.items,
            "created_at": changed.created_at.isoformat(),
            "updated_at": now.isoformat(),
        }
        publish(order_id, owner=changed.owner_id, payload=order, version=changed.version, meta=meta)
    return order


def changes_on_the_loop() -> bool:
    """Whether `achange_status` makes the change without a thread on this database."""
    return sql.records_with_change(connections[DEFAULT_DB_ALIAS])


async def achange_status(
    order_id: int,
    status: Status,
    meta: dict[str, Any] | None = None,
    *,
    owner_id: int | None = None,
) -> dict[str, Any]:
    """`change_status` from the event loop. On PostgreSQL the one statement
    runs on a connection from `realtime.orders.pool`, with no thread; a
    change it does not make (to be tried again, or answered 404 or 409) and
    every other database take `change_status` in a thread."""
    wanted = _wanted(order_id, status, owner_id)
    if changes_on_the_loop() and wanted.sources:
        connection = connections[DEFAULT_DB_ALIAS]
        meta = meta or {}
        meta_text = encoded_meta(meta)
        now = timezone.now()
        async with pool.connection() as borrowed:
            recorded = await sql.achange_and_record(borrowed, connection, wanted, now, meta_text)
        if recorded is not None:
            # Written in autocommit: committed already.
            send_committed(_event(wanted, recorded, meta, now))
            return recorded.payload
    return await sync_to_async(change_status)(order_id, status, meta, owner_id=owner_id)


def _wanted(order_id: int, status: Status, owner_id: int | None) -> sql.Wanted:
    sources = [source for source in Status if can_transition(source, status)]
    return sql.Wanted(order_id, status, sources, owner_id)


def _change_and_record(
    connection: BaseDatabaseWrapper, wanted: sql.Wanted, meta: dict[str, Any], meta_text: str
) -> dict[str, Any]:
    recorded, now = _attempts(
        connection, wanted, lambda now: sql.change_and_record(connection, wanted, now, meta_text)
    )
    send_after_commit(_event(wanted, recorded, meta, now))
    return recorded.payload


def _event(
    wanted: sql.Wanted, recorded: sql.Recorded, meta: dict[str, Any], now: datetime.datetime
) -> Event:
    """The row `change_and_record` wrote."""
    return Event(
        seq=recorded.seq,
        subject=wanted.order_id,
        owner=recorded.owner_id,
        version=recorded.version,
        type=ORDER_UPDATE,
        payload=recorded.payload,
        meta=meta,
        created_at=now,
    )


def _attempts(
    connection: BaseDatabaseWrapper,
    wanted: sql.Wanted,
    attempt: Callable[[datetime.datetime], Outcome | None],
) -> tuple[Outcome, datetime.datetime]:
    """`attempt`'s result for the first try that changed the order, and its time."""
    current: Status | None = None
    # A refusal reads the status the change was refused for: if another
    # writer moved the order in between, the change is tried again.
    for _ in range(CHANGE_ATTEMPTS):
        now = timezone.now()
        changed = attempt(now) if wanted.sources else None
        if changed is not None:
            return changed, now
        current = sql.current_status(connection, wanted.order_id, wanted.owner_id)
        if current is None:
            raise Order.DoesNotExist(f"no order {wanted.order_id}")
        if not can_transition(current, wanted.status):
            break
    assert current is not None
    raise TransitionError(current, wanted.status)


def _change_with_orm(
    order_id: int, status: Status, meta: dict[str, Any], owner_id: int | None
) -> dict[str, Any]:
    with transaction.atomic():
        # Lock the order row only, and without blocking foreign-key checks: a
        # FOR UPDATE on the joined owner row would make another writer's event
        # insert (which holds the seq lock) wait on this one, a deadlock.
        orders = Order.objects.select_for_update(of=("self",), no_key=True).select_related("owner")
        if owner_id is not None:
            orders = orders.filter(owner_id=owner_id)
        order = orders.get(pk=order_id)
        current = Status(order.status)
        if not can_transition(current, status):
            raise TransitionError(current, status)
        order.status = status
        order.version += 1
        order.save(update_fields=["status", "version", "updated_at"])
        _publish(order, meta)
    return order.as_dict()
