"""Readiness says "draining" once the server has begun its SIGTERM drain."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory
from prometheus_client import REGISTRY

from realtime.delivery.hub import get_hub
from realtime.observability import health

pytestmark = pytest.mark.timeout(30)


async def test_a_draining_server_is_not_ready() -> None:
    """/health/ready answers 503 "draining" while the hub drains, before any other check."""
    hub = get_hub()
    hub.draining = True
    try:
        response = await health.ready(RequestFactory().get("/health/ready"))
    finally:
        hub.draining = False
    assert response.status_code == 503
    assert json.loads(response.content)["status"] == "draining"


@pytest.mark.django_db(transaction=True)
async def test_an_idle_server_is_ready_and_says_what_it_checked() -> None:
    """With no traffic at all, readiness answers 200 with the database and hub checks ok."""
    try:
        response = await health.ready(RequestFactory().get("/health/ready"))
        body = json.loads(response.content)
        assert response.status_code == 200, body
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["hub"] == "ok"
    finally:
        await get_hub().stop()


async def test_a_hub_that_never_started_is_not_ready() -> None:
    """The hub's own state is part of readiness: unstarted, it says so."""
    hub = get_hub()
    assert hub.health(now=0.0) == "not started"


class Shard:
    """A Redis client whose PING answers or fails."""

    def __init__(self, up: bool) -> None:
        self.up = up

    async def ping(self) -> bool:
        if not self.up:
            raise ConnectionError("Redis is away")
        return True


async def readiness_with(
    monkeypatch: pytest.MonkeyPatch, hosts: list[dict[str, str]], shards: list[Shard]
) -> tuple[int, dict[str, object]]:
    """Readiness with these Redis hosts, each answering its PING as its Shard says."""
    monkeypatch.setattr(health, "redis_hosts", lambda: hosts)
    monkeypatch.setattr(health, "_redis_clients", lambda hosts: shards)
    try:
        return await health.readiness(get_hub())
    finally:
        await get_hub().stop()


@pytest.mark.django_db(transaction=True)
async def test_redis_away_is_degraded_not_unready(monkeypatch: pytest.MonkeyPatch) -> None:
    """Database up, Redis failing: 200 "degraded" naming Redis, and the gauges say so."""
    hosts = [{"address": "redis://127.0.0.1:1"}]
    status, body = await readiness_with(monkeypatch, hosts, [Shard(up=False)])
    assert (status, body["status"]) == (200, "degraded")
    assert body["degraded"] == ["redis failed: ConnectionError"]
    samples = [REGISTRY.get_sample_value(name) for name in ("ws_ready", "ws_degraded")]
    assert samples == [1.0, 1.0]


@pytest.mark.django_db(transaction=True)
async def test_one_shard_away_is_named_in_the_degraded_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two shards, the second failing: degraded, naming that shard's host and port only."""
    hosts = [{"address": "redis://10.0.0.1:6379/0"}, {"address": "redis://10.0.0.2:6380/0"}]
    status, body = await readiness_with(monkeypatch, hosts, [Shard(True), Shard(False)])
    assert (status, body["status"]) == (200, "degraded")
    assert body["degraded"] == ["redis 10.0.0.2:6380 failed: ConnectionError"]
