"""`realtime` through its real entry point, as a newcomer meets it: every
mistake is one line on stderr and a non-zero exit, and nothing is written
where it was not asked for."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from realtime.testing.processes import HOST, free_port, server_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def realtime(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "realtime.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused_in_one_line(run: subprocess.CompletedProcess[str], *words: str) -> None:
    assert run.returncode != 0, run.stdout
    assert "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    for word in words:
        assert word in run.stderr


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A demo database with alice (a customer) and kitchen (staff)."""
    tmp = tmp_path_factory.mktemp("cli")
    environment = server_env(database_url=f"sqlite:///{tmp / 'db.sqlite3'}", log_dir=tmp / "logs")
    assert realtime("demo", env=environment).returncode == 0
    return environment


def claims(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token.strip(), options={"verify_signature": False})
    return decoded


@pytest.mark.parametrize("ttl", ["0", "-5", str(10 * 365 * 86400)])
def test_a_ttl_under_a_second_or_over_token_max_ttl_is_refused(
    env: dict[str, str], ttl: str
) -> None:
    """`realtime token --ttl` outside 1..TOKEN_MAX_TTL prints no token and one line."""
    run = realtime("token", "alice", f"--ttl={ttl}", env=env)
    refused_in_one_line(run, "--ttl", ttl)
    assert run.stdout == ""


def test_a_ttl_of_token_max_ttl_is_given_in_full(env: dict[str, str]) -> None:
    """The longest lifetime the server accepts is issued as asked."""
    run = realtime("token", "alice", "--ttl", "86400", env=env)
    assert run.returncode == 0, run.stderr
    issued = claims(run.stdout)
    assert int(str(issued["exp"])) - int(str(issued["iat"])) == 86400


def test_staff_for_an_existing_customer_needs_promote(env: dict[str, str]) -> None:
    """--staff alone never promotes alice; --staff --promote does, and says nothing else."""
    refused_in_one_line(realtime("token", "alice", "--staff", env=env), "--promote")
    assert claims(realtime("token", "alice", env=env).stdout)["staff"] is False
    promoted = realtime("token", "alice", "--staff", "--promote", env=env)
    assert promoted.returncode == 0, promoted.stderr
    assert claims(promoted.stdout)["staff"] is True


def test_create_says_the_new_user_has_no_password_and_how_to_set_one(
    env: dict[str, str],
) -> None:
    """The token alone on stdout; on stderr, that the board's form needs a password first."""
    run = realtime("token", "newcomer", "--create", env=env)
    assert run.returncode == 0, run.stderr
    assert claims(run.stdout)["name"] == "newcomer"
    assert "without a password" in run.stderr
    assert "changepassword newcomer" in run.stderr


def test_help_says_what_each_token_flag_does() -> None:
    """--create, --staff, --promote and --ttl each have help; the top level lists logs."""
    helped = realtime("token", "--help", env=dict(os.environ)).stdout
    for flag, words in {
        "--create": "without a password",
        "--staff": "sees and changes every order",
        "--promote": "staff for good",
        "--ttl": "TOKEN_MAX_TTL",
    }.items():
        assert flag in helped
        assert words in " ".join(helped.split())
    assert "logs" in realtime("--help", env=dict(os.environ)).stdout


def test_outside_a_project_token_says_where_it_looked_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """No db.sqlite3 here: one line naming the path and `realtime demo`; no file or logs/ left."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR", "LOG_DIR")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    run = realtime("token", "alice", env=env, cwd=tmp_path)
    refused_in_one_line(run, str(tmp_path / "db.sqlite3"), "realtime demo")
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_database_is_one_line_naming_host_and_port(tmp_path: Path) -> None:
    """`realtime serve` with DATABASE_URL on a closed port: exit 2, host and port named."""
    port = free_port()
    env = server_env(
        database_url=f"postgresql://postgres@{HOST}:{port}/test", log_dir=tmp_path / "logs"
    )
    run = realtime("serve", "--port", str(free_port()), env=env)
    refused_in_one_line(run, f"cannot reach the database at {HOST}:{port}")
    assert run.returncode == 2


def test_a_busy_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """The line names --port and PORT, and the server never got as far as its log."""
    env = server_env(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", log_dir=tmp_path / "logs")
    with socket.create_server((HOST, 0)) as taken:
        port = taken.getsockname()[1]
        run = realtime("serve", "--port", str(port), env=env)
    refused_in_one_line(run, f"cannot listen on {HOST}:{port}", "--port", "PORT=")
    assert not (tmp_path / "logs").exists()
    assert not (tmp_path / "db.sqlite3").exists()


def test_a_port_out_of_range_is_refused_by_the_parser() -> None:
    """--port 99999 is an argument error, before Django is touched."""
    run = realtime("serve", "--port", "99999", env=dict(os.environ))
    assert run.returncode == 2
    assert "a port is 0 to 65535, not 99999" in run.stderr


def test_logs_summary_refuses_a_file_that_is_not_a_websocket_log(tmp_path: Path) -> None:
    """A file with no log line in it exits non-zero and says so; `logs` alone names COMMAND."""
    other = tmp_path / "notes.txt"
    other.write_text("shopping list\n- eggs\n- flour\n")
    refused_in_one_line(
        realtime("logs", "summary", str(other), env=dict(os.environ)), "is not a websocket.log"
    )
    bare = realtime("logs", env=dict(os.environ))
    assert bare.returncode == 2
    assert "COMMAND" in bare.stderr
    assert (
        "logs_command" not in bare.stderr + realtime("logs", "--help", env=dict(os.environ)).stdout
    )
