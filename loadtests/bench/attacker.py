"""The amplification benchmark's attacker, in a process of its own:
`--connections` connections that resume from seq 0 at `--url`, read the
whole replay, and resume again, until SIGTERM. It prints `attacking` once
the first replayed event arrives, and at the end the replayed events per
second since then. In the benchmark's process, the attack's frames would
queue the victim's behind them on the client's own event loop, and the
victim's latency would measure that client.

    python -m loadtests.bench.attacker --url 'ws://127.0.0.1:8000/ws/orders/?token=T&since=0'
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from loadtests.bench.targets import OPEN, Answers

READY = "attacking"


class Attack:
    def __init__(self, url: str) -> None:
        self.url = url
        self.answers = Answers()
        self.stop = asyncio.Event()
        self.replayed = 0
        self.first: float | None = None

    async def resume_forever(self) -> None:
        """One attacking connection: resume from seq 0, read it all, again."""
        for _ in range(1_000_000):
            if self.stop.is_set():
                return
            try:
                async with connect(self.url, **OPEN) as ws:
                    try:
                        await self.replay(ws)
                    finally:
                        self.answers.forget(ws)
            except (ConnectionClosed, OSError):
                await asyncio.sleep(0.1)

    async def replay(self, ws: ClientConnection) -> None:
        async for text in ws:
            kind = (await self.answers(ws, str(text)))["type"]
            if kind == "order.update":
                self.replayed += 1
                if self.first is None:
                    self.first = time.monotonic()
                    print(READY, flush=True)
            if kind in ("resumed", "resync_required") or self.stop.is_set():
                return

    def rate(self) -> float:
        if self.first is None:
            return 0.0
        return self.replayed / max(1e-9, time.monotonic() - self.first)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the resuming connection's URL")
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()
    attack = Attack(args.url)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, attack.stop.set)
    tasks = [asyncio.create_task(attack.resume_forever()) for _ in range(args.connections)]
    await attack.stop.wait()
    rate = attack.rate()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sys.stdout.write(f"{rate}\n")


if __name__ == "__main__":
    asyncio.run(main())
