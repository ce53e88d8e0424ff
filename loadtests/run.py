"""`make load`: start a server here (SQLite, in-memory layer unless REDIS_URL
is set, the demo users and a customer per Locust user, signing in by token),
run a headless Locust scenario against it, and write CSV, HTML and JSON
reports under reports/. Extra arguments go to Locust:

    .venv/bin/python -m loadtests.run --run-time 30s --users 50
    .venv/bin/python -m loadtests.run -f loadtests/locustfile.py,loadtests/shapes.py --shape storm

Reports go to $LOAD_REPORTS (default reports/). The exit code is Locust's:
non-zero when a threshold in locust.conf is missed. To load your own
deployment, run `locust --config loadtests/locust.conf --host URL`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from realtime.testing.processes import Daphne, free_port, server_env

CONF = Path(__file__).with_name("locust.conf")
# The locustfile's default --shape-users.
SHAPE_USERS = 50


def conf_users() -> int:
    """`users` in locust.conf."""
    for line in CONF.read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "users":
            return int(value)
    return 1


def customers_for(argv: list[str]) -> int:
    """A customer for every Locust user the arguments (or locust.conf) ask for,
    so that no user meets its connection cap."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-u", "--users", type=int, default=conf_users())
    parser.add_argument("--shape-users", type=int, default=SHAPE_USERS)
    known, _ = parser.parse_known_args(argv)
    return max(known.users, known.shape_users, 1)


def main(argv: list[str]) -> int:
    reports = Path(os.environ.get("LOAD_REPORTS", "reports"))
    tmp = Path(tempfile.mkdtemp(prefix="load-"))
    env = server_env(
        database_url=f"sqlite:///{tmp / 'db.sqlite3'}",
        log_dir=tmp / "logs",
        redis_url=os.environ.get("REDIS_URL", ""),
    )
    server = Daphne(free_port(), env, tmp / "logs")
    server.start()
    try:
        tokens = tmp / "tokens.txt"
        server.manage("demo", "--users", str(customers_for(argv)), "--tokens-file", str(tokens))
        reports.mkdir(exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "locust",
            "--config",
            "loadtests/locust.conf",
            "--host",
            server.http,
            "--csv",
            str(reports / "load"),
            "--html",
            str(reports / "load.html"),
            "--json-file",
            str(reports / "load"),
            "--tokens-file",
            str(tokens),
            *argv,
        ]
        print(" ".join(command), flush=True)
        code = subprocess.run(command, timeout=3600).returncode
        print(
            f"reports: {reports}/load_stats.csv, load.html, load.json; server log: {server.log_dir}"
        )
        return code
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
