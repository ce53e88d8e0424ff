"""The chaos report: `report.json`, a `report.md` table with one row per
scenario and transport, and `junit.xml` with one test case per row, so CI
services show the scenarios as tests."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Result:
    """One row: a scenario's figures and invariants for one transport's clients."""

    scenario: str
    toxic: str
    transport: str = "websocket"
    figures: dict[str, float | int | str] = field(default_factory=dict)
    lost: int = 0
    duplicates: int = 0
    regressed: int = 0
    peak_rss_mib: float = 0.0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "pass" if not self.violations else "FAIL"

    @property
    def name(self) -> str:
        return f"{self.scenario} ({self.transport})"


def write(results: list[Result], directory: Path, toxiproxy: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "toxiproxy": toxiproxy,
        "passed": all(r.verdict == "pass" for r in results),
        "scenarios": [{**asdict(r), "verdict": r.verdict} for r in results],
    }
    (directory / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        "# Chaos report",
        "",
        f"Toxiproxy: {toxiproxy}",
        "",
        "| scenario | transport | toxic | figures | lost | dup | regressed | peak RSS (MiB) | s "
        "| verdict |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        figures = ", ".join(f"{k}={v}" for k, v in r.figures.items())
        lines.append(
            f"| {r.scenario} | {r.transport} | {r.toxic} | {figures} | {r.lost} | {r.duplicates} | "
            f"{r.regressed} | {r.peak_rss_mib:.1f} | {r.seconds:.1f} | {r.verdict} |"
        )
    failed = [r for r in results if r.violations]
    if failed:
        lines += ["", "## Violations", ""]
        lines += [f"- {r.name}: {v}" for r in failed for v in r.violations]
    (directory / "report.md").write_text("\n".join(lines) + "\n")
    junit(results, toxiproxy).write(directory / "junit.xml", encoding="utf-8", xml_declaration=True)


def junit(results: list[Result], toxiproxy: str) -> ET.ElementTree[ET.Element]:
    failed = sum(1 for r in results if r.violations)
    suite = ET.Element(
        "testsuite",
        name="chaos",
        tests=str(len(results)),
        failures=str(failed),
        errors="0",
        time=f"{sum(r.seconds for r in results):.1f}",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="toxiproxy", value=toxiproxy)
    for r in results:
        case = ET.SubElement(
            suite, "testcase", classname="chaos", name=r.name, time=f"{r.seconds:.1f}"
        )
        figures = ", ".join(f"{k}={v}" for k, v in r.figures.items())
        summary = (
            f"toxic: {r.toxic}\nfigures: {figures}\nlost={r.lost} duplicates={r.duplicates} "
            f"regressed={r.regressed} peak_rss_mib={r.peak_rss_mib}"
        )
        if r.violations:
            failure = ET.SubElement(case, "failure", message="; ".join(r.violations)[:500])
            failure.text = "\n".join(r.violations) + "\n\n" + summary
        ET.SubElement(case, "system-out").text = summary
    return ET.ElementTree(suite)
