"""The chaos report: `report.json` and a `report.md` table, one row per scenario."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Result:
    scenario: str
    toxic: str
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
        "| scenario | toxic | figures | lost | dup | regressed | peak RSS (MiB) | s | verdict |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        figures = ", ".join(f"{k}={v}" for k, v in r.figures.items())
        lines.append(
            f"| {r.scenario} | {r.toxic} | {figures} | {r.lost} | {r.duplicates} | "
            f"{r.regressed} | {r.peak_rss_mib:.1f} | {r.seconds:.1f} | {r.verdict} |"
        )
    failed = [r for r in results if r.violations]
    if failed:
        lines += ["", "## Violations", ""]
        lines += [f"- {r.scenario}: {v}" for r in failed for v in r.violations]
    (directory / "report.md").write_text("\n".join(lines) + "\n")
