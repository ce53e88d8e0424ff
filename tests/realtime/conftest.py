from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.cache import cache

from realtime.testing import postgres

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def forget_users() -> Iterator[None]:
    """Each test's users start unknown: ids repeat once a test's rows roll back."""
    from realtime import auth
    from realtime.orders import api

    yield
    cache.clear()
    api.STANDINGS.clear()
    api.ORDER_RATE.clear()
    auth.STANDINGS.clear()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind the package writes SQL for."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    with postgres.fresh_database("realtime_fresh") as url:
        yield url


@pytest.fixture
def manage(database_url: str, tmp_path: Path) -> Callable[..., str]:
    """`manage.py <args>` on that database in a process of its own; its output."""

    def run(*args: str) -> str:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
            "DATABASE_URL": database_url,
            "LOG_DIR": str(tmp_path / "logs"),
            "SECRET_KEY": "fresh-database-test-key-0123456789abcdef",
        }
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    return run


# Before every script: the fresh database migrated, and `together(*work)`,
# each callable on a thread of its own, all started at once, each closing
# its database connection when done, waited for at most a minute.
PREAMBLE = """
import threading
from django.core.management import call_command
from django.db import connections
call_command("migrate", verbosity=0)
def together(*work):
    start = threading.Barrier(len(work))
    def run(one):
        start.wait(timeout=30)
        try:
            one()
        finally:
            connections.close_all()
    threads = [threading.Thread(target=run, args=(one,)) for one in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
"""


@pytest.fixture
def django_script(manage: Callable[..., str]) -> Callable[[str], dict[str, object]]:
    """A script run on that database, after PREAMBLE, in one Django start:
    the JSON object it printed last."""

    def run(script: str) -> dict[str, object]:
        last = manage("shell", "-c", PREAMBLE + script).splitlines()[-1]
        said: dict[str, object] = json.loads(last)
        return said

    return run
