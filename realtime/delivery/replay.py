"""Reading events back from the database: for a connection's resume, and for a
hub filling a gap the channel layer left (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from realtime.delivery.events import Event
from realtime.orders.models import OrderEvent


@dataclass(frozen=True)
class Visibility:
    """Which events one connection may see under its current scopes."""

    user_id: int
    everything: bool = False
    order_ids: frozenset[int] = frozenset()
    mine: bool = True


def fetch_events(
    after: int, *, before: int | None = None, limit: int = 500, visibility: Visibility | None = None
) -> list[Event]:
    """Events with `after` < seq (< `before`), in seq order."""
    rows = OrderEvent.objects.filter(seq__gt=after)
    if before is not None:
        rows = rows.filter(seq__lt=before)
    if visibility is not None and not visibility.everything:
        condition = Q(order_id__in=visibility.order_ids)
        if visibility.mine:
            condition |= Q(owner_id=visibility.user_id)
        rows = rows.filter(condition)
    return [
        Event.from_row(row, published_at=row.created_at.timestamp())
        for row in rows.order_by("seq")[:limit]
    ]
