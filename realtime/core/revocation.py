"""Re-reading the standing of every user with an open connection, once per
AUTH_RECHECK_INTERVAL (docs/guarantees.md): one batched lookup for the whole
process, so that a deactivated user is closed and a demoted one loses `all`
without waiting for their token to expire."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, runtime_checkable

from realtime.auth.standings import GONE, Standing, Standings
from realtime.delivery.hub import Hub

logger = logging.getLogger("realtime.auth")

Lookup = Callable[[Iterable[int]], Awaitable[dict[int, Standing]]]


@runtime_checkable
class Revocable(Protocol):
    user_id: int

    def standing_changed(self, standing: Standing) -> None: ...


_running: weakref.WeakKeyDictionary[Hub, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def ensure_running(hub: Hub, standings: Standings, lookup: Lookup, interval: float) -> None:
    """Start the recheck for `hub` unless it runs; the hub's stop ends it."""
    task = _running.get(hub)
    if task is None or task.done():
        _running[hub] = hub.spawn(recheck_forever(hub, standings, lookup, interval))


async def recheck_forever(hub: Hub, standings: Standings, lookup: Lookup, interval: float) -> None:
    failing = False
    while True:
        await asyncio.sleep(interval)
        try:
            await recheck(hub, standings, lookup)
        except Exception as exc:
            # The database is away: the standings held stay in force, and
            # the next round tries again. One line per outage, not per round.
            if not failing:
                logger.warning("auth recheck failed: %s: %s", type(exc).__name__, exc)
            failing = True
        else:
            if failing:
                logger.info("auth recheck recovered")
            failing = False


async def recheck(hub: Hub, standings: Standings, lookup: Lookup) -> int:
    """Tell every open connection its user's standing now; returns the users looked up."""
    members = [s for s in hub.subscribers if isinstance(s, Revocable)]
    if not members:
        return 0
    fresh = await standings.refresh({s.user_id for s in members}, lookup)
    for member in members:
        if member in hub.subscribers:
            member.standing_changed(fresh.get(member.user_id, GONE))
    return len(fresh)
