"""`make load`: start a server here (SQLite, in-memory layer unless REDIS_URL
is set, demo users), run a headless Locust scenario against it, and write CSV,
HTML and JSON reports under reports/. Extra arguments go to Locust:

    .venv/bin/python -m loadtests.run --run-time 30s --users 50
    .venv/bin/python -m loadtests.run -f loadtests/locustfile.py,loadtests/shapes.py --shape storm

Reports go to $LOAD_REPORTS (default reports/). The exit code is Locust's:
non-zero when a threshold in locust.conf is missed. To load your own
deployment, run `locust --config loadtests/locust.conf --host URL`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from realtime.testing.processes import Daphne, free_port, server_env


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
        server.manage("demo")
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
