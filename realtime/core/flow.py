"""Flow control for one connection (docs/protocol.md), free of I/O.

Lag is counted in events sent beyond the client's acked cursor; the backlog is
what waits to be written. Either past its bound means a slow consumer (4409).
A resume sends older seqs after newer live ones, so unacked seqs are kept in
a heap rather than assumed to arrive in order.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass(slots=True)
class FlowControl:
    max_lag: int
    max_backlog: int
    acked: int = 0
    _unacked: list[int] = field(default_factory=list)

    def sent(self, seq: int) -> None:
        if seq > self.acked:
            heapq.heappush(self._unacked, seq)

    def ack(self, cursor: int) -> None:
        if cursor <= self.acked:
            return
        self.acked = cursor
        unacked = self._unacked
        while unacked and unacked[0] <= cursor:
            heapq.heappop(unacked)

    def rewind(self, cursor: int) -> None:
        """A resume from `cursor` will send older events: count them as lag too."""
        self.acked = min(self.acked, cursor)

    @property
    def lag(self) -> int:
        return len(self._unacked)

    def overloaded(self, backlog: int) -> str | None:
        """The reason to close as a slow consumer, or None."""
        if self.lag > self.max_lag:
            return f"lag {self.lag} events > {self.max_lag}"
        if backlog > self.max_backlog:
            return f"backlog {backlog} frames > {self.max_backlog}"
        return None
