"""The events group across shards (`realtime/delivery/shards.py`)."""

from __future__ import annotations

from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer

from realtime.delivery.breaker import BreakerState
from realtime.delivery.shards import EVENTS_GROUP, Breakers, group, ring_size, shard_of


def test_one_shard_keeps_the_one_group() -> None:
    """The in-memory layer and one Redis: `orders.events`, shard 0."""
    for layer in (InMemoryChannelLayer(), RedisChannelLayer(hosts=["redis://127.0.0.1:1"])):
        assert ring_size(layer) == 1
        assert group(layer, 0) == EVENTS_GROUP
        assert shard_of(layer, "hub..abc!def") == 0


def test_each_shard_has_a_group_that_lives_on_it() -> None:
    """Three shards: three distinct groups, each hashing to its own shard, as hubs' channels do."""
    layer = RedisChannelLayer(hosts=[f"redis://127.0.0.1:{port}" for port in (1, 2, 3)])
    names = [group(layer, shard) for shard in range(3)]
    assert len(set(names)) == 3
    assert [layer.consistent_hash(name) for name in names] == [0, 1, 2]
    channel = "hub..0123456789abcdef!xyz"
    assert shard_of(layer, channel) == layer.consistent_hash(layer.non_local_name(channel))


def test_breakers_report_the_worst_shard() -> None:
    """Open anywhere is open; half-open only if none is open; the list names the shards."""
    breakers = Breakers()
    assert breakers.state() is BreakerState.CLOSED
    for _ in range(3):
        breakers[1].failed(now=0.0)
    breakers[0].succeeded()
    assert breakers.state() is BreakerState.OPEN
    assert breakers.not_closed() == [(1, BreakerState.OPEN)]
    assert breakers[1].allow(now=10.0)
    assert breakers.state() is BreakerState.HALF_OPEN
