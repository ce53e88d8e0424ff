"""The order server's publisher for the benchmarks: order changes, each
stamped with `meta.client_ts`, from threads of this process, either through
`POST`/`PATCH /api/orders/` or (`--orm`) with the service functions the API
calls, in this process, so that the events reach the server only through the
channel layer (Redis): the order server then only delivers, as the raw
server does. At a fixed rate the stamp is the time the change was due, not
the time it went out: a server that stalls also delays the writer, and
stamping late would hide the stall from the latency (coordinated omission).

    python -m loadtests.bench.writer --url URL --token T --owner alice --count 200
    python -m loadtests.bench.writer --orm --owner alice --count 2000 --rate 200
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

FLOW = ("confirmed", "preparing", "ready", "delivered")

Create = Callable[[dict[str, float]], int]
Change = Callable[[int, str, dict[str, float]], None]


def meta(due: float | None = None) -> dict[str, float]:
    """`due` is a time.monotonic() reading; the stamp is wall-clock time."""
    now = time.time()
    if due is not None:
        now -= max(0.0, time.monotonic() - due)
    return {"client_ts": now}


def over_http(base: str, token: str, owner: str) -> tuple[Create, Change]:
    """A kept-alive connection per writer thread: a new connection per request
    would wait in the server's accept queue behind a connect storm."""
    local = threading.local()

    def call(method: str, path: str, body: dict[str, Any], expected: int) -> Any:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
        response = session.request(method, f"{base}{path}", json=body, timeout=30)
        if response.status_code != expected:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json()

    def create(stamp: dict[str, float]) -> int:
        body = {"items": [{"name": "tea", "qty": 1}], "owner": owner, "meta": stamp}
        return int(call("POST", "/api/orders/", body, 201)["id"])

    def change(order_id: int, step: str, stamp: dict[str, float]) -> None:
        call("PATCH", f"/api/orders/{order_id}/", {"status": step, "meta": stamp}, 200)

    return create, change


def with_orm(owner: str) -> tuple[Create, Change]:
    """The server's settings come from the environment it was started with."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")
    django.setup()
    from django.contrib.auth import get_user_model

    from realtime.orders import service
    from realtime.orders.states import Status

    user: Any = get_user_model().objects.get(username=owner)

    def create(stamp: dict[str, float]) -> int:
        return int(service.create_order(user, [{"name": "tea", "qty": 1}], stamp).pk)

    def change(order_id: int, step: str, stamp: dict[str, float]) -> None:
        service.change_status(order_id, Status(step), stamp)

    return create, change


def write(create: Create, change: Change, changes: int, rate: float | None, start: float) -> None:
    """`changes` events: new orders, each walked through FLOW, at `rate`/s from
    `start` (a time.monotonic() reading) if given."""
    done = 0
    next_at = start

    def pace() -> float | None:
        nonlocal next_at
        if not rate:
            return None
        next_at += 1 / rate
        time.sleep(max(0.0, next_at - time.monotonic()))
        return next_at

    while done < changes:
        order_id = create(meta(pace()))
        done += 1
        for step in FLOW[: changes - done]:
            change(order_id, step, meta(pace()))
            done += 1


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench.writer")
    parser.add_argument("--url", help="the order server (HTTP API)")
    parser.add_argument("--token", help="a staff token (HTTP API)")
    parser.add_argument("--orm", action="store_true", help="write with the ORM, not over HTTP")
    parser.add_argument("--owner", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=None)
    args = parser.parse_args()
    if args.orm:
        create, change = with_orm(args.owner)
    elif args.url and args.token:
        create, change = over_http(args.url, args.token, args.owner)
    else:
        parser.error("--orm, or --url and --token")
    # Four writers in step, so that a rate is offered whatever one change's
    # round trip (one writer would manage only 1 / round trip per second).
    writers = 4
    share = [args.count // writers + (i < args.count % writers) for i in range(writers)]
    rate = args.rate / writers if args.rate else None
    now = time.monotonic()
    starts = [now + (i / args.rate if args.rate else 0.0) for i in range(writers)]
    with ThreadPoolExecutor(writers) as pool:
        jobs = [
            pool.submit(write, create, change, n, rate, start)
            for n, start in zip(share, starts, strict=True)
            if n
        ]
        for job in jobs:
            job.result()


if __name__ == "__main__":
    main()
