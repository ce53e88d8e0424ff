"""`realtime serve --workers N` (docs/operations.md, "Workers"): N daphne
processes, each accepting from its own listening socket on the one port
(SO_REUSEPORT, so the kernel spreads new connections evenly instead of
handing them to whichever worker wakes first). The supervisor opens the
sockets and keeps them across a worker's restart, so connections that arrive
meanwhile wait in its queue. A worker that dies is started again after a backoff; SIGTERM
or SIGINT drains every worker (each closes its sockets with 1012) and the
supervisor exits once they have, within SHUTDOWN_GRACE.

The supervisor serves nothing itself and never imports Twisted or the
application: what crashes a worker cannot take it down."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from types import FrameType

logger = logging.getLogger("realtime.server")

# Twisted listens with a backlog of 50, so a reconnect storm overflows the
# accept queue and clients time out; the kernel caps this at somaxconn.
LISTEN_BACKLOG = 4096
POLL = 0.1
# A worker that exits this soon after starting, this many times in a row,
# cannot start (a bad setting, a database it must migrate): give up.
EARLY_EXIT = 5.0
EARLY_EXITS_LIMIT = 5
# Settings for the workers, not for users: which worker they are and where
# prometheus-client keeps the metrics every worker shares.
WORKER_ENV = "REALTIME_WORKER"
WORKERS_ENV = "REALTIME_WORKERS"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclasses.dataclass
class Backoff:
    """When to start a worker again: 0.5 s after its first death, doubling to
    a cap; a worker that ran `stable` seconds starts the count afresh."""

    base: float = 0.5
    cap: float = 10.0
    stable: float = 30.0
    failures: int = 0

    def delay(self, lived: float) -> float:
        if lived >= self.stable:
            self.failures = 0
        delay: float = min(self.cap, self.base * 2.0**self.failures)
        self.failures += 1
        return delay


@dataclasses.dataclass
class Worker:
    number: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    early_exits: int = 0
    backoff: Backoff = dataclasses.field(default_factory=Backoff)


class StartFailure(Exception):
    """A worker exits as soon as it starts, again and again."""


def listen(host: str, port: int, count: int = 1) -> list[socket.socket]:
    """One listening socket per worker, all on host:port; OSError when the
    address is taken, even by another server that shares ports this way."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # SO_REUSEPORT would let us join a group of sockets some other
        # process holds; a plain bind refuses a port anyone listens on.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]
    finally:
        probe.close()
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(LISTEN_BACKLOG)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


class Supervisor:
    def __init__(
        self,
        socks: Sequence[socket.socket],
        command: Callable[[int], Sequence[str]],
        grace: float,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        """Worker n accepts from socks[n - 1]."""
        self.workers = [Worker(number, backoff=backoff()) for number in range(1, len(socks) + 1)]
        self.socks = list(socks)
        self.command = command
        self.grace = grace
        self.stopping: int | None = None
        self.metrics_dir = tempfile.mkdtemp(prefix="realtime-metrics-")

    def run(self) -> int:
        """Supervise until a signal; 0 once every worker drained, 1 otherwise."""
        previous = {
            signum: signal.signal(signum, self._stop) for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            return self.supervise()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def supervise(self) -> int:
        try:
            for worker in self.workers:
                self.start(worker)
            while self.stopping is None:
                self.check(time.monotonic())
                time.sleep(POLL)
            return self.drain()
        except StartFailure as exc:
            logger.error("%s; stopping", exc)
            self.drain()
            return 1
        finally:
            self.close()

    def _stop(self, signum: int, frame: FrameType | None = None) -> None:
        if self.stopping is not None:
            # A second signal: no more waiting.
            for worker in self.live():
                worker.process.kill()  # type: ignore[union-attr]
        self.stopping = signum

    def start(self, worker: Worker) -> None:
        env = {
            **os.environ,
            WORKER_ENV: str(worker.number),
            WORKERS_ENV: str(len(self.workers)),
            METRICS_ENV: self.metrics_dir,
        }
        sock = self.socks[worker.number - 1]
        sock.set_inheritable(True)
        worker.process = subprocess.Popen(
            self.command(worker.number), env=env, pass_fds=(sock.fileno(),)
        )
        worker.started_at = time.monotonic()
        worker.restart_at = None
        logger.info("worker %d started (pid %d)", worker.number, worker.process.pid)

    def check(self, now: float) -> None:
        """Notice the workers that died and start those whose backoff is over."""
        for worker in self.workers:
            process = worker.process
            if worker.restart_at is None and process is not None and process.poll() is not None:
                self.forget(process.pid)
                lived = now - worker.started_at
                worker.early_exits = worker.early_exits + 1 if lived < EARLY_EXIT else 0
                if worker.early_exits >= EARLY_EXITS_LIMIT:
                    raise StartFailure(
                        f"worker {worker.number} exited within {EARLY_EXIT:g} s of starting "
                        f"{worker.early_exits} times in a row (last exit code {process.returncode})"
                    )
                delay = worker.backoff.delay(lived)
                worker.restart_at = now + delay
                logger.warning(
                    "worker %d (pid %d) exited with %s after %.1f s; restarting in %.1f s",
                    worker.number,
                    process.pid,
                    describe(process.returncode),
                    lived,
                    delay,
                )
            if worker.restart_at is not None and now >= worker.restart_at:
                self.start(worker)

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.process is not None and w.process.poll() is None]

    def drain(self) -> int:
        """SIGTERM to every worker; whoever is still running after the grace is killed."""
        self.close()
        name = signal.Signals(self.stopping).name if self.stopping else "a failure"
        logger.info("draining %d workers on %s", len(self.live()), name)
        for worker in self.live():
            worker.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + self.grace
        while self.live() and time.monotonic() < deadline:
            time.sleep(POLL)
        killed = self.live()
        for worker in killed:
            logger.warning("worker %d still running after the grace: killing it", worker.number)
            worker.process.kill()  # type: ignore[union-attr]
            worker.process.wait()  # type: ignore[union-attr]
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        codes = [w.process.returncode for w in self.workers if w.process is not None]
        # A worker still starting when SIGTERM came has no drain to run: it just ends.
        return 0 if not killed and all(code in (0, -signal.SIGTERM) for code in codes) else 1

    def close(self) -> None:
        for sock in self.socks:
            sock.close()

    def forget(self, pid: int) -> None:
        """A dead worker's gauges leave /metrics; its counters stay."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]


def describe(returncode: int) -> str:
    if returncode >= 0:
        return f"code {returncode}"
    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


def worker_command(host: str, port: int, fds: Sequence[int]) -> Callable[[int], list[str]]:
    """Worker n serves the socket fds[n - 1]."""

    def command(number: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "realtime.cli",
            "serve",
            "--host",
            host,
            "--port",
            str(port),
            "--fd",
            str(fds[number - 1]),
        ]

    return command
