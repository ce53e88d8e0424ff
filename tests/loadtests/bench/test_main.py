"""The benchmark runner (`loadtests/bench/__main__.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.bench.__main__ import server
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
