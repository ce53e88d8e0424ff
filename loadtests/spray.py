"""What a password spray costs everyone else: `GET /api/orders/` latency of one
customer alone and then while sprayers, in a process of their own, sign in as
a new username each time with the demo password, all from one address; the
sign-ins' answers by status and the server's CPU per sign-in. One server, one
run, so "alone" is the baseline.

    .venv/bin/python -m loadtests.spray [--sprayers 16] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import psutil

from realtime.testing.processes import Daphne, free_port, server_env

# What a spray tries with every username: a password known to be in use.
PASSWORD = "demo-password"
# Bounds on the loops besides their deadline.
MAX_ATTEMPTS = 1_000_000
MAX_READS = 100_000
READ_EVERY = 0.05


def read_ms(url: str, token: str) -> float:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def sign_in(base: str, username: str) -> int:
    body = json.dumps({"username": username, "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"{base}/api/token/", body, {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def spray(
    base: str, sprayers: int, until: float, answers: multiprocessing.Queue[dict[int, int]]
) -> None:
    """`sprayers` threads, each a new username per attempt, until the wall-clock `until`."""
    counts: Counter[int] = Counter()

    def one(number: int) -> None:
        for attempt in range(MAX_ATTEMPTS):
            if time.time() >= until:
                return
            counts[sign_in(base, f"sprayed{number}-{attempt}")] += 1

    threads = [threading.Thread(target=one, args=(n,)) for n in range(sprayers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answers.put(dict(counts))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sprayers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = server_env(database_url=f"sqlite:///{work / 'db.sqlite3'}", log_dir=work / "logs")
        with Daphne(free_port(), env, work / "logs") as server:
            server.manage("demo")
            token = server.manage("token", "alice")
            url = f"{server.http}/api/orders/"
            alone = [read_ms(url, token) for _ in range(50)]
            assert server.process is not None
            process = psutil.Process(server.process.pid)
            cpu_before = sum(process.cpu_times()[:2])
            until = time.time() + args.seconds
            answers: multiprocessing.Queue[dict[int, int]] = multiprocessing.Queue()
            sprayers = multiprocessing.Process(
                target=spray, args=(server.http, args.sprayers, until, answers)
            )
            sprayers.start()
            time.sleep(min(2.0, args.seconds / 4))
            during = []
            for _ in range(MAX_READS):
                if time.time() >= until:
                    break
                during.append(read_ms(url, token))
                time.sleep(READ_EVERY)
            counts = answers.get(timeout=args.seconds + 60)
            sprayers.join(30)
            cpu = sum(process.cpu_times()[:2]) - cpu_before
    attempts = sum(counts.values())
    print("| GET /api/orders/ p50 alone | during the spray | sign-ins | server CPU per sign-in |")
    print("| --- | --- | --- | --- |")
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(counts.items()))
    print(
        f"| {statistics.median(alone):.1f} ms | {statistics.median(during):.1f} ms "
        f"({len(during)} reads) | {statuses} | {cpu / max(1, attempts) * 1000:.1f} ms |"
    )


if __name__ == "__main__":
    main()
