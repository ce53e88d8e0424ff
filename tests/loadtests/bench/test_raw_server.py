"""The raw `websockets` baseline (`loadtests/bench/raw_server.py`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from loadtests.bench.targets import RawTarget
from realtime.testing.processes import HOST

pytestmark = pytest.mark.timeout(60)


async def test_the_baseline_compresses_nothing_and_broadcasts_each_message(tmp_path: Path) -> None:
    """A client offering permessage-deflate gets plain frames, as from the order server."""
    target = RawTarget(tmp_path)
    await asyncio.to_thread(target.start)
    try:
        async with connect(f"ws://{HOST}:{target.port}/bob") as ws:
            assert ws.protocol.extensions == []
            await target.publish(1, "bob")
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            assert "client_ts" in message
    finally:
        if target.control is not None:
            await target.control.close()
        await asyncio.to_thread(target.stop)
