"""A channel layer that loses messages on purpose, to prove that delivery does
not depend on the fast path (docs/guarantees.md, G2).

It wraps any real layer and drops a seeded fraction of what each process
receives, which is what channels-redis does to group messages over capacity.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from django.utils.module_loading import import_string

logger = logging.getLogger("realtime.delivery")


class DroppingChannelLayer:
    def __init__(self, inner: dict[str, Any], drop: float, seed: int = 0) -> None:
        if not 0 <= drop < 1:
            raise ValueError("drop must be in [0, 1)")
        backend = import_string(inner["BACKEND"])
        self.inner = backend(**inner.get("CONFIG", {}))
        self.drop = drop
        self.rng = random.Random(seed)
        self.dropped = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def receive(self, channel: str) -> dict[str, Any]:
        for _ in range(1_000_000):
            message: dict[str, Any] = await self.inner.receive(channel)
            if self.rng.random() >= self.drop:
                return message
            self.dropped += 1
            logger.info("chaos layer dropped message %d on %s", self.dropped, channel)
        raise RuntimeError("a million messages dropped in a row")
