"""A stand-in for a benchmark client's connection, for unit tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any


class Scripted:
    """A connection that yields `frames` and records what is sent back."""

    def __init__(self, frames: list[dict[str, Any]]) -> None:
        self.frames = [json.dumps(frame) for frame in frames]
        self.sent: list[dict[str, Any]] = []

    def __aiter__(self) -> AsyncIterator[str]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str]:
        for text in self.frames:
            yield text

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))


def update(seq: int) -> dict[str, Any]:
    return {"type": "order.update", "seq": seq, "published_at": 1.0, "meta": {}}
