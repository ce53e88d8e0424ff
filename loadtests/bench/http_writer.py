"""The order server's publisher for the benchmarks: order changes through
`POST`/`PATCH /api/orders/`, each stamped with `meta.client_ts`, from threads
of this process.

    python -m loadtests.bench.http_writer --url URL --token T --owner alice --count 200
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from chaos.orders_http import call

FLOW = ("confirmed", "preparing", "ready", "delivered")


def meta() -> dict[str, float]:
    return {"client_ts": time.time()}


def write(base: str, token: str, owner: str, changes: int, rate: float | None) -> None:
    """`changes` events: new orders, each walked through FLOW, at `rate`/s if given."""
    done = 0
    next_at = time.monotonic()
    while done < changes:
        body = {"items": [{"name": "tea", "qty": 1}], "owner": owner, "meta": meta()}
        status, order = call("POST", f"{base}/api/orders/", token, body)
        if status != 201:
            raise RuntimeError(f"POST /api/orders/ answered {status}: {order}")
        done += 1
        for step in FLOW[: changes - done]:
            if rate:
                next_at += 1 / rate
                time.sleep(max(0.0, next_at - time.monotonic()))
            status, answer = call(
                "PATCH",
                f"{base}/api/orders/{order['id']}/",
                token,
                {"status": step, "meta": meta()},
            )
            if status != 200:
                raise RuntimeError(f"PATCH answered {status}: {answer}")
            done += 1


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench.http_writer")
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=None)
    args = parser.parse_args()
    writers = 1 if args.rate else 4
    share = [args.count // writers + (i < args.count % writers) for i in range(writers)]
    with ThreadPoolExecutor(writers) as pool:
        jobs = [
            pool.submit(write, args.url, args.token, args.owner, n, args.rate) for n in share if n
        ]
        for job in jobs:
            job.result()


if __name__ == "__main__":
    main()
