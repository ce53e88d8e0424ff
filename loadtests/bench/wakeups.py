"""`python -m loadtests.bench.wakeups`: how late this machine wakes a thread
that sleeps, in a process doing nothing else. A sleeper asks for 1 ms
at a time and counts the wake-ups that come more than `--late` ms after it
went to sleep. Every handoff between threads in the server can pay
that delay, so run it beside a benchmark to see how much of a tail is the
machine's (docs/benchmarks.md, "Fair replays: a tail paid at every
handoff").

    .venv/bin/python -m loadtests.bench.wakeups --seconds 20
"""

from __future__ import annotations

import argparse
import time


def late_wakeups(seconds: float, late: float, nap: float = 0.001) -> list[float]:
    """How long each sleep of `nap` seconds took, for those over `late` seconds."""
    found: list[float] = []
    end = time.perf_counter() + seconds
    for _ in range(int(seconds / nap) + 1):
        before = time.perf_counter()
        if before >= end:
            break
        time.sleep(nap)
        took = time.perf_counter() - before
        if took > late:
            found.append(took)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--late", type=float, default=4.0, help="ms past which a wake-up is late")
    args = parser.parse_args()
    found = late_wakeups(args.seconds, args.late / 1000)
    share = 100 * sum(found) / args.seconds
    longest = max(found, default=0.0) * 1000
    print(
        f"1 ms sleeps over {args.seconds:g} s: {len(found) / args.seconds:.1f} late wake-ups/s "
        f"(over {args.late:g} ms), {share:.1f} % of the time asleep in them, "
        f"longest {longest:.1f} ms"
    )


if __name__ == "__main__":
    main()
