"""Reading events back from the database: a page of a connection's replay, and
the events a hub fills a gap with (docs/guarantees.md)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from channels.db import DatabaseSyncToAsync

from realtime.delivery.events import Event, History
from realtime.delivery.recent import RecentEvents
from realtime.delivery.scopes import Visibility
from realtime.events.log import events_after, latest_seq, pruned_through

# Replays read on a thread of their own, with a database connection of their
# own: on the thread Django shares between requests and consumers, a customer
# resuming twenty connections over a long history queued every other user's
# PATCH behind their pages.
READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-reader")
READ_SHARE = 0.25
READ_REST_MAX = 0.5


FIELDS = ("seq", "subject", "owner", "version", "created_at", "payload", "meta", "type")


def fetch_events(
    after: int, *, before: int | None = None, limit: int = 500, visibility: Visibility | None = None
) -> list[Event]:
    """Events with `after` < seq (< `before`), in seq order. Read as tuples:
    building a model instance per row was most of a replay's cost."""
    if visibility is None:
        rows = events_after(after, before=before)
    else:
        rows = events_after(
            after,
            before=before,
            user_id=visibility.user_id,
            everything=visibility.everything,
            subjects=visibility.order_ids,
            mine=visibility.mine,
        )
    return [
        Event(seq, subject, owner, version, created.timestamp(), payload, meta, kind)
        for seq, subject, owner, version, created, payload, meta, kind in rows.values_list(*FIELDS)[
            :limit
        ]
    ]


def read_history(after: int, limit: int, visibility: Visibility) -> History:
    started = time.perf_counter()
    head = latest_seq()
    events = fetch_events(after, limit=limit, visibility=visibility)
    history = History(events, len(events) < limit, head, pruned_through())
    # Rest after each read: replays then hold at most READ_SHARE of a core
    # (and of the interpreter lock, and of the event loop that sends what
    # they read), and requests and live delivery keep the rest, however
    # many clients resume at once.
    took = time.perf_counter() - started
    time.sleep(min(READ_REST_MAX, took * (1 / READ_SHARE - 1)))
    return history


async def read(
    recent: RecentEvents | None, after: int, limit: int, visibility: Visibility
) -> History:
    """From the window of recent events when it reaches back to `after` (no
    query, for a reconnect storm), else a page from the database."""
    events = recent.after(after, visibility) if recent is not None else None
    if recent is not None and events is not None:
        return History(events, True, recent.cursor, 0, "memory")
    reader = DatabaseSyncToAsync(read_history, thread_sensitive=False, executor=READER)
    history: History = await reader(after, limit, visibility)
    return history
