"""docker-compose.yml holds together: no container engine runs here, so its
services, ports, URLs and the Toxiproxy populate file are checked as data."""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def proxies() -> dict[str, dict[str, str]]:
    return {p["name"]: p for p in json.loads((ROOT / "chaos" / "toxiproxy.json").read_text())}


def documented_settings() -> set[str]:
    table = (ROOT / "docs" / "operations.md").read_text()
    return set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.MULTILINE))


def test_every_service_the_issue_names_is_there_with_its_dependencies() -> None:
    """redis, postgres, toxiproxy, two app replicas, the seed job and Locust master and worker."""
    services = compose()["services"]
    assert {
        "redis",
        "postgres",
        "toxiproxy",
        "app",
        "seed",
        "locust-master",
        "locust-worker",
    } <= set(services)
    assert services["app"]["deploy"]["replicas"] == 2
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    assert (ROOT / "Dockerfile").exists()


def test_the_app_reaches_redis_and_clients_reach_the_app_through_toxiproxy() -> None:
    """REDIS_URL and Locust's host are Toxiproxy ports whose upstreams are redis and app."""
    services = compose()["services"]
    toxi = proxies()
    env = services["app"]["environment"]
    redis = urllib.parse.urlsplit(env["REDIS_URL"])
    assert redis.hostname == "toxiproxy"
    assert toxi["redis"]["listen"].endswith(f":{redis.port}")
    assert toxi["redis"]["upstream"] == "redis:6379"
    host = next(a for a in services["locust-master"]["command"] if a.startswith("--host="))
    app = urllib.parse.urlsplit(host.removeprefix("--host="))
    assert app.hostname == "toxiproxy"
    assert toxi["app"]["listen"].endswith(f":{app.port}")
    assert toxi["app"]["upstream"] == "app:8000"
    assert "8000" in " ".join(services["app"]["command"])
    assert f"{app.port}:{app.port}" in services["toxiproxy"]["ports"]


def test_toxiproxy_is_populated_from_the_shared_file() -> None:
    """The Toxiproxy container mounts chaos/toxiproxy.json and passes it to -config."""
    toxiproxy = compose()["services"]["toxiproxy"]
    mount = next(v for v in toxiproxy["volumes"] if v.startswith("./chaos/toxiproxy.json:"))
    inside = mount.split(":")[1]
    assert f"-config={inside}" in toxiproxy["command"]
    assert toxiproxy["image"].startswith("ghcr.io/shopify/toxiproxy")


def test_app_environment_uses_documented_settings_and_matching_credentials() -> None:
    """Every app variable is in the §7 table; DATABASE_URL matches the postgres service."""
    services = compose()["services"]
    env = services["app"]["environment"]
    assert set(env) <= documented_settings()
    database = urllib.parse.urlsplit(env["DATABASE_URL"])
    postgres = services["postgres"]["environment"]
    assert (database.hostname, database.username, database.password) == (
        "postgres",
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    assert database.path == f"/{postgres['POSTGRES_DB']}"
    assert services["seed"]["environment"] == env


def test_app_healthcheck_asks_readiness() -> None:
    """Replicas are healthy only when /health/ready says so."""
    check = " ".join(compose()["services"]["app"]["healthcheck"]["test"])
    assert "/health/ready" in check


def test_the_ha_profile_runs_the_app_on_sentinels_watching_the_primary() -> None:
    """Profile `ha`: primary, replica, three sentinels monitoring the primary, and an app
    whose REDIS_SENTINELS names exactly those three (documented settings only)."""
    services = compose()["services"]
    ha = {name for name, service in services.items() if "ha" in service.get("profiles", [])}
    sentinels = {"sentinel-1", "sentinel-2", "sentinel-3"}
    assert ha == {"redis-primary", "redis-replica", "app-ha"} | sentinels
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis-primary", "6379"]
    for name in sentinels:
        script = services[name]["command"][-1]
        assert "'sentinel monitor mymaster redis-primary 6379 2'" in script
        assert script.endswith("exec redis-server /tmp/sentinel.conf --sentinel")
    env = services["app-ha"]["environment"]
    assert set(env) <= documented_settings()
    assert {a.split(":")[0] for a in env["REDIS_SENTINELS"].split(",")} == sentinels
    assert env["REDIS_SENTINEL_MASTER"] == "mymaster"
    assert "--workers" in services["app-ha"]["command"]
