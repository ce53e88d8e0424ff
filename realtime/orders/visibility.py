"""Who may see what: owners see their orders, staff see all (docs/protocol.md)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from realtime.orders.models import Order, OrderEvent


def visible_orders(user_id: int, staff: bool) -> QuerySet[Order]:
    orders = Order.objects.select_related("owner")
    return orders if staff else orders.filter(owner_id=user_id)


def order_visible(order_id: int, user_id: int, staff: bool) -> bool:
    return visible_orders(user_id, staff).filter(pk=order_id).exists()


def events_after(
    after: int,
    *,
    before: int | None = None,
    user_id: int | None = None,
    everything: bool = True,
    order_ids: frozenset[int] = frozenset(),
    mine: bool = True,
) -> QuerySet[OrderEvent]:
    """Events with `after` < seq (< `before`) in seq order: all of them, or
    those of `order_ids` and (with `mine`) of orders `user_id` owns."""
    rows = OrderEvent.objects.filter(seq__gt=after)
    if before is not None:
        rows = rows.filter(seq__lt=before)
    if not everything:
        condition = Q(order_id__in=order_ids)
        if mine and user_id is not None:
            condition |= Q(owner_id=user_id)
        rows = rows.filter(condition)
    return rows.order_by("seq")
