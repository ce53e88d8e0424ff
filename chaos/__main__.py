"""`python -m chaos run [--scenario NAME ...] [--profile quick|full] [--report DIR]`:
run the chaos scenarios, write `report.md` and `report.json`, and exit
non-zero on any violation. Each scenario's logs stay under DIR/runs/. Set
TOXIPROXY_URL to use a running Toxiproxy."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

from chaos import harness, report, scenarios


async def run_all(names: list[str], profile: scenarios.Profile, directory: Path, seed: int) -> bool:
    results = []
    workdir = directory / "runs"
    shutil.rmtree(workdir, ignore_errors=True)
    for name in names:
        for result in await scenarios.run(scenarios.BY_NAME[name], profile, workdir, seed):
            line = f"{result.name:24} {result.verdict:5} {result.seconds:6.1f} s"
            print(f"{line}  {result.figures}", flush=True)
            for violation in result.violations:
                print(f"{'':24} - {violation}", flush=True)
            results.append(result)
        report.write(results, directory, harness.describe_toxiproxy())
    return all(r.verdict == "pass" for r in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run scenarios and write the report")
    run.add_argument("--scenario", action="append", choices=sorted(scenarios.BY_NAME))
    run.add_argument("--profile", choices=["quick", "full"], default="quick")
    run.add_argument("--report", default="chaos-report", help="directory for report.md/json")
    run.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    names = args.scenario or [s.name for s in scenarios.SCENARIOS]
    profile = scenarios.FULL if args.profile == "full" else scenarios.QUICK
    passed = asyncio.run(run_all(names, profile, Path(args.report), args.seed))
    print(f"report: {Path(args.report) / 'report.md'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
