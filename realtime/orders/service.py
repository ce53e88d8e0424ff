"""Writing the demo's orders: every change bumps the version and publishes its
event in the same transaction (`realtime.publish`, docs/guarantees.md)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from realtime.events.publishing import check_meta, check_text, publish
from realtime.orders.models import Order
from realtime.orders.states import Status, allowed_next, can_transition

__all__ = ["TransitionError", "change_status", "check_text", "create_order"]


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
) -> Order:
    """Order.DoesNotExist if there is no such order (owned by `owner_id`, if given)."""
    meta = check_meta(meta)
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
    return order
