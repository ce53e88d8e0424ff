"""The GitHub Actions workflow runs what the project promises: `make test`,
the Toxiproxy tests and the full chaos suite against Shopify's Toxiproxy
2.12.0, with the reports kept as artifacts. actionlint checks the file in
`make lint`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def jobs() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return dict(data["jobs"])


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def uploads(job: dict[str, Any]) -> str:
    return "\n".join(
        str(step["with"]["path"])
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/upload-artifact")
    )


def test_the_test_job_runs_make_test_on_the_runners_chrome_and_its_own_postgresql() -> None:
    """One job runs `make test` with the README's packages, no database service (the
    suite starts its own), and the runner's Google Chrome instead of a snap shim."""
    test = jobs()["test"]
    assert "make test" in runs(test)
    assert "redis-server" in runs(test)
    assert "postgresql" in runs(test)
    assert "services" not in test
    assert "chromium" not in runs(test)
    assert test["env"]["BROWSER_EXECUTABLE"] == "/usr/bin/google-chrome"


def test_the_chaos_job_drives_the_real_toxiproxy_and_keeps_the_reports() -> None:
    """Toxiproxy 2.12.0 at TOXIPROXY_URL: its tests, the full chaos profile, Locust, artifacts."""
    chaos = jobs()["chaos"]
    assert set(chaos["services"]) == {"redis", "postgres"}
    assert chaos["env"]["TOXIPROXY_URL"] == "http://127.0.0.1:8474"
    script = runs(chaos)
    assert "ghcr.io/shopify/toxiproxy:2.12.0" in script
    assert "tests/chaos/toxiproxy" in script
    assert "python -m chaos run --profile full" in script
    assert "loadtests.run" in script
    assert "chaos-report/" in uploads(chaos)
    assert "reports/" in uploads(chaos)


def test_actionlint_finds_the_workflow_clean_and_a_broken_one_not(tmp_path: Path) -> None:
    """The same check `make lint` runs: 0 problems here, and a typo'd expression is caught."""
    check = ROOT / "tools" / "actionlint" / "check.mjs"
    clean = subprocess.run(
        ["node", str(check), str(WORKFLOW)], capture_output=True, text=True, timeout=60
    )
    assert clean.returncode == 0, clean.stdout
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.evnt.name }}\n"
    )
    caught = subprocess.run(
        ["node", str(check), str(broken)], capture_output=True, text=True, timeout=60
    )
    assert caught.returncode == 1
    assert 'property "evnt" is not defined' in caught.stdout
