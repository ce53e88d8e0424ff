"""Who may see what: owners see their orders, staff see all (DESIGN §2)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from realtime.orders.models import Order


def user_active(user_id: int) -> bool:
    return get_user_model().objects.filter(pk=user_id, is_active=True).exists()


def visible_orders(user_id: int, staff: bool) -> QuerySet[Order]:
    orders = Order.objects.select_related("owner")
    return orders if staff else orders.filter(owner_id=user_id)


def order_visible(order_id: int, user_id: int, staff: bool) -> bool:
    return visible_orders(user_id, staff).filter(pk=order_id).exists()
