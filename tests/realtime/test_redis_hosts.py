"""Where Redis is (`realtime/redis_hosts.py`): REDIS_URL shards, sentinels,
the channel layer's hosts and the cache, and the one line a bad value gets."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

from realtime import redis_hosts
from realtime.conf import BadSetting
from realtime.redis_hosts import RedisConfig, from_environ, layer_hosts
from realtime.testing.sentinels import Sentinels


def test_no_redis_is_none_and_the_cache_stays_in_the_process() -> None:
    """Neither variable: no configuration, a bounded local-memory cache."""
    assert from_environ({}) is None
    cache = redis_hosts.cache(None)
    assert cache["BACKEND"].endswith("LocMemCache")
    assert cache["OPTIONS"] == {"MAX_ENTRIES": 20000}


def test_comma_separated_urls_are_shards_of_the_channel_layer() -> None:
    """Two URLs: two channels-redis hosts, each bounded; the cache uses the first."""
    config = from_environ({"REDIS_URL": "redis://a:6379/0, redis://b:6380/1"})
    assert config == RedisConfig(urls=("redis://a:6379/0", "redis://b:6380/1"))
    assert config.shards == 2
    hosts = layer_hosts(config)
    assert [h["address"] for h in hosts] == ["redis://a:6379/0", "redis://b:6380/1"]
    assert all(h["socket_connect_timeout"] == 2.0 for h in hosts)
    assert redis_hosts.cache(config)["LOCATION"] == "redis://a:6379/0"


def test_sentinels_replace_the_url_which_still_gives_the_nodes_password_and_db() -> None:
    """REDIS_SENTINELS with a master per shard; REDIS_URL's password and db go to the nodes."""
    config = from_environ(
        {
            "REDIS_SENTINELS": "10.0.0.1:26379,[::1]:26380",
            "REDIS_SENTINEL_MASTER": "one,two",
            "REDIS_SENTINEL_PASSWORD": "s3",
            "REDIS_URL": "redis://:node%20pw@ignored/3",
        }
    )
    assert config is not None
    assert config.sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    hosts = layer_hosts(config)
    assert [h["master_name"] for h in hosts] == ["one", "two"]
    assert hosts[0]["sentinel_kwargs"] == {"socket_timeout": 2.0, "password": "s3"}
    assert (hosts[0]["password"], hosts[0]["db"]) == ("node pw", 3)
    assert (
        redis_hosts.cache(config)["OPTIONS"]["pool_class"] == "realtime.sentinel_pool.SentinelPool"
    )


def test_the_master_name_defaults_to_mymaster() -> None:
    """Sentinels alone: one shard, the master Sentinel's own examples call mymaster."""
    config = from_environ({"REDIS_SENTINELS": "127.0.0.1:26379"})
    assert config is not None
    assert config.masters == ("mymaster",)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://h:99999"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://"}, "REDIS_URL"),
        ({"REDIS_SENTINELS": "a:b"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": "hostonly"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": "h:1", "REDIS_SENTINEL_MASTER": " , "}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINELS": "h:1", "REDIS_URL": "redis://:p@h/x"}, "REDIS_URL"),
    ],
)
def test_a_malformed_value_is_refused_naming_its_variable(
    environ: dict[str, str], named: str
) -> None:
    """Each bad value raises BadSetting whose message starts with the variable."""
    with pytest.raises(BadSetting) as refused:
        from_environ(environ)
    assert str(refused.value).startswith(named)


def test_a_host_is_described_without_its_password() -> None:
    """Log lines and readiness reasons name a shard by host:port or master name."""
    assert redis_hosts.describe({"address": "redis://:secret@h:6380/0"}) == "h:6380"
    assert redis_hosts.describe({"master_name": "one", "sentinels": []}) == "master 'one'"


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_djangos_cache_follows_the_sentinels_through_a_failover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sign-in counters' cache (SentinelPool) writes to the master, and to the new one after."""
    sentinels = Sentinels(tmp_path).start()
    try:
        config = from_environ({"REDIS_SENTINELS": sentinels.addresses})
        monkeypatch.setattr(redis_hosts, "_CONFIGURED", [config])
        settings = redis_hosts.cache(config)
        cache = RedisCache(settings["LOCATION"], {"OPTIONS": settings["OPTIONS"]})
        cache.set("counter", 1)
        assert cache.get("counter") == 1
        old = sentinels.kill_master()
        assert sentinels.promoted(old, 30) is not None
        for _ in range(50):
            try:
                cache.set("counter", 2)
                break
            except RedisError:
                time.sleep(0.2)
        assert cache.get("counter") == 2
    finally:
        sentinels.stop()
