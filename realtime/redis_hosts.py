"""Where Redis is (docs/operations.md, "Redis"): one configuration, read once
from the environment, for every Redis client: the channel layer's hosts
(which the hub, the publisher and the readiness PING all use) and the
sign-in counters' cache.

- `REDIS_URL`: one URL, or several comma-separated to shard the channel
  layer over several Redis servers (channels-redis's consistent hashing).
- `REDIS_SENTINELS` (`host:port,…`) with `REDIS_SENTINEL_MASTER` (default
  `mymaster`; several comma-separated names shard over several masters) and
  `REDIS_SENTINEL_PASSWORD`: the clients ask the sentinels for the master and
  ask again after a failover. `REDIS_URL` may then still give the data
  nodes' password and database (`redis://:secret@/2`); its host is unused.

A malformed value raises `BadSetting` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from realtime.conf import BadSetting

SCHEMES = ("redis", "rediss", "unix")
DEFAULT_MASTER = "mymaster"
# Bounds for every connection: a dead node is noticed in seconds, not at the
# kernel's TCP timeout; above channels-redis's 5 s blocking pop, so an idle
# receive is not a timeout.
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 10.0
HEALTH_CHECK_INTERVAL = 10


@dataclass(frozen=True)
class RedisConfig:
    """Shards: one URL each, or, with sentinels, one master name each."""

    urls: tuple[str, ...] = ()
    sentinels: tuple[tuple[str, int], ...] = ()
    masters: tuple[str, ...] = ()
    sentinel_password: str = ""
    # With sentinels: what REDIS_URL says of the data nodes (password, db).
    node_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shards(self) -> int:
        return len(self.masters) if self.sentinels else len(self.urls)


def _parse_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in SCHEMES:
        raise BadSetting(
            f"REDIS_URL must be redis://, rediss:// or unix:// URLs, comma-separated, got {value!r}"
        )
    try:
        _ = parts.port
    except ValueError:
        raise BadSetting(f"REDIS_URL has a bad port in {value!r}") from None
    if parts.scheme != "unix" and not parts.hostname:
        raise BadSetting(f"REDIS_URL names no host in {value!r}")
    return value


def _parse_sentinel(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadSetting(f"REDIS_SENTINELS must be host:port,host:port,…, got {value!r}")
    return host, int(port)


def _node_options(url: str) -> dict[str, Any]:
    """The password, username and database a REDIS_URL gives the data nodes."""
    if not url:
        return {}
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise BadSetting(f"REDIS_URL must be a redis:// URL, got {url!r}")
    options: dict[str, Any] = {}
    if parts.username:
        options["username"] = unquote(parts.username)
    if parts.password:
        options["password"] = unquote(parts.password)
    database = parts.path.strip("/")
    if database:
        if not database.isdigit():
            raise BadSetting(f"REDIS_URL's database must be a number, got {database!r}")
        options["db"] = int(database)
    return options


def from_environ(environ: Mapping[str, str] = os.environ) -> RedisConfig | None:
    """The configuration the environment gives, or None: no Redis."""
    url = environ.get("REDIS_URL", "").strip()
    sentinels = environ.get("REDIS_SENTINELS", "").strip()
    if sentinels:
        masters = tuple(
            name.strip()
            for name in environ.get("REDIS_SENTINEL_MASTER", DEFAULT_MASTER).split(",")
            if name.strip()
        )
        if not masters:
            raise BadSetting("REDIS_SENTINEL_MASTER must name the master, got ''")
        return RedisConfig(
            sentinels=tuple(_parse_sentinel(s.strip()) for s in sentinels.split(",") if s.strip()),
            masters=masters,
            sentinel_password=environ.get("REDIS_SENTINEL_PASSWORD", ""),
            node_options=_node_options(url if "," not in url else ""),
        )
    if not url:
        return None
    return RedisConfig(urls=tuple(_parse_url(u.strip()) for u in url.split(",") if u.strip()))


_COMMON: dict[str, Any] = {
    "socket_connect_timeout": CONNECT_TIMEOUT,
    "socket_timeout": SOCKET_TIMEOUT,
    "health_check_interval": HEALTH_CHECK_INTERVAL,
    "retry_on_timeout": True,
}


def layer_hosts(config: RedisConfig) -> list[dict[str, Any]]:
    """channels-redis's `hosts`: one entry per shard."""
    if config.sentinels:
        return [
            {
                "sentinels": list(config.sentinels),
                "master_name": master,
                "sentinel_kwargs": sentinel_kwargs(config),
                **config.node_options,
                **_COMMON,
            }
            for master in config.masters
        ]
    return [{"address": url, **_COMMON} for url in config.urls]


def sentinel_kwargs(config: RedisConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"socket_timeout": CONNECT_TIMEOUT}
    if config.sentinel_password:
        kwargs["password"] = config.sentinel_password
    return kwargs


def describe(host: Mapping[str, Any]) -> str:
    """A channels-redis host entry as a log line or a readiness reason names it
    (never its password)."""
    if "master_name" in host:
        return f"master {host['master_name']!r}"
    if "address" in host:
        parts = urlsplit(str(host["address"]))
        return f"{parts.hostname or parts.path}:{parts.port or 6379}"
    return f"{host.get('host', 'localhost')}:{host.get('port', 6379)}"


def cache(config: RedisConfig | None) -> dict[str, Any]:
    """Django's CACHES["default"]: Redis (its first shard) when configured,
    else a bounded in-process cache."""
    if config is None:
        return {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    options = {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": CONNECT_TIMEOUT}
    if config.sentinels:
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://sentinel",
            "OPTIONS": {"pool_class": "realtime.sentinel_pool.SentinelPool", **options},
        }
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": config.urls[0],
        "OPTIONS": options,
    }


_CONFIGURED: list[RedisConfig | None] = []


def configured() -> RedisConfig | None:
    """This process's configuration, read from the environment once."""
    if not _CONFIGURED:
        _CONFIGURED.append(from_environ())
    return _CONFIGURED[0]
