"""Flow control for one connection (DESIGN §4), free of I/O.

Lag is counted in events sent beyond the client's acked cursor; the backlog is
what waits to be written. Either past its bound means a slow consumer (4409).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class FlowControl:
    max_lag: int
    max_backlog: int
    acked: int = 0
    _unacked: deque[int] = field(default_factory=deque)

    def sent(self, seq: int) -> None:
        if seq > self.acked:
            self._unacked.append(seq)

    def ack(self, cursor: int) -> None:
        if cursor <= self.acked:
            return
        self.acked = cursor
        unacked = self._unacked
        while unacked and unacked[0] <= cursor:
            unacked.popleft()

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
