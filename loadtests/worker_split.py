"""How `realtime serve --workers 2` shares connections: which worker welcomes
each of N WebSockets opened at once, then, after worker 1 is killed with
SIGKILL and its clients reconnect at once (retrying until welcomed), how the
same N are shared. Needs the Redis at REDIS_URL (default 127.0.0.1:6379/9).

    .venv/bin/python -m loadtests.worker_split [--connections 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
from pathlib import Path

import psutil
from websockets.asyncio.client import ClientConnection, connect

from realtime.testing.processes import Daphne, free_port, server_env, wait_until

ATTEMPTS = 200
RETRY = 0.05


async def welcomed(url: str, token: str) -> tuple[ClientConnection, int]:
    """A connection and the worker that welcomed it, retrying until one does."""
    for _ in range(ATTEMPTS):
        try:
            headers = {"Authorization": f"Bearer {token}"}
            conn = await connect(url, additional_headers=headers, open_timeout=5)
            welcome = json.loads(await asyncio.wait_for(conn.recv(), 5))
            return conn, int(welcome["worker"])
        except Exception:
            await asyncio.sleep(RETRY)
    raise RuntimeError(f"no welcome in {ATTEMPTS} attempts")


def shares(workers: list[int]) -> str:
    return f"{workers.count(1)} / {workers.count(2)}"


async def measure(server: Daphne, token: str, count: int) -> tuple[str, str]:
    opened = await asyncio.gather(*(welcomed(server.ws, token) for _ in range(count)))
    at_once = [worker for _, worker in opened]
    assert server.process is not None
    victim = next(
        p
        for p in psutil.Process(server.process.pid).children()
        if p.environ().get("REALTIME_WORKER") == "1"
    )
    victim.send_signal(signal.SIGKILL)
    lost = sum(1 for worker in at_once if worker == 1)
    again = await asyncio.gather(*(welcomed(server.ws, token) for _ in range(lost)))
    after = [worker for worker in at_once if worker == 2] + [worker for _, worker in again]
    await asyncio.gather(*(conn.close() for conn, _ in [*opened, *again]))
    return shares(at_once), shares(after)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=400)
    args = parser.parse_args(argv)
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = server_env(
            database_url=f"sqlite:///{work / 'db.sqlite3'}",
            log_dir=work / "logs",
            redis_url=redis,
            extra={"WEBSOCKET_MAX_CONNECTIONS_PER_USER": str(4 * args.connections)},
        )
        with Daphne(free_port(), env, work / "logs", workers=2) as server:
            wait_until(
                lambda: all(f"(worker {n})" in server.log_text() for n in (1, 2)), 30, "workers"
            )
            token = server.manage("token", "alice", "--create")
            at_once, after = asyncio.run(measure(server, token, args.connections))
    print("| connections | worker 1 / worker 2, opened at once | after worker 1 was killed |")
    print("| --- | --- | --- |")
    print(f"| {args.connections} | {at_once} | {after} |")


if __name__ == "__main__":
    main()
