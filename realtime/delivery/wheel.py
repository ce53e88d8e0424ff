"""A timing wheel: items filed in slots by the time they are next due, free of
I/O (docs/architecture.md).

The hub ticks only the connections that are due (a heartbeat to send, a
silence or a token to check), about one per connection per heartbeat
interval, instead of visiting every connection on every tick.
"""

from __future__ import annotations

import math
from typing import Generic, TypeVar

T = TypeVar("T")


class TimingWheel(Generic[T]):
    """`pop_due(now)` hands back every item whose slot has passed: never one
    before its time, and at most `resolution` after it (plus the caller's own
    lateness)."""

    def __init__(self, resolution: float) -> None:
        if resolution <= 0:
            raise ValueError("a timing wheel needs a positive resolution")
        self.resolution = resolution
        self._slots: dict[int, set[T]] = {}
        self._slot_of: dict[T, int] = {}

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, item: T) -> bool:
        return item in self._slot_of

    def schedule(self, item: T, at: float) -> None:
        """File `item` for `at`, replacing any earlier filing."""
        self.cancel(item)
        # Rounding up keeps an item out of a slot that is popped before `at`.
        slot = math.ceil(at / self.resolution)
        self._slots.setdefault(slot, set()).add(item)
        self._slot_of[item] = slot

    def cancel(self, item: T) -> None:
        slot = self._slot_of.pop(item, None)
        if slot is None:
            return
        members = self._slots[slot]
        members.discard(item)
        if not members:
            del self._slots[slot]

    def slot_end(self, now: float) -> float:
        """When the slot `now` falls in ends: a pop_due just after hands back
        whatever came due by then, at most one resolution after its time."""
        return (math.floor(now / self.resolution) + 1) * self.resolution

    def pop_due(self, now: float) -> list[T]:
        current = math.floor(now / self.resolution)
        due: list[T] = []
        for slot in sorted(s for s in self._slots if s <= current):
            members = self._slots.pop(slot)
            for item in members:
                del self._slot_of[item]
            due.extend(members)
        return due


def tick_period(interval: float, timeout: float) -> float:
    """The ticker's period, and its wheel's slot width: woken as each slot
    ends, the ticker sends a heartbeat or a 4408 at most one period late, so
    at most half a second, leaving the rest of a second for a busy loop."""
    return max(0.05, min(0.5, interval / 4, timeout / 4))
