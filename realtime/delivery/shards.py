"""The events group across the channel layer's shards (docs/operations.md,
"Redis"). channels-redis keeps a group, and a process's channel, on one
shard, chosen by hashing the name; so there is one events group per shard,
each named to hash to that shard. A hub joins the group of the shard its own
channel lives on, and a publish goes to every shard's group, each behind a
breaker of its own: a shard that is down costs the fast path of the hubs on
it and of nobody else, and what they miss the database repair delivers.
With one Redis (or none) there is one shard and one group, `orders.events`.
"""

from __future__ import annotations

from typing import Any

from realtime.delivery.breaker import BreakerState, CircuitBreaker

EVENTS_GROUP = "orders.events"
# Candidate names tried per shard: with fewer than a few hundred shards, some
# name among the first thousands hashes to each.
NAMES_TRIED = 100_000

_groups: dict[tuple[int, int], str] = {}


def ring_size(layer: Any) -> int:
    """How many shards the layer spreads over (1 for the in-memory layer)."""
    return int(getattr(layer, "ring_size", 1) or 1)


def shard_of(layer: Any, channel: str) -> int:
    """The shard a process-specific channel lives on."""
    if ring_size(layer) == 1:
        return 0
    return int(layer.consistent_hash(layer.non_local_name(channel)))


def group(layer: Any, shard: int) -> str:
    """The events group that lives on `shard`."""
    ring = ring_size(layer)
    if ring == 1:
        return EVENTS_GROUP
    found = _groups.get((ring, shard))
    if found is None:
        for number in range(NAMES_TRIED):
            name = f"{EVENTS_GROUP}.{number}"
            if layer.consistent_hash(name) == shard:
                found = _groups[(ring, shard)] = name
                break
        else:
            raise ValueError(f"no events group name hashes to shard {shard} of {ring}")
    return found


class Breakers:
    """A circuit breaker per shard, made at its first use."""

    def __init__(self) -> None:
        self.by_shard: dict[int, CircuitBreaker] = {}

    def __getitem__(self, shard: int) -> CircuitBreaker:
        found = self.by_shard.get(shard)
        if found is None:
            found = self.by_shard[shard] = CircuitBreaker()
        return found

    def state(self) -> BreakerState:
        """The worst: open if any is, else half-open if any is, else closed."""
        states = {b.state for b in self.by_shard.values()}
        for worst in (BreakerState.OPEN, BreakerState.HALF_OPEN):
            if worst in states:
                return worst
        return BreakerState.CLOSED

    def not_closed(self) -> list[tuple[int, BreakerState]]:
        return sorted(
            (shard, b.state) for shard, b in self.by_shard.items() if b.state != BreakerState.CLOSED
        )
