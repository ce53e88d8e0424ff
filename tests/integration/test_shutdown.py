"""SIGTERM: every connection is closed with 1012 and torn down, within the grace."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.integration.conftest import make_server, seed_tokens
from tests.integration.wsclient import close_code, next_frame, open_ws

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.mark.parametrize("layer", ["memory", "redis"])
async def test_sigterm_closes_every_connection_with_1012_and_tears_down(
    layer: str, tmp_path: object, request: pytest.FixtureRequest
) -> None:
    """SIGTERM closes each socket with 1012, logs its teardown, and exits within the grace."""
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    server = make_server(tmp_path, "sqlite", layer, request)
    server.start()
    try:
        tokens = await asyncio.to_thread(seed_tokens, server)
        clients = [await open_ws(server.ws, tokens[name]) for name in ("alice", "bob", "staff") * 2]
        for ws in clients:
            await next_frame(ws, "welcome")
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        codes = await asyncio.gather(*(close_code(ws) for ws in clients))
        assert codes == [1012] * len(clients)
        assert await asyncio.to_thread(server.wait, 10) == 0
        assert time.monotonic() - started <= 4.0 + 1.0
    finally:
        server.stop()
    log = server.log_text()
    # The hub is the server's: started before it listens, stopped in the drain.
    assert log.index("hub started at seq") < log.index("serving on")
    assert log.count(" close ") == len(clients)
    assert log.count("code=1012") == len(clients)
    assert server.error_lines() == []
