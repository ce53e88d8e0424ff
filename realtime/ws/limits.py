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


@dataclass(frozen=True)
class ConnectionLimits:
    max_total: int
    max_per_user: int

    def refusal(self, total: int, for_user: int) -> str | None:
        """Why one more connection is refused (1013), or None."""
        if total >= self.max_total:
            return f"server at its connection limit ({self.max_total})"
        if for_user >= self.max_per_user:
            return f"user at its connection limit ({self.max_per_user})"
        return None
