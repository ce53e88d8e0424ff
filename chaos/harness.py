"""One scenario's world (docs/operations.md): a real redis-server, real daphne with
REDIS_URL, a Toxiproxy with two proxies (client ↔ app and app ↔ Redis),
recorded clients of the project's client library, and writers changing
orders throughout; then the checks of docs/guarantees.md. A scenario may ask
instead for Redis behind Sentinel (a master, a replica and three sentinels,
no Redis proxy) and for `realtime serve --workers N`.

The Toxiproxy is the one answering at `TOXIPROXY_URL` (default
http://127.0.0.1:8474), real or not; when nothing answers there, the bundled
`python -m chaos.toxiproxy` is started on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from toxiproxy.api import APIConsumer
from toxiproxy.proxy import Proxy
from toxiproxy.server import Toxiproxy

from realtime.testing import postgres
from realtime.testing.api import acall, visible_events, visible_versions
from realtime.testing.processes import (
    HOST,
    Daphne,
    Redis,
    free_port,
    server_env,
    start_redis,
    wait_until,
)
from realtime.testing.sentinels import Sentinels
from realtime.testing.watchers import Watcher, watch

TOXIPROXY_URL = os.environ.get("TOXIPROXY_URL", "http://127.0.0.1:8474")
SETTINGS = {
    "WEBSOCKET_HEARTBEAT_INTERVAL": "1",
    "WEBSOCKET_HEARTBEAT_TIMEOUT": "3",
    "SHUTDOWN_GRACE": "4",
}
FLOW = ("confirmed", "preparing", "ready", "delivered")
CUSTOMERS = ("alice", "bob")
# Five samples a second for at most an hour; a scenario takes under a minute.
RSS_SAMPLES = 5 * 3600


def describe_toxiproxy() -> str:
    if toxiproxy_answers(TOXIPROXY_URL):
        return f"the Toxiproxy at TOXIPROXY_URL={TOXIPROXY_URL}"
    return f"the bundled chaos.toxiproxy (nothing answered at {TOXIPROXY_URL})"


def toxiproxy_answers(url: str) -> bool:
    """Whether a Toxiproxy API answers at `url`."""
    try:
        with urllib.request.urlopen(f"{url}/version", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class Client:
    user: str
    scopes: tuple[str, ...]
    watcher: Watcher
    transport: str = "websocket"

    @property
    def strict(self) -> bool:
        """Customers resume with ?since=, so G1 holds exactly for them."""
        return self.scopes == ("mine",)


@dataclass
class Check:
    lost: int = 0
    duplicates: int = 0
    regressed: int = 0
    converged_in: float | None = None
    violations: list[str] = field(default_factory=list)


class Harness:
    def __init__(
        self,
        workdir: Path,
        settings: dict[str, str] | None = None,
        seed: int = 1,
        database: str = "sqlite",
        redis: str = "proxied",
        workers: int = 1,
    ) -> None:
        self.workdir = workdir
        self.database = database
        self.redis_mode = redis
        self.workers = workers
        self.sentinels: Sentinels | None = None
        self.postgres_db = ""
        self.postgres_server = ""
        self.database_proxy: Proxy | None = None
        self.settings = {**SETTINGS, **(settings or {})}
        self.rng = random.Random(seed)
        self.tag = uuid.uuid4().hex[:6]
        self.redis: Redis | None = None
        self.toxiproxy_process: subprocess.Popen[bytes] | None = None
        self.toxiproxy = Toxiproxy()
        self.app: Proxy | None = None
        self.redis_proxy: Proxy | None = None
        self.server: Daphne | None = None
        self.tokens: dict[str, str] = {}
        self.clients: list[Client] = []
        self.writes = 0
        self.write_errors = 0
        self.peak_rss = 0
        self.start_rss = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._writers: list[asyncio.Task[None]] = []
        self._writing = asyncio.Event()

    # Start and stop

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._start_toxiproxy)
        app_port = free_port()
        redis_env: dict[str, str] = {}
        if self.redis_mode == "sentinel":
            self.sentinels = Sentinels(self.workdir / "redis")
            await asyncio.to_thread(self.sentinels.start)
            redis_env["REDIS_SENTINELS"] = self.sentinels.addresses
        else:
            self.redis = await asyncio.to_thread(start_redis)
            self.redis_proxy = await self._proxy("redis", self.redis.port)
            redis_host, redis_port = self.redis_proxy.listen.rsplit(":", 1)
            redis_env["REDIS_URL"] = f"redis://{redis_host}:{redis_port}/0"
        self.app = await self._proxy("app", app_port)
        database_url = f"sqlite:///{self.workdir / 'db.sqlite3'}"
        if self.database == "postgres":
            database_url = await self._postgres()
        env = server_env(
            database_url=database_url,
            log_dir=self.workdir / "logs",
            extra={**redis_env, **self.settings},
        )
        self.server = Daphne(app_port, env, self.workdir / "logs", workers=self.workers)
        await asyncio.to_thread(self.server.start)
        if self.workers > 1:
            every = [f"(worker {n})" for n in range(1, self.workers + 1)]
            await asyncio.to_thread(
                wait_until,
                lambda: all(w in self.daphne.log_text() for w in every),
                30,
                "every worker",
            )
        for user in (*CUSTOMERS, "staff"):
            args = ("token", user, "--create") + (("--staff",) if user == "staff" else ())
            self.tokens[user] = await asyncio.to_thread(self.server.manage, *args)
        self._tasks.append(asyncio.create_task(self._sample_rss()))
        assert self.server.process is not None
        self.start_rss = psutil.Process(self.server.process.pid).memory_info().rss

    async def _postgres(self) -> str:
        """A database of its own on the tests' PostgreSQL server
        (realtime.testing.postgres), behind a proxy."""
        self.postgres_server = await asyncio.to_thread(postgres.server_url)
        server = urllib.parse.urlsplit(self.postgres_server)
        self.postgres_db = f"chaos_{self.tag}"
        create = f'CREATE DATABASE "{self.postgres_db}"'
        await asyncio.to_thread(postgres.admin, create, self.postgres_server)
        self.database_proxy = await self._proxy("postgres", server.port or 5432)
        return urllib.parse.urlunsplit(
            server._replace(
                netloc=f"{server.username or 'postgres'}@{self.database_proxy.listen}"
            )._replace(path=f"/{self.postgres_db}")
        )

    def _start_toxiproxy(self) -> None:
        url = TOXIPROXY_URL
        if not toxiproxy_answers(url):
            port = free_port()
            self.toxiproxy_process = subprocess.Popen(
                [sys.executable, "-m", "chaos.toxiproxy", "-host", HOST, "-port", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=(self.workdir / "toxiproxy.log").open("ab"),
            )
            url = f"http://{HOST}:{port}"
            wait_until(lambda: toxiproxy_answers(url), 20, "chaos.toxiproxy")
        parts = urllib.parse.urlsplit(url)
        APIConsumer.host = parts.hostname or HOST
        APIConsumer.port = parts.port or 8474

    async def _proxy(self, name: str, upstream_port: int) -> Proxy:
        def create() -> Proxy:
            proxy: Proxy = self.toxiproxy.create(
                upstream=f"{HOST}:{upstream_port}", name=f"{name}-{self.tag}", listen=f"{HOST}:0"
            )
            return proxy

        return await asyncio.to_thread(create)

    async def stop(self) -> None:
        self._writing.clear()
        for task in (*self._tasks, *self._writers):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._writers, return_exceptions=True)
        await asyncio.gather(*(c.watcher.stop() for c in self.clients), return_exceptions=True)
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
        for proxy in (self.app, self.redis_proxy, self.database_proxy):
            if proxy is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(proxy.destroy)
        if self.postgres_db:
            drop = f'DROP DATABASE IF EXISTS "{self.postgres_db}" WITH (FORCE)'
            with contextlib.suppress(Exception):
                await asyncio.to_thread(postgres.admin, drop, self.postgres_server)
        if self.redis is not None:
            self.redis.stop()
        if self.sentinels is not None:
            await asyncio.to_thread(self.sentinels.stop)
        if self.toxiproxy_process is not None:
            self.toxiproxy_process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.toxiproxy_process.wait(10)

    # Where things are

    @property
    def daphne(self) -> Daphne:
        assert self.server is not None
        return self.server

    @property
    def client_url(self) -> str:
        """The server as clients reach it: through the app proxy."""
        assert self.app is not None
        return f"http://{self.app.listen}"

    def clients_on(self, transport: str) -> list[Client]:
        return [c for c in self.clients if c.transport == transport]

    # Toxics

    async def toxic(self, proxy: Proxy | None, **toxic: Any) -> None:
        assert proxy is not None
        await asyncio.to_thread(lambda: proxy.add_toxic(**toxic))

    async def untoxic(self, proxy: Proxy | None, name: str) -> None:
        assert proxy is not None
        await asyncio.to_thread(proxy.destroy_toxic, name)

    async def set_enabled(self, proxy: Proxy | None, enabled: bool) -> None:
        assert proxy is not None
        await asyncio.to_thread(proxy.enable if enabled else proxy.disable)

    # Clients and writers

    async def add_clients(
        self,
        users: tuple[str, ...],
        scopes: tuple[str, ...] = ("mine",),
        transport: str = "websocket",
        **options: Any,
    ) -> list[Client]:
        options.setdefault("open_timeout", 2.0)
        added = []
        for user in users:
            rng = random.Random(self.rng.random())
            watcher = watch(
                self.client_url,
                self.tokens[user],
                since=0,
                scopes=scopes,
                rng=rng,
                transport=transport,
                **options,
            )
            added.append(Client(user, scopes, watcher, transport))
        self.clients.extend(added)
        for client in added:
            await client.watcher.wait_connected(timeout=30)
        return added

    def start_writing(self, rate: float = 20.0) -> None:
        """Orders created and advanced through the API, straight to daphne, at `rate` per second."""
        self._writing.set()
        self._writers.append(asyncio.create_task(self._write(rate)))

    async def stop_writing(self) -> None:
        """Let each writer finish the order in hand, so the database stops changing."""
        self._writing.clear()
        await asyncio.gather(*self._writers, return_exceptions=True)
        self._writers.clear()

    async def burst(self, orders: int) -> None:
        """As fast as the API allows: each order created and walked to delivered."""
        await asyncio.gather(*(self._one_order() for _ in range(orders)))

    async def _write(self, rate: float) -> None:
        for _ in range(1_000_000):
            if not self._writing.is_set():
                return
            if not await self._one_order(pause=1 / rate):
                # The server is down or refusing: keep the pace instead of spinning.
                await asyncio.sleep(1 / rate)

    async def _one_order(self, pause: float = 0.0) -> bool:
        """Create one order and walk it to delivered; False at the first refusal."""
        base, staff = self.daphne.http, self.tokens["staff"]
        body = {"items": [{"name": "tea", "qty": 1}], "owner": self.rng.choice(CUSTOMERS)}
        status, order = await self._call("POST", f"{base}/api/orders/", staff, body)
        if status != 201:
            return False
        for step in FLOW:
            await asyncio.sleep(pause)
            meta = {"client_ts": time.time()}
            url = f"{base}/api/orders/{order['id']}/"
            status, _ = await self._call("PATCH", url, staff, {"status": step, "meta": meta})
            if status != 200:
                return False
        return True

    async def _call(self, method: str, url: str, token: str, body: object) -> tuple[int, Any]:
        try:
            status, reply = await acall(method, url, token, body)
        except OSError:
            status, reply = 0, None
        if status in (200, 201):
            self.writes += 1
        else:
            self.write_errors += 1
        return status, reply

    async def _sample_rss(self) -> None:
        for _ in range(RSS_SAMPLES):
            process = self.server.process if self.server is not None else None
            if process is not None and process.poll() is None:
                with contextlib.suppress(psutil.Error):
                    self.peak_rss = max(
                        self.peak_rss, psutil.Process(process.pid).memory_info().rss
                    )
            await asyncio.sleep(0.2)

    # Checks (docs/guarantees.md)

    async def truth(self) -> dict[str, dict[int, int]]:
        """What each watching user may see, from the database."""
        users = {c.user for c in self.clients}
        return {
            user: await asyncio.to_thread(visible_versions, self.daphne.http, self.tokens[user])
            for user in users
        }

    async def converged(self, within: float) -> float | None:
        """Seconds until every client holds the database's latest versions, or None."""
        truth = await self.truth()
        started = time.monotonic()
        while time.monotonic() - started < within:
            if all(c.watcher.holds(truth[c.user]) for c in self.clients):
                return round(time.monotonic() - started, 3)
            await asyncio.sleep(0.05)
        return None

    async def check(self, settle: float) -> dict[str, Check]:
        """Stop writing, then, for each transport's clients: every client
        converges to the database within `settle` s (G2); customers got every
        event once in seq order (G1); no connection repeated or regressed (G3);
        no ERROR line was logged."""
        await self.stop_writing()
        converged_in = await self.converged(within=settle)
        truth = await self.truth()
        events = {
            user: await asyncio.to_thread(visible_events, self.daphne.http, self.tokens[user])
            for user in {c.user for c in self.clients if c.strict}
        }
        errors = await asyncio.to_thread(self.daphne.error_lines)
        checks: dict[str, Check] = {}
        for transport in sorted({c.transport for c in self.clients}) or ["websocket"]:
            result = checks[transport] = Check(converged_in=converged_in)
            for client in self.clients_on(transport):
                self._check_client(client, truth, events, result)
            if result.converged_in is None:
                result.violations.append(f"clients did not converge within {settle} s")
            if result.lost:
                result.violations.append(f"{result.lost} updates lost")
            if result.duplicates:
                result.violations.append(f"{result.duplicates} duplicates")
            if result.regressed:
                result.violations.append(f"{result.regressed} regressions or out-of-order seqs")
            if errors:
                result.violations.append(f"{len(errors)} ERROR lines, first: {errors[0][:200]}")
        return checks

    @staticmethod
    def _check_client(
        client: Client,
        truth: dict[str, dict[int, int]],
        events: dict[str, list[tuple[int, int, int]]],
        result: Check,
    ) -> None:
        stats = client.watcher.client.stats
        behind = [o for o, v in truth[client.user].items() if client.watcher.versions().get(o) != v]
        received = client.watcher.received()
        if client.strict:
            result.lost += len(set(events[client.user]) - set(received))
            result.duplicates += len(received) - len(set(received)) + stats.duplicates
            if [r[0] for r in received] != sorted({r[0] for r in received}):
                result.regressed += 1
                result.violations.append(f"{client.user}: updates out of seq order")
            if stats.stale:
                result.regressed += stats.stale
                result.violations.append(f"{client.user}: {stats.stale} older versions sent")
        else:
            # A subscribe-then-resume client resumes from a cursor held back
            # until `resumed`, so a new connection may resend what an older
            # one delivered; the store drops those, and G3 is per connection.
            result.lost += len(behind)
        result.regressed += len(stats.violations)
        result.violations.extend(f"{client.user}: {v}" for v in stats.violations[:3])
        if client.watcher.stopped is not None:
            result.violations.append(f"{client.user} stopped: {client.watcher.stopped}")
