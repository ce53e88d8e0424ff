"""The benchmark runner (`loadtests/bench/__main__.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.bench.__main__ import HeartbeatClock, gap_figures, server
from loadtests.bench.targets import OrdersTarget, RawTarget, StreamTarget

pytestmark = pytest.mark.timeout(30)


def test_each_server_gets_a_flame_graph_of_its_own(tmp_path: Path) -> None:
    """The baseline's and each transport's flame graphs are named apart."""
    names = [
        server(OrdersTarget(tmp_path / "ws")),
        server(StreamTarget(tmp_path / "sse")),
        server(RawTarget(tmp_path / "raw")),
    ]
    assert names == ["websocket", "sse", "raw"]


def test_the_longest_heartbeat_gap_is_read_off_the_servers_stamps_too() -> None:
    """Heartbeat gaps count by arrival and by their `ts`; other frames count for neither."""
    clock = HeartbeatClock()
    start = clock.last_ts
    clock.seen(json.dumps({"type": "heartbeat", "ts": start + 1.0}))
    clock.seen(json.dumps({"type": "order.update", "seq": 1}))
    clock.seen(json.dumps({"type": "heartbeat", "ts": start + 4.5}))
    received, stamped = clock.gaps()
    # The stamps run ahead of this clock, so the wait since the last one adds nothing.
    assert stamped == pytest.approx(3.5)
    assert received < 1.0
    figures = gap_figures([(received, stamped), (0.2, 1.0)])
    assert figures["longest gap by the server's stamps s"] == stamped
    assert figures["longest heartbeat gap s"] == max(received, 0.2)
