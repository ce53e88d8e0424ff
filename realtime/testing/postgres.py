"""PostgreSQL for tests, chaos scenarios and benchmarks: the server at
`TEST_POSTGRES_URL` (default postgresql://postgres@127.0.0.1:5432/test) when
one answers there, and otherwise a throwaway cluster of this process's own,
made with the `initdb` and `pg_ctl` of Debian's `postgresql` package on a
free port of 127.0.0.1, and removed at exit. Each user gets a database of
its own on that server (`fresh_database`)."""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from realtime.testing.processes import HOST, free_port

TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
START_TIMEOUT = 60


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def admin(statement: str, server: str) -> None:
    """Run one statement (CREATE or DROP DATABASE) on `server`."""
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as connection:
        connection.execute(statement.encode())


def binary(name: str) -> str:
    """A PostgreSQL server program: on PATH, or where Debian installs it."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(
            f"{name} not found: install PostgreSQL's server package (Debian: postgresql), "
            "or point TEST_POSTGRES_URL at a server"
        )
    return found


class Cluster:
    """A PostgreSQL cluster in a temporary directory, trusting local connections."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="realtime-postgres-"))
        self.data = self.root / "data"
        self.url = f"postgresql://postgres@{HOST}:{self.port}/test"
        # initdb refuses to run as root: the server runs as Debian's postgres user.
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *command: str) -> None:
        subprocess.run(
            command,
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT,
            user=self.user,
            cwd=self.root,
        )

    def start(self) -> str:
        if self.user is not None:
            shutil.chown(self.root, self.user)
        self._run(
            binary("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={HOST} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            binary("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            str(START_TIMEOUT),
            "start",
        )
        admin("CREATE DATABASE test", self.url.replace("/test", "/postgres"))
        return self.url

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


_lock = threading.Lock()
_server: str | None = None


def server_url() -> str:
    """The server this process's databases go on, started the first time if need be."""
    global _server
    with _lock:
        if _server is None:
            if answers(TEST_POSTGRES_URL):
                _server = TEST_POSTGRES_URL
            else:
                cluster = Cluster()
                atexit.register(cluster.stop)
                _server = cluster.start()
        return _server


def with_database(server: str, name: str) -> str:
    parts = urllib.parse.urlsplit(server)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.contextmanager
def fresh_database(prefix: str = "realtime_test", server: str = "") -> Iterator[str]:
    """The URL of a new, empty database on `server` (by default this
    process's, `server_url`), dropped afterwards."""
    server = server or server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"', server)
    try:
        yield with_database(server, name)
    finally:
        with contextlib.suppress(psycopg.Error):
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server)
