"""Per-connection and per-process limits (docs/protocol.md), free of I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """`rate` frames per second with a burst of `burst`."""

    rate: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, now: float, burst_factor: float = 2.0) -> TokenBucket:
        burst = max(1.0, rate * burst_factor)
        return cls(rate, burst, burst, now)

    def allow(self, now: float) -> bool:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


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
