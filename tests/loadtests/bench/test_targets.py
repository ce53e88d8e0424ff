"""What the benchmarks' targets share (`loadtests/bench/targets.py`)."""

from __future__ import annotations

import pytest

from loadtests.bench.targets import database
from realtime.testing import postgres

pytestmark = pytest.mark.timeout(60)


def test_no_postgresql_server_means_the_targets_own_sqlite_file() -> None:
    """Without a PostgreSQL URL the server is given no DATABASE_URL of ours."""
    with database("", "bench_test") as url:
        assert url == ""


@pytest.mark.integration
def test_a_postgresql_server_lends_a_fresh_database_for_the_run() -> None:
    """With a server's URL, a new database answers during the run and is gone after it."""
    with database(postgres.server_url(), "bench_test") as url:
        assert "/bench_test_" in url
        assert postgres.answers(url)
    assert not postgres.answers(url)
