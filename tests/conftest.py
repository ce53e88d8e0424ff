from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.processes import SECRET_KEY
from realtime.orders.accounts import DEMO_PASSWORD
from tests.secrets_sweep import find_secrets, log_files

REPO = Path(__file__).resolve().parent.parent
# Passwords the tests give their users.
TEST_PASSWORDS = ["pw-alice", "pw-bob", "pw-staff"]


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
