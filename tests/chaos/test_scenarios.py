"""Every chaos scenario (docs/operations.md), quick profile, against the bundled (or
TOXIPROXY_URL's) Toxiproxy; the results are written to chaos-report/ as the
CI artifact."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from chaos import harness, report, scenarios

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(240)]

REPORT = Path(__file__).parents[2] / "chaos-report"


@pytest.fixture(scope="module")
def results(testrun_uid: str) -> Iterator[list[report.Result]]:
    """This worker's rows. The scenarios are spread over the workers, so each
    keeps its rows beside the report and rewrites the report from every
    worker's rows of this run: the last worker to finish writes them all."""
    collected: list[report.Result] = []
    yield collected
    rows = REPORT / "rows"
    mine = rows / testrun_uid
    mine.mkdir(parents=True, exist_ok=True)
    for stale in rows.iterdir():
        if stale != mine:
            shutil.rmtree(stale, ignore_errors=True)
    for row in collected:
        (mine / f"{row.scenario}.{row.transport}.json").write_text(json.dumps(asdict(row)))
    order = [s.name for s in scenarios.SCENARIOS]
    every = [report.Result(**json.loads(path.read_text())) for path in mine.glob("*.json")]
    every.sort(key=lambda row: (order.index(row.scenario), row.transport))
    report.write(every, REPORT, harness.describe_toxiproxy())


@pytest.mark.parametrize("name", [s.name for s in scenarios.SCENARIOS])
async def test_scenario_holds_the_guarantees(
    name: str, tmp_path: Path, results: list[report.Result]
) -> None:
    """The scenario's toxics break nothing, on each transport it runs: no loss, duplicate or
    regression, no ERROR line."""
    scenario = scenarios.BY_NAME[name]
    rows = await scenarios.run(scenario, scenarios.QUICK, tmp_path)
    results.extend(rows)
    assert [row.transport for row in rows] == list(scenario.transports)
    for row in rows:
        assert row.violations == [], f"{row.name}: {row.figures}"
        assert row.figures["writes"] > 0


def test_the_busiest_share_counts_times_within_one_100_ms_window() -> None:
    """Jittered times spread thin; times bunched in one 100 ms window make up most of it."""
    assert scenarios.busiest_share([0.05, 0.25, 0.45, 0.65]) == 0.25
    assert scenarios.busiest_share([1.01, 1.02, 1.09, 3.0]) == 0.75


def test_the_runner_writes_a_report_and_fails_on_violations(tmp_path: Path) -> None:
    """`python -m chaos run` writes report.md, report.json and junit.xml; exit 0 when all pass."""
    run = subprocess.run(
        [sys.executable, "-m", "chaos", "run", "--scenario", "slicer", "--report", str(tmp_path)],
        capture_output=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout.decode()[-2000:]
    table = (tmp_path / "report.md").read_text()
    assert "| slicer | websocket |" in table
    assert "| slicer | sse |" in table
    assert '"verdict": "pass"' in (tmp_path / "report.json").read_text()
    assert 'name="slicer (sse)"' in (tmp_path / "junit.xml").read_text()


def test_a_violation_makes_the_report_fail(tmp_path: Path) -> None:
    """A result with a violation is marked FAIL and listed under Violations."""
    failed = report.Result("x", "none", violations=["3 updates lost"], lost=3)
    report.write([failed], tmp_path, "http://example.invalid")
    table = (tmp_path / "report.md").read_text()
    assert "| x | websocket | none |  | 3 | 0 | 0 | 0.0 | 0.0 | FAIL |" in table
    assert "- x (websocket): 3 updates lost" in table


def test_the_report_has_junit_xml_with_one_case_per_scenario(tmp_path: Path) -> None:
    """junit.xml lists every scenario as a test case; a failed one carries its violations."""
    import xml.etree.ElementTree as ET

    passed = report.Result("latency", "app: latency", figures={"p95_delivery_ms": 120})
    failed = report.Result("redis", "redis: down", violations=["3 updates lost"], lost=3)
    report.write([passed, failed], tmp_path, "http://toxiproxy:8474")
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"latency (websocket)", "redis (websocket)"}
    assert cases["latency (websocket)"].find("failure") is None
    assert "p95_delivery_ms=120" in (cases["latency (websocket)"].findtext("system-out") or "")
    failure = cases["redis (websocket)"].find("failure")
    assert failure is not None
    assert failure.get("message") == "3 updates lost"
