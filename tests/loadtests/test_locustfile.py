"""Smoke runs of the Locust scenarios against a server `loadtests.run` starts
(each well under 30 s): a reconnect storm with no lost update, and a missed
threshold turning into a non-zero exit code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def run_load(reports: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "loadtests.run", *args],
        env={**os.environ, "LOAD_REPORTS": str(reports)},
        capture_output=True,
        timeout=90,
    )


def test_a_reconnect_storm_loses_nothing_and_meets_the_thresholds(tmp_path: Path) -> None:
    """Every watcher drops at once halfway and resumes; reports are written; exit code 0."""
    shapes = "loadtests/locustfile.py,loadtests/shapes.py"
    run = run_load(
        tmp_path, "-f", shapes, "--shape", "storm", "--shape-seconds", "12", "--shape-users", "12"
    )
    output = run.stdout.decode() + run.stderr.decode()
    assert run.returncode == 0, output[-3000:]
    # Each threshold is printed beside its measured value.
    printed = output[output.index("thresholds:") :]
    assert re.search(r"failure ratio: 0 \(limit [\d.]+\) met", printed)
    assert re.search(r"p95 delivery: [\d.]+ ms \(limit [\d.]+ ms\) met", printed)
    assert "lost or regressed updates: 0 (limit 0) met" in printed
    stats = {(e["method"], e["name"]): e for e in json.loads((tmp_path / "load.json").read_text())}
    for kind in ("WS", "SSE"):
        # Each watcher connects twice, before and after the storm, on either transport.
        assert stats[(kind, "connect")]["num_requests"] >= 2 * 3, kind
        # The writer's pace falls on a loaded machine: a few updates each is enough.
        assert stats[(kind, "order.update")]["num_requests"] >= 3, kind
        assert (kind, "lost update") not in stats
    assert all(e["num_failures"] == 0 for e in stats.values())
    assert (tmp_path / "load.html").exists()
    assert (tmp_path / "load_stats.csv").exists()


def test_a_missed_threshold_fails_the_run(tmp_path: Path) -> None:
    """An impossible p95 delivery bound makes Locust exit non-zero and say why."""
    run = run_load(tmp_path, "--run-time", "6s", "--users", "6", "--max-p95-delivery-ms", "0.001")
    output = run.stdout.decode() + run.stderr.decode()
    assert run.returncode == 1, output[-3000:]
    assert re.search(r"threshold not met:  p95 delivery: [\d.]+ ms \(limit 0.001 ms\)", output)
