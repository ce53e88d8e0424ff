"""Reading events back from the database: a page of a connection's replay, and
the events a hub fills a gap with (docs/guarantees.md)."""

from __future__ import annotations

from channels.db import database_sync_to_async

from realtime.delivery.events import Event, History
from realtime.delivery.recent import RecentEvents
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


async def read(
    recent: RecentEvents | None, after: int, limit: int, visibility: Visibility
) -> History:
    """From the window of recent events when it reaches back to `after` (no
    query, for a reconnect storm), else a page from the database."""
    events = recent.after(after, visibility) if recent is not None else None
    if recent is not None and events is not None:
        return History(events, True, recent.cursor, 0, "memory")
    history: History = await database_sync_to_async(read_history)(after, limit, visibility)
    return history
