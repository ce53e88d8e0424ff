"""Per-connection and per-process limits (docs/protocol.md), free of I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Strikes:
    """Counts refusals; past `limit` the connection is closed."""

    limit: int
    count: int = 0

    def strike(self) -> bool:
        """Record one; True when the limit is passed."""
        self.count += 1
        return self.count > self.limit


@dataclass(frozen=True, slots=True)
class Limit:
    """A connection limit that refuses one more connection (1013; over
    HTTP 429 for the user's limit, 503 for the server's)."""

    reason: str
    per_user: bool


@dataclass(frozen=True)
class ConnectionLimits:
    """Counted over every transport: a user's WebSockets and streams together.
    `max_total` bounds one process; `max_per_user` bounds the server, so each
    of its `workers` processes takes its share, rounded up."""

    max_total: int
    max_per_user: int
    workers: int = 1

    @property
    def per_user_here(self) -> int:
        return -(-self.max_per_user // max(1, self.workers))

    def refusal(self, total: int, for_user: int) -> Limit | None:
        """Why one more connection is refused, or None."""
        if total >= self.max_total:
            return Limit(f"server at its connection limit ({self.max_total})", per_user=False)
        if for_user >= self.per_user_here:
            share = f" of {self.max_per_user} over {self.workers} workers"
            if self.workers <= 1:
                share = ""
            return Limit(
                f"user at its connection limit ({self.per_user_here}{share})", per_user=True
            )
        return None
