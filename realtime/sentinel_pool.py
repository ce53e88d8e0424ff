"""The Redis cache's connection pool under Sentinel, in a module of its own so
that only a process configured with REDIS_SENTINELS imports redis to build it
(docs/operations.md, "Redis")."""

from __future__ import annotations

from typing import Any

import redis.sentinel

from realtime.conf import BadSetting
from realtime.redis_hosts import configured, sentinel_kwargs


class SentinelPool(redis.sentinel.SentinelConnectionPool):
    """Django's Redis cache builds its pools with `pool_class.from_url(LOCATION,
    **OPTIONS)`; under sentinels the location is unused and the pool asks
    the sentinels of this process's configuration for the first master."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SentinelPool:
        config = configured()
        if config is None or not config.sentinels:
            raise BadSetting("SentinelPool needs REDIS_SENTINELS")
        manager = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            list(config.sentinels), sentinel_kwargs=sentinel_kwargs(config)
        )
        return cls(config.masters[0], manager, **config.node_options, **options)
