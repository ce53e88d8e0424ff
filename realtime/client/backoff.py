"""Reconnect delays: exponential backoff with full jitter, free of I/O.

Full jitter draws each delay uniformly from [0, min(cap, base * 2**attempt)],
so clients dropped together spread their reconnects instead of returning as
one synchronized storm.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Codes that ask a client to back off (1013, 4429, 1011) start the exponent
# here, so their first retry is already a few base periods away.
BACKOFF_FLOOR = 3
# 2**32 base periods exceed any sensible cap; the bound keeps floats finite.
MAX_EXPONENT = 32


@dataclass
class Backoff:
    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError("backoff needs 0 < base <= cap")

    def ceiling(self, attempt: int) -> float:
        return min(self.cap, self.base * 2.0 ** min(attempt, MAX_EXPONENT))

    def next_delay(self) -> float:
        """The next delay in [0, ceiling(attempt)]; each call widens the window."""
        delay = self.rng.uniform(0, self.ceiling(self.attempt))
        self.attempt += 1
        return delay

    def back_off(self) -> float:
        """A delay for a server that asked clients to come back later."""
        self.attempt = max(self.attempt, BACKOFF_FLOOR)
        return self.next_delay()

    def reset(self) -> None:
        """A healthy connection: the next drop reconnects quickly again."""
        self.attempt = 0
