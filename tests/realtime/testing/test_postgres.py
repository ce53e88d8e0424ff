"""The suite brings its own PostgreSQL: in a fresh network namespace, where
nothing already listening can be reached, the PostgreSQL tests pass on a
throwaway cluster started from the postgresql package's binaries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from realtime.testing import postgres

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).parents[3]


def test_the_postgresql_tests_pass_in_a_network_namespace_of_their_own() -> None:
    """`unshare -n` (loopback only): no server at TEST_POSTGRES_URL, yet the sessions
    tests on PostgreSQL pass, on a cluster the run started and removed."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a network namespace needs root and unshare (CI runs as root)")
    postgres.binary("initdb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_POSTGRES", "PYTEST_"))}
    inner = (
        f"ip link set lo up && exec {sys.executable} -m pytest -n0 -p no:cacheprovider -q "
        "tests/integration/test_sessions.py -k postgres"
    )
    clusters_before = set(Path(tempfile.gettempdir()).glob("realtime-postgres-*"))
    run = subprocess.run(
        ["unshare", "-n", "sh", "-c", inner],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "3 passed" in run.stdout
    assert set(Path(tempfile.gettempdir()).glob("realtime-postgres-*")) == clusters_before
