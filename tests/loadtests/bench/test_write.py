"""The write benchmark (`loadtests/bench/write.py`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_workers_mode_measures_one_worker_then_more() -> None:
    """`--workers 2` prints a row for one worker (the 1.00 reference) and one for two."""
    command = [sys.executable, "-m", "loadtests.bench.write", "--workers", "2"]
    command += ["--threads", "1", "--seconds", "0.5"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=170)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    rows = [line.split("|") for line in lines[2:]]
    assert [row[1].strip() for row in rows] == ["1", "2"]
    assert rows[0][6].strip() == "1.00"
    assert float(rows[1][3].replace(",", "")) > 0
