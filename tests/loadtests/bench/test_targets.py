"""What the benchmarks' targets share (`loadtests/bench/targets.py`)."""

from __future__ import annotations

import json
from typing import cast

import pytest
from websockets.asyncio.client import ClientConnection

from loadtests.bench.targets import ACK_EVERY, Answers, database
from realtime.testing import postgres
from tests.loadtests.bench.scripted import Scripted, update

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


async def test_a_heartbeat_is_answered_with_its_own_stamp() -> None:
    """A heartbeat gets a heartbeat_ack carrying the server's `ts`."""
    ws = Scripted([])
    heartbeat = json.dumps({"type": "heartbeat", "ts": 7.5})
    frame = await Answers()(cast(ClientConnection, ws), heartbeat)
    assert frame["type"] == "heartbeat"
    assert ws.sent == [{"type": "heartbeat_ack", "ts": 7.5}]


async def test_updates_are_acked_every_quarter_of_the_lag_per_connection() -> None:
    """Each connection acks its own ACK_EVERY-th update with that update's seq, and no other."""
    answers, one, other = Answers(), Scripted([]), Scripted([])
    for seq in range(1, 2 * ACK_EVERY + 1):
        await answers(cast(ClientConnection, one), json.dumps(update(seq)))
    await answers(cast(ClientConnection, other), json.dumps(update(1)))
    assert one.sent == [
        {"type": "heartbeat_ack", "cursor": ACK_EVERY},
        {"type": "heartbeat_ack", "cursor": 2 * ACK_EVERY},
    ]
    assert other.sent == []


async def test_a_forgotten_connection_counts_its_updates_afresh() -> None:
    """After `forget`, a connection's unacked count starts again from zero."""
    answers, ws = Answers(), Scripted([])
    for seq in range(1, ACK_EVERY):
        await answers(cast(ClientConnection, ws), json.dumps(update(seq)))
    answers.forget(cast(ClientConnection, ws))
    await answers(cast(ClientConnection, ws), json.dumps(update(ACK_EVERY)))
    assert ws.sent == []
    assert answers.unacked == {ws: 1}
