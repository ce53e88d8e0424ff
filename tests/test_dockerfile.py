"""The Dockerfile's images hold what they should: no container engine runs
here, so the file is read as data, stage by stage."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def stages() -> dict[str, list[str]]:
    """Each stage's instructions (continuation lines joined), by stage name."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            current = [f"FROM {match.group(1)}"]
            found[match.group(2) or f"stage{len(found)}"] = current
        else:
            current.append(line)
    return found


def chain(name: str) -> list[str]:
    """A stage's instructions with those of the stages it is built FROM."""
    all_stages = stages()
    instructions = all_stages[name]
    parent = instructions[0].split()[1]
    return (chain(parent) if parent in all_stages else []) + instructions[1:]


def test_the_default_image_is_the_app() -> None:
    """`docker build .` builds the last stage: the app."""
    assert list(stages())[-1] == "app"


def test_the_app_runs_as_a_non_root_user() -> None:
    """The app stage's last USER is neither root nor uid 0."""
    users = [i.split()[1] for i in chain("app") if i.upper().startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0", "0:0")


def test_the_app_holds_no_load_or_test_dependencies() -> None:
    """It installs the locked base requirements only: no Locust, no dev extras, no loadtests."""
    text = "\n".join(chain("app"))
    assert "requirements/base.txt" in text
    for unwanted in ("dev.txt", "locust", "[load", "[dev", "[chaos", "loadtests", "playwright"):
        assert unwanted not in text, unwanted


def test_the_app_has_a_readiness_healthcheck() -> None:
    """HEALTHCHECK asks /health/ready."""
    checks = [i for i in chain("app") if i.upper().startswith("HEALTHCHECK ")]
    assert len(checks) == 1
    assert "/health/ready" in checks[0]


def test_the_load_generator_has_its_own_image_and_compose_uses_both() -> None:
    """Locust comes from the load stage; the app and the seed job from the app stage."""
    assert "requirements/dev.txt" in "\n".join(chain("load"))
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    targets = {name: (s.get("build") or {}).get("target") for name, s in services.items()}
    assert targets["app"] == targets["seed"] == "app"
    assert targets["locust-master"] == targets["locust-worker"] == "load"
