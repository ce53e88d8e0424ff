from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.harness import toxiproxy_answers
from realtime.orders.accounts import DEMO_PASSWORD
from realtime.testing.processes import (
    HOST,
    SECRET_KEY,
    free_port,
    server_env,
    stop_process,
    wait_until,
)
from tests.secrets_sweep import find_secrets, log_files

REPO = Path(__file__).resolve().parent.parent


# Passwords the tests give their users.
TEST_PASSWORDS = ["pw-alice", "pw-bob", "pw-staff"]


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Each test file whole on one worker, except the long files tests/scheduling.py
    spreads test by test (docs/architecture.md, "Tests")."""
    from tests.scheduling import FilesAndSpreadScheduling

    return FilesAndSpreadScheduling(config, log)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database each server's own starts as a copy of: a
    server's migrate then finds nothing to do."""
    path = tmp_path_factory.mktemp("template") / "db.sqlite3"
    env = server_env(database_url=f"sqlite:///{path}", log_dir=path.parent / "logs")
    migrate = "import django; django.setup(); from django.core.management import call_command; "
    migrate += "call_command('migrate', verbosity=0)"
    subprocess.run(
        [sys.executable, "-c", migrate],
        env={**env, "DJANGO_SETTINGS_MODULE": "realtime.settings"},
        check=True,
        timeout=120,
    )
    return path


@pytest.fixture(scope="session", autouse=True)
def no_secrets_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole run, no log file any test wrote holds a token, password or key."""
    yield
    roots = [
        tmp_path_factory.getbasetemp(),
        Path(os.environ.get("LOG_DIR", REPO / "logs")),
        REPO / "logs",
        REPO / "chaos-report",
    ]
    from realtime.settings import DEV_SECRET_KEY

    known = [SECRET_KEY, DEV_SECRET_KEY, DEMO_PASSWORD, *TEST_PASSWORDS]
    known.append(os.environ.get("SECRET_KEY", ""))
    found = find_secrets(log_files(roots), known)
    if found:
        pytest.fail("secrets in log files:\n" + "\n".join(found[:50]), pytrace=False)


# A Toxiproxy the tests drive instead of the bundled one (CI runs Shopify's
# 2.12.0 there): it must listen on 127.0.0.1 and reach upstreams on 127.0.0.1.
TOXIPROXY_URL = os.environ.get("TOXIPROXY_URL", "")
REAL_TOXIPROXY = bool(TOXIPROXY_URL) and toxiproxy_answers(TOXIPROXY_URL)


@pytest.fixture(scope="module")
def toxiproxy_port() -> Iterator[int]:
    """TOXIPROXY_URL's server when one answers, else the bundled Toxiproxy on a
    free port, for this module's tests."""
    if REAL_TOXIPROXY:
        yield int(TOXIPROXY_URL.rsplit(":", 1)[1].rstrip("/"))
        return
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos.toxiproxy", "-host", HOST, "-port", str(port), "-seed", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: toxiproxy_answers(f"http://{HOST}:{port}"), 20, "chaos.toxiproxy")
        yield port
    finally:
        stop_process(process)
