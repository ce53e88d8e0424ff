"""README.md's commands cannot rot: every line of a ```sh block that starts
with `make`, `.venv/bin/` or `curl` runs against a server this test starts,
with short durations (an 8 s Locust run, the quick chaos profile, one
scenario), and fails on a non-zero exit, an HTTP error or a traceback.
Blocks marked ```sh deployment need a deployment of the reader's own and are
skipped, as is `make test`, which is this very run."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from realtime.testing.processes import Daphne, free_port, server_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"^```sh( deployment)?\n(.*?)^```", re.MULTILINE | re.DOTALL)
RUNS = ("make", ".venv/bin/", "curl")
# `NAME=$(command)` lines set what the commands after them use.
ASSIGNMENT = re.compile(r"^(\w+)=\$\((.*)\)$")
# Commands that serve or stream until stopped, and what they print once they work.
UNTIL_STOPPED = {
    "make run": "serving on",
    "realtime.client watch": " connected",
    "curl -N": "welcome",
}
SHORT = "8s"


@dataclass(frozen=True)
class Command:
    line: str
    deployment: bool


def blocks() -> Iterator[tuple[bool, list[str]]]:
    for match in BLOCK.finditer(README):
        yield bool(match.group(1)), match.group(2).replace("\\\n", " ").splitlines()


def commands() -> list[Command]:
    return [
        Command(line.strip(), deployment)
        for deployment, lines in blocks()
        for line in lines
        if line.startswith(RUNS)
    ]


def assignments() -> dict[str, str]:
    found = {}
    for deployment, lines in blocks():
        for line in lines:
            match = ASSIGNMENT.match(line.strip())
            if match and not deployment:
                found[match.group(1)] = match.group(2)
    return found


def shortened(line: str, port: int, reports: Path) -> str:
    """The command as a test runs it: this server's port, short runs, one scenario."""
    line = line.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    line = re.sub(r"--run-time \S+", f"--run-time {SHORT}", line)
    line = re.sub(
        r"(--shape \w+)", rf"\1 --shape-seconds {SHORT.rstrip('s')} --shape-users 20", line
    )
    line = re.sub(r"--users (\d+)", lambda m: f"--users {min(int(m.group(1)), 20)}", line)
    line = re.sub(r"(--scenario \S+)( --scenario \S+)+", r"\1", line)
    line = line.replace("--report chaos-report", f"--report {reports / 'chaos'}")
    if line.startswith("curl") and "-N" not in line.split():
        line = line.replace("curl ", "curl -sS -w '\\n%{http_code}\\n' ", 1)
    return line


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daphne]:
    tmp = tmp_path_factory.mktemp("readme")
    env = server_env(database_url=f"sqlite:///{tmp / 'db.sqlite3'}", log_dir=tmp / "logs")
    with Daphne(free_port(), env, tmp / "logs") as daphne:
        daphne.manage("demo")
        yield daphne


@pytest.fixture(scope="module")
def shell_env(server: Daphne, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The server's settings, where the commands write, and the README's own variables."""
    tmp = tmp_path_factory.mktemp("readme-runs")
    env = {
        **server.env,
        "DATA_DIR": str(tmp),
        "LOAD_REPORTS": str(tmp / "reports"),
        "CHAOS_REPORT": str(tmp / "chaos"),
        "CHAOS_ARGS": "--scenario latency",
        "PROFILE": "quick",
        "PORT": str(free_port()),
        "LOCUST_RUN_TIME": SHORT,
    }
    for name, command in assignments().items():
        run = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        env[name] = run.stdout.strip()
    return env


def test_the_readme_shows_commands_of_every_kind() -> None:
    """The collection finds the commands this test is for, and the marked ones."""
    found = commands()
    assert any(c.line.startswith("make load") for c in found)
    assert any(c.line.startswith("curl") for c in found)
    assert any(c.deployment for c in found)
    assert set(assignments()) >= {"TOKEN", "STAFF"}


@pytest.mark.parametrize("command", commands(), ids=lambda c: c.line[:60])
def test_a_readme_command_runs(
    command: Command, server: Daphne, shell_env: dict[str, str], tmp_path: Path
) -> None:
    """It exits 0 (or, if it serves or streams, gets that far) with no traceback."""
    if command.deployment:
        pytest.skip("needs a deployment of the reader's own (```sh deployment)")
    if command.line.startswith("make test"):
        pytest.skip("the suite this test is part of")
    line = shortened(command.line, server.port, tmp_path)
    waits_for = next((said for start, said in UNTIL_STOPPED.items() if start in line), None)
    if waits_for is not None:
        output = run_until(line, waits_for, shell_env)
        assert waits_for in output, output[-3000:]
    else:
        run = subprocess.run(
            ["bash", "-c", line],
            cwd=ROOT,
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-3000:]
        if line.startswith("curl"):
            assert run.stdout.strip().splitlines()[-1].startswith("2"), output
    assert "Traceback" not in output, output[-3000:]


def run_until(line: str, said: str, env: dict[str, str]) -> str:
    """Start `line`, read until it prints `said` (60 s at most), then stop it with
    SIGTERM (not SIGINT: an xdist worker ignores SIGINT, and so would its children)."""
    process = subprocess.Popen(
        ["bash", "-c", line],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    output = b""
    deadline = time.monotonic() + 60
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while said.encode() not in output and time.monotonic() < deadline:
                if selector.select(timeout=deadline - time.monotonic()):
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    output += chunk
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            rest, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            rest, _ = process.communicate()
    return (output + (rest or b"")).decode(errors="replace")
