"""Who may see what: owners see their orders, staff see all (docs/protocol.md)."""

from __future__ import annotations

from django.db.models import QuerySet

from realtime.auth.principal import Principal
from realtime.orders.models import Order


def visible_orders(user_id: int, staff: bool) -> QuerySet[Order]:
    orders = Order.objects.select_related("owner")
    return orders if staff else orders.filter(owner_id=user_id)


def order_visible(order_id: int, user_id: int, staff: bool) -> bool:
    return visible_orders(user_id, staff).filter(pk=order_id).exists()


def order_visible_to(order_id: int, principal: Principal) -> bool:
    """REALTIME_SUBJECT_VISIBLE for the demo: may `principal` watch `order:<id>`?"""
    return order_visible(order_id, principal.user_id, principal.staff)
