"""The amplification benchmark's attacker (`loadtests/bench/attacker.py`)."""

from __future__ import annotations

from typing import cast

import pytest
from websockets.asyncio.client import ClientConnection

from loadtests.bench.attacker import READY, Attack
from tests.loadtests.bench.scripted import Scripted, update

pytestmark = pytest.mark.timeout(30)


async def test_a_replay_is_counted_until_the_server_says_it_resumed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The attacker counts replayed updates, says so at the first, and stops at `resumed`."""
    attack = Attack("ws://127.0.0.1:1/")
    frames = [{"type": "welcome"}, update(1), update(2), {"type": "resumed"}, update(3)]
    await attack.replay(cast(ClientConnection, Scripted(frames)))
    assert attack.replayed == 2
    assert capsys.readouterr().out == f"{READY}\n"
    assert attack.rate() > 0


async def test_no_replayed_event_means_no_rate() -> None:
    """An attack that never got an event reports 0 events/s, not a division by zero."""
    attack = Attack("ws://127.0.0.1:1/")
    await attack.replay(cast(ClientConnection, Scripted([{"type": "resync_required"}])))
    assert attack.replayed == 0
    assert attack.rate() == 0.0
