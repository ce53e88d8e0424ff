"""`python -m realtime.testing.writers --orders N`: a writer process that creates orders
and walks each through the state machine straight through the service layer,
with the server's settings from the environment.

Run several at once for concurrent writers on PostgreSQL, or while the server
is down for updates a resuming client must catch up on; `--hold` keeps each
transaction open after its event took a seq, to make a commit late. With the in-memory
layer its publishes reach no server, so the hubs' database repair delivers.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

T = TypeVar("T")

STEPS = ("confirmed", "preparing", "ready", "delivered")


def run(
    orders: int, owners: list[str], steps: int, item_bytes: int, seed: int, hold: float = 0
) -> int:
    """Returns how many events were written."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from realtime.orders.service import change_status, create_order
    from realtime.orders.states import Status

    rng = random.Random(seed)
    users = [get_user_model().objects.get(username=name) for name in owners]
    count = max(1, min(50, -(-item_bytes // 1000)))
    items = [{"name": "x" * max(1, item_bytes // count), "qty": 1} for _ in range(count)]

    def held(write: Callable[[], T]) -> T:
        """Keeps the write's transaction open for `hold` seconds after it took its seq."""
        with transaction.atomic():
            result = write()
            if hold:
                print("holding", flush=True)
                time.sleep(hold)
        return result

    written = 0
    for n in range(orders):
        owner = rng.choice(users)
        order = held(partial(create_order, owner, items, {"writer": seed, "n": n}))
        written += 1
        for status in STEPS[: max(0, min(steps, len(STEPS)))]:
            meta = {"client_ts": time.time()}
            held(partial(change_status, order.pk, Status(status), meta))
            written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime.testing.writers", description=__doc__)
    parser.add_argument("--orders", type=int, default=10)
    parser.add_argument("--owners", default="alice,bob", help="comma-separated usernames")
    parser.add_argument("--steps", type=int, default=4, help="status changes per order (0-4)")
    parser.add_argument("--item-bytes", type=int, default=100, help="payload size per order")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--hold", type=float, default=0, help="seconds each transaction stays open after its insert"
    )
    args = parser.parse_args(argv)
    owners = args.owners.split(",")
    written = run(args.orders, owners, args.steps, args.item_bytes, args.seed, args.hold)
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())


async def write_sampling_rss(env: dict[str, str], pid: int, *args: str) -> int:
    """Run a writer process (`args` as on the command line) while sampling the
    RSS of process `pid`; returns the peak growth in bytes."""
    import asyncio

    import psutil

    watched = psutil.Process(pid)
    before = peak = watched.memory_info().rss
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtime.testing.writers",
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while writer.returncode is None and time.monotonic() < deadline:
        peak = max(peak, watched.memory_info().rss)
        try:
            await asyncio.wait_for(writer.wait(), 0.05)
        except TimeoutError:
            continue
    if writer.returncode != 0:
        raise RuntimeError(f"writer exited with {writer.returncode}")
    return int(peak - before)
