"""Fair turns for replays (docs/guarantees.md): at most
WEBSOCKET_MAX_REPLAYS_PER_USER history reads of one user's connections run
at once, and at most WEBSOCKET_MAX_REPLAYS in the process; the rest wait
their turn, first come first served, and none is refused. One customer
resuming twenty connections from seq 0 then takes turns with everyone else
instead of taking the server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class ReplayTurns:
    def __init__(self, per_user: int, total: int) -> None:
        self.per_user = per_user
        self.total = total
        self._users: dict[int, asyncio.Semaphore] = {}
        self._waiting: dict[int, int] = {}
        self._all: asyncio.Semaphore | None = None

    @contextlib.asynccontextmanager
    async def turn(self, user_id: int) -> AsyncIterator[None]:
        """Hold one of the user's turns and one of the process's while reading."""
        mine = self._users.get(user_id)
        if mine is None:
            mine = self._users[user_id] = asyncio.Semaphore(self.per_user)
        if self._all is None:
            self._all = asyncio.Semaphore(self.total)
        self._waiting[user_id] = self._waiting.get(user_id, 0) + 1
        try:
            async with mine, self._all:
                yield
        finally:
            left = self._waiting[user_id] - 1
            if left:
                self._waiting[user_id] = left
            else:
                # Nobody holds or waits for this user's turns: forget them.
                del self._waiting[user_id]
                del self._users[user_id]
                if not self._waiting:
                    self._all = None

    def users(self) -> int:
        return len(self._users)
