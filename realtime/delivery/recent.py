"""The newest events this process dispatched, kept in memory so that a resume
from a recent cursor needs no database round trip (docs/architecture.md), free of
I/O.

The hub dispatches every committed event past its start cursor, in seq order
(gaps are filled from the database first), so the window holds every event in
(floor, cursor]: a resume from any `since` in that range is complete. A
reconnect storm of thousands of clients resuming from the last few seconds
then costs no queries at all. The window is bounded in bytes, not events,
because one event can carry a large order.
"""

from __future__ import annotations

import json
from bisect import bisect_right

from realtime.delivery.events import Event
from realtime.delivery.scopes import Visibility

# An Event object, its dicts, and the frame a connection builds of it, roughly.
EVENT_OVERHEAD = 600


def cost(event: Event) -> int:
    return 2 * len(json.dumps(event.payload, separators=(",", ":"))) + EVENT_OVERHEAD


class RecentEvents:
    def __init__(self, cursor: int, budget: int) -> None:
        if budget < 1:
            raise ValueError("the recent-events window needs a positive byte budget")
        self.budget = budget
        self.floor = cursor
        self.cursor = cursor
        self.size = 0
        self._events: list[Event] = []
        self._seqs: list[int] = []
        # Events before this index are gone; the lists are compacted in halves.
        self._start = 0

    def __len__(self) -> int:
        return len(self._events) - self._start

    def add(self, event: Event) -> None:
        """Events arrive in seq order; anything at or below the cursor is old news."""
        if event.seq <= self.cursor:
            return
        self._events.append(event)
        self._seqs.append(event.seq)
        self.cursor = event.seq
        self.size += cost(event)
        while self.size > self.budget and self._start < len(self._events):
            gone = self._events[self._start]
            self.size -= cost(gone)
            self.floor = gone.seq
            self._start += 1
        if self._start > len(self._events) // 2:
            del self._events[: self._start], self._seqs[: self._start]
            self._start = 0

    def covers(self, since: int) -> bool:
        return self.floor <= since <= self.cursor

    def after(self, since: int, visibility: Visibility) -> list[Event] | None:
        """The events past `since` that `visibility` admits, in seq order, or
        None when the window does not reach back to `since`."""
        if not self.covers(since):
            return None
        start = max(self._start, bisect_right(self._seqs, since))
        events = self._events[start:]
        if visibility.everything:
            return events
        return [event for event in events if visibility.admits(event.subject, event.owner_id)]
