"""Real processes on 127.0.0.1 for tests and chaos scenarios: redis-server and
daphne (through `realtime serve`), each on a free port, each stopped for sure."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from realtime.testing.api import metric

HOST = "127.0.0.1"
# Signs the tokens of every server the harness and the tests start.
SECRET_KEY = "chaos-and-tests-secret-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready within {timeout} s")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Redis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def stop(self) -> None:
        stop_process(self.process)


def redis_server() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (see README: prerequisites)")
    return binary


def start_redis(port: int | None = None, *options: str) -> Redis:
    """A redis-server on `port` (a free one by default) with no persistence;
    `options` are more of its command-line options (`--replicaof H P`)."""
    port = port or free_port()
    command = [redis_server(), "--port", str(port), "--bind", HOST, "--save", ""]
    process = subprocess.Popen(
        [*command, "--appendonly", "no", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    redis = Redis(port, process)
    try:
        wait_until(lambda: port_open(port), 10, "redis-server")
    except TimeoutError:
        redis.stop()
        raise
    return redis


@dataclass
class Daphne:
    port: int
    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    output: Path = field(init=False)
    workers: int = 1

    def __post_init__(self) -> None:
        self.output = self.log_dir / f"daphne-{self.port}.out"

    @property
    def http(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{HOST}:{self.port}/ws/orders/"

    @property
    def sse(self) -> str:
        return f"http://{HOST}:{self.port}/sse/orders/"

    @property
    def log(self) -> Path:
        return self.log_dir / "websocket.log"

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def error_lines(self) -> list[str]:
        """Lines of websocket.log that say ERROR or carry a traceback: a server
        bug (docs/operations.md)."""
        return [
            line
            for line in self.log_text().splitlines()
            if " ERROR " in line or "Traceback" in line
        ]

    def wait_for_open(self, count: int, timeout: float = 10) -> None:
        """Until the open-connections gauge reads `count`."""
        what = f"{count} open connections"
        wait_until(lambda: metric(self.http, "ws_connections_open") == count, timeout, what)

    def wait_for_log(self, pattern: str, timeout: float = 10) -> str:
        """websocket.log once a line matches the regex `pattern`."""
        wait_until(lambda: re.search(pattern, self.log_text()) is not None, timeout, pattern)
        return self.log_text()

    def start(self, timeout: float = 30) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Every server a test starts migrates its database, whatever its settings.
        command = [sys.executable, "-m", "realtime.cli", "serve", "--port", str(self.port)]
        command.append("--migrate")
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(self.live, timeout, f"daphne on {self.port}", interval=0.1)
        except TimeoutError:
            self.stop()
            raise

    def __enter__(self) -> Daphne:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def live(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"daphne exited with {self.process.returncode}: see {self.output}")
        try:
            with urllib.request.urlopen(f"{self.http}/health/live", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def manage(self, *args: str) -> str:
        """Run `realtime ARGS` against this server's settings; returns stdout."""
        result = subprocess.run(
            [sys.executable, "-m", "realtime.cli", *args],
            env=self.env,
            capture_output=True,
            timeout=60,
            check=True,
        )
        return result.stdout.decode().strip()


def server_env(
    *, database_url: str, log_dir: Path, redis_url: str = "", extra: Mapping[str, str] = {}
) -> dict[str, str]:
    inherited = ("WEBSOCKET_", "REDIS_", "DJANGO_SETTINGS_MODULE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    env.update(
        {
            "DATABASE_URL": database_url,
            "LOG_DIR": str(log_dir),
            "SECRET_KEY": SECRET_KEY,
            "PYTHONWARNINGS": "ignore",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def stop_process(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
