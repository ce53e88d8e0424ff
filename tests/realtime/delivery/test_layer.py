"""Channel-layer calls under a breaker per shard (`realtime/delivery/layer.py`),
the one module both the hub and the publisher build on."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from realtime.delivery import layer
from realtime.delivery.breaker import BreakerState
from realtime.delivery.shards import Breakers

pytestmark = pytest.mark.timeout(30)

DELIVERY = Path(layer.__file__).parent


def delivery_imports(name: str) -> set[str]:
    tree = ast.parse((DELIVERY / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "realtime.delivery":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "realtime.delivery."
        ):
            found.add(str(node.module).rsplit(".", 1)[1])
    return found


def test_the_hub_and_the_publisher_do_not_import_each_other() -> None:
    """Both build on layer; neither names the other, at the top or inside a function."""
    assert "publisher" not in delivery_imports("hub")
    assert "hub" not in delivery_imports("publisher")
    assert {"hub", "publisher"}.isdisjoint(delivery_imports("layer"))


async def test_failures_open_the_shards_breaker_and_later_calls_are_not_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three failures on shard 1 open its breaker; shard 0 still calls through."""
    monkeypatch.setattr(layer, "breakers", Breakers())

    async def fails() -> None:
        raise ConnectionError

    for _ in range(3):
        assert not await layer.layer_call("publish", fails(), shard=1)
    assert layer.breakers[1].state is BreakerState.OPEN
    made: list[int] = []

    async def works(shard: int) -> None:
        made.append(shard)

    assert not await layer.layer_call("publish", works(1), shard=1)
    assert await layer.layer_call("publish", works(0), shard=0)
    assert made == [0]


async def test_the_home_loop_is_a_running_loop_made_home() -> None:
    """A loop is home once made so, and only while it runs."""
    loop = asyncio.get_running_loop()
    layer.make_home(loop, print)
    assert layer.home_loop() is loop
    idle = asyncio.new_event_loop()
    layer.make_home(idle, print)
    assert layer.home_loop() is loop
    idle.close()


async def test_only_an_in_memory_layer_lets_the_hub_take_events_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """local_take() names the home's hub with the in-memory layer, not with a shared one."""
    loop = asyncio.get_running_loop()
    taken: list[object] = []
    layer.make_home(loop, taken.append)
    assert layer.local_take(loop) == taken.append
    monkeypatch.setattr(layer, "get_channel_layer", lambda: object())
    assert layer.local_take(loop) is None
