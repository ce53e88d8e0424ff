"""Reading events back from the database: a page of a connection's replay, and
the events a hub fills a gap with (docs/guarantees.md)."""

from __future__ import annotations

from realtime.delivery.events import Event, History
from realtime.delivery.scopes import Visibility
from realtime.orders.service import latest_seq, pruned_through
from realtime.orders.visibility import events_after


def fetch_events(
    after: int, *, before: int | None = None, limit: int = 500, visibility: Visibility | None = None
) -> list[Event]:
    """Events with `after` < seq (< `before`), in seq order."""
    if visibility is None:
        rows = events_after(after, before=before)
    else:
        rows = events_after(
            after,
            before=before,
            user_id=visibility.user_id,
            everything=visibility.everything,
            order_ids=visibility.order_ids,
            mine=visibility.mine,
        )
    return [Event.from_row(row, published_at=row.created_at.timestamp()) for row in rows[:limit]]


def read_history(after: int, limit: int, visibility: Visibility) -> History:
    head = latest_seq()
    events = fetch_events(after, limit=limit, visibility=visibility)
    return History(events, len(events) < limit, head, pruned_through())
