"""PATCH → pushed `order.update` latency, and silence → 4408 time, against a
real daphne started here on 127.0.0.1.

    .venv/bin/python -m loadtests.patch_to_frame [--patches 100] [--timeout-check]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from realtime.observability.summary import percentile
from realtime.testing.api import acall
from realtime.testing.processes import Daphne, free_port, server_env
from tests.integration.wsclient import close_code, next_frame, open_ws


async def patch_latencies(server: Daphne, staff: str, alice: str, patches: int) -> list[float]:
    ws = await open_ws(server.ws, alice)
    await next_frame(ws, "welcome")
    steps = ["confirmed", "preparing", "ready", "delivered"]
    latencies: list[float] = []
    while len(latencies) < patches:
        status, order = await acall(
            "POST",
            f"{server.http}/api/orders/",
            staff,
            {"items": [{"name": "t", "qty": 1}], "owner": "alice"},
        )
        assert status == 201, order
        await next_frame(ws, "order.update")
        for step in steps[: patches - len(latencies)]:
            started = time.perf_counter()
            status, _ = await acall(
                "PATCH", f"{server.http}/api/orders/{order['id']}/", staff, {"status": step}
            )
            assert status == 200
            frame = await next_frame(ws, "order.update")
            latencies.append(time.perf_counter() - started)
            assert frame["order"]["status"] == step
    await ws.close()
    return latencies


async def silence_to_4408(server: Daphne, alice: str) -> float:
    started = time.monotonic()
    ws = await open_ws(server.ws, alice)
    await next_frame(ws, "welcome", timeout=10, answer_heartbeats=False)
    code = await close_code(ws, timeout=120)
    assert code == 4408, code
    return time.monotonic() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patches", type=int, default=100)
    parser.add_argument("--timeout-check", action="store_true", help="also wait for a 4408 (60 s)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="patch-to-frame-"))
    env = server_env(database_url=f"sqlite:///{tmp / 'db.sqlite3'}", log_dir=tmp / "logs")
    server = Daphne(free_port(), env, tmp / "logs")
    server.start()
    try:
        staff = server.manage("token", "staff", "--create", "--staff")
        alice = server.manage("token", "alice", "--create")
        latencies = await patch_latencies(server, staff, alice, args.patches)
        ms = sorted(x * 1000 for x in latencies)
        print(
            f"PATCH -> order.update over {len(ms)} changes: median {statistics.median(ms):.1f} ms, "
            f"p95 {percentile(ms, 0.95):.1f} ms, max {ms[-1]:.1f} ms"
        )
        if args.timeout_check:
            elapsed = await silence_to_4408(server, alice)
            print(f"silence -> 4408 at the defaults (timeout 60 s): {elapsed:.2f} s")
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
