"""`python -m loadtests.bench.log_lines`: what one lifecycle line costs the
server (a connect storm writes three per connection), against the standard
library writing a line of the same text to the same two places, measured in
one run, alternating (docs/benchmarks.md).

    .venv/bin/python -m loadtests.bench.log_lines --lines 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from realtime.observability.logging import log_event, package_config

FIELDS = {"user": "alice", "staff": False, "cursor": 4211}


def package_lines(log_dir: Path) -> Callable[[int], None]:
    """The package's own configuration: websocket.log and the console, redacted."""
    config = package_config(log_dir, "text", "INFO")
    config["handlers"]["console"]["stream"] = (log_dir / "console.out").open("w")
    logging.config.dictConfig(config)
    logger = logging.getLogger("realtime.ws")

    def write(n: int) -> None:
        log_event(logger, "accept", conn=f"c{n}", **FIELDS, transport="websocket")

    return write


def stdlib_lines(log_dir: Path) -> Callable[[int], None]:
    """The baseline: a FileHandler and a StreamHandler, one %-format each."""
    logger = logging.getLogger("baseline.ws")
    logger.propagate = False
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    for handler in (
        logging.FileHandler(log_dir / "baseline.log", encoding="utf-8"),
        logging.StreamHandler((log_dir / "baseline-console.out").open("w")),
    ):
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def write(n: int) -> None:
        logger.info(
            "accept conn=c%s user=%s staff=%s cursor=%s transport=websocket",
            n,
            FIELDS["user"],
            FIELDS["staff"],
            FIELDS["cursor"],
        )

    return write


def per_line(write: Callable[[int], None], lines: int) -> float:
    started = time.perf_counter()
    for n in range(lines):
        write(n)
    return (time.perf_counter() - started) / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-log-") as tmp:
        ours, baseline = package_lines(Path(tmp)), stdlib_lines(Path(tmp))
        figures: dict[str, list[float]] = {"package": [], "stdlib": []}
        for _ in range(args.rounds):
            figures["package"].append(per_line(ours, args.lines))
            figures["stdlib"].append(per_line(baseline, args.lines))
        logging.shutdown()
    package, stdlib = (statistics.median(figures[k]) for k in ("package", "stdlib"))
    sys.stdout.write(
        f"\nlifecycle line, {args.lines} lines x {args.rounds} rounds, median\n\n"
        "| metric | package | stdlib | package ÷ stdlib |\n| --- | ---: | ---: | ---: |\n"
        f"| µs per line | {package:.1f} | {stdlib:.1f} | {package / stdlib:.2f} |\n"
    )


if __name__ == "__main__":
    main()
