from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from realtime.testing import postgres
from realtime.testing.processes import Daphne, Redis, free_port, server_env, start_redis

FAST = {
    "WEBSOCKET_HEARTBEAT_INTERVAL": "0.5",
    "WEBSOCKET_HEARTBEAT_TIMEOUT": "2",
    "WEBSOCKET_MAX_MESSAGE_BYTES": "4096",
    "SHUTDOWN_GRACE": "4",
}


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    redis = start_redis()
    yield redis
    redis.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this run's own, on the tests' PostgreSQL server."""
    with postgres.fresh_database() as url:
        yield url


@dataclass
class Stack:
    server: Daphne
    tokens: dict[str, str]


def make_server(
    tmp: Path, database: str, layer: str, request: pytest.FixtureRequest, **extra: str
) -> Daphne:
    if database == "postgres":
        database_url = request.getfixturevalue("postgres_url")
    else:
        database_url = f"sqlite:///{tmp / 'db.sqlite3'}"
        if not (tmp / "db.sqlite3").exists():
            shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp / "db.sqlite3")
    redis_url = request.getfixturevalue("redis_server").url if layer == "redis" else ""
    log_dir = tmp / "logs"
    env = server_env(
        database_url=database_url, log_dir=log_dir, redis_url=redis_url, extra={**FAST, **extra}
    )
    return Daphne(free_port(), env, log_dir)


# alice and bob, customers, and staff: made (when missing) and signed in by one
# Django start instead of one `realtime token` each.
SEED = (
    "import json, django; django.setup(); "
    "from realtime.orders.accounts import token_for; "
    "print(json.dumps({name: token_for(name, staff=staff, create=True)[0] "
    "for name, staff in (('alice', False), ('bob', False), ('staff', True))}))"
)


def seed_tokens(server: Daphne) -> dict[str, str]:
    env = {**server.env, "DJANGO_SETTINGS_MODULE": "realtime.settings"}
    made = subprocess.run(
        [sys.executable, "-c", SEED], env=env, capture_output=True, check=True, timeout=60
    )
    tokens: dict[str, str] = json.loads(made.stdout)
    return tokens


@pytest.fixture(
    scope="module",
    params=[
        ("sqlite", "memory"),
        ("sqlite", "redis"),
        ("postgres", "memory"),
        ("postgres", "redis"),
    ],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    database, layer = request.param
    tmp = tmp_path_factory.mktemp(f"{database}-{layer}")
    with make_server(tmp, database, layer, request) as server:
        yield Stack(server, seed_tokens(server))
