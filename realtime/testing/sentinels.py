"""Redis with Sentinel on 127.0.0.1 for tests and chaos scenarios: a master,
a replica and three sentinels (Debian's redis-server run with `--sentinel`),
each on a free port; the master can be killed, its failover watched, and the
old master brought back, where the sentinels make it a replica."""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import redis

from realtime.testing.processes import (
    HOST,
    Redis,
    free_port,
    port_open,
    redis_server,
    start_redis,
    stop_process,
    wait_until,
)

MASTER_NAME = "mymaster"
SENTINELS = 3
QUORUM = 2


@dataclass
class Sentinels:
    """A watched master and replica; `master` is whichever the sentinels say."""

    workdir: Path
    down_after_ms: int = 1000
    nodes: list[Redis] = field(default_factory=list)
    sentinels: list[Redis] = field(default_factory=list)

    @property
    def addresses(self) -> str:
        """REDIS_SENTINELS for the server."""
        return ",".join(f"{HOST}:{s.port}" for s in self.sentinels)

    def start(self) -> Sentinels:
        self.workdir.mkdir(parents=True, exist_ok=True)
        master = start_redis(None, *self._here())
        replica = start_redis(None, "--replicaof", HOST, str(master.port), *self._here())
        self.nodes = [master, replica]
        for number in range(SENTINELS):
            port = free_port()
            config = self.workdir / f"sentinel-{number}.conf"
            config.write_text(
                f"port {port}\nbind {HOST}\ndir {self.workdir}\n"
                f"sentinel monitor {MASTER_NAME} {HOST} {master.port} {QUORUM}\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            process = subprocess.Popen(
                [redis_server(), str(config), "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.sentinels.append(Redis(port, process))
            wait_until(partial(port_open, port), 10, "redis sentinel")
        # A failover needs the sentinels to know the replica and each other.
        wait_until(self._acquainted, 30, "sentinels that know the replica and each other")
        return self

    def _here(self) -> tuple[str, str]:
        """A replica saves what it syncs to disk: into the workdir, not the cwd."""
        return ("--dir", str(self.workdir))

    def _ask(self, sentinel: Redis) -> redis.Redis:
        return redis.Redis(host=HOST, port=sentinel.port, socket_timeout=1, decode_responses=True)

    def _acquainted(self) -> bool:
        try:
            for sentinel in self.sentinels:
                with self._ask(sentinel) as client:
                    state = client.sentinel_master(MASTER_NAME)
                    if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                        return False
        except redis.RedisError:
            return False
        return True

    def master_port(self) -> int | None:
        """The master's port as a majority of the sentinels say, or None."""
        said: list[int] = []
        for sentinel in self.sentinels:
            try:
                with self._ask(sentinel) as client:
                    _, port = client.sentinel_get_master_addr_by_name(MASTER_NAME)
                    said.append(int(port))
            except (redis.RedisError, TypeError):
                continue
        for port in set(said):
            if said.count(port) >= QUORUM:
                return port
        return None

    def node(self, port: int) -> Redis:
        return next(n for n in self.nodes if n.port == port)

    def kill_master(self) -> int:
        """SIGKILL the master; its port."""
        port = self.master_port()
        assert port is not None, "no master to kill"
        victim = self.node(port)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        return port

    def promoted(self, old: int, within: float) -> float | None:
        """Seconds until the sentinels name a master other than `old`, or None."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            port = self.master_port()
            if port is not None and port != old:
                return time.monotonic() - started
            time.sleep(0.05)
        return None

    def bring_back(self, port: int) -> None:
        """Start the old master again, empty; the sentinels make it a replica."""
        self.nodes = [n for n in self.nodes if n.port != port]
        self.nodes.append(start_redis(port, *self._here()))

    def rejoined(self, port: int, within: float) -> bool:
        """Whether the node on `port` became a replica of the new master in time."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                with redis.Redis(host=HOST, port=port, socket_timeout=1) as client:
                    if client.info("replication").get("role") == "slave":
                        return True
            except redis.RedisError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        for process in [*self.sentinels, *self.nodes]:
            stop_process(process.process)
