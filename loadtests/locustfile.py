"""Locust load scenarios for `/ws/orders/` (docs/protocol.md, docs/benchmarks.md).

WebSocket users run on websocket-client, because Locust runs on gevent and an
asyncio client inside a task would block the whole worker. Every user keeps
one receive greenlet that answers heartbeats, acks, checks each order's
versions for gaps (a lost update) and reports everything it sees as Locust
request events, so nothing fails silently.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000      # web UI
    locust -f loadtests/locustfile.py,loadtests/shapes.py --shape spike --headless
    locust -f loadtests/locustfile.py --processes 4 ...   # 4 worker processes

Every target is a setting: --host, --usernames/--password or --tokens-file,
--staff-username, user counts and the thresholds below (see locust.conf).
"""

from __future__ import annotations

import json
import logging
import random
import socket
import struct
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.lock
import requests
import websocket
from locust import HttpUser, User, between, constant, events, task
from locust.env import Environment

FLOW = ("confirmed", "preparing", "ready", "delivered")
logger = logging.getLogger("loadtests")


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    parser.add_argument("--ws-path", default="/ws/orders/", help="WebSocket path on --host")
    parser.add_argument("--usernames", default="alice,bob", help="customers the watchers log in as")
    parser.add_argument("--staff-username", default="kitchen", help="who the writers log in as")
    parser.add_argument("--password", default="demo-password", is_secret=True)
    parser.add_argument(
        "--tokens-file", default="", help="lines of 'username token' instead of logging in"
    )
    parser.add_argument("--write-interval", type=float, default=0.2, help="seconds between PATCHes")
    parser.add_argument("--slow-read-seconds", type=float, default=0.5, help="SlowReader's pause")
    parser.add_argument("--shape", choices=["steady", "spike", "storm"], default="steady")
    parser.add_argument("--shape-users", type=int, default=50, help="peak users of a shape")
    parser.add_argument("--shape-seconds", type=int, default=60, help="length of a shape")
    parser.add_argument("--max-failure-ratio", type=float, default=0.01)
    parser.add_argument("--max-p95-delivery-ms", type=float, default=1000.0)


_tokens: dict[str, str] = {}
# One login per username per process: password hashing is deliberately slow.
_login = gevent.lock.BoundedSemaphore()
TEST_STARTED = [time.time()]


@events.test_start.add_listener
def remember_start(**_: Any) -> None:
    TEST_STARTED[0] = time.time()


def token_for(environment: Environment, username: str) -> str:
    """A token per username: from --tokens-file, else POST /api/token/."""
    with _login:
        return _token_for(environment, username)


def _token_for(environment: Environment, username: str) -> str:
    options = environment.parsed_options
    if not _tokens and options.tokens_file:
        with open(options.tokens_file) as lines:
            for line in lines:
                if line.strip():
                    name, value = line.split(maxsplit=1)
                    _tokens[name] = value.strip()
    if username not in _tokens:
        reply = requests.post(
            f"{environment.host}/api/token/",
            json={"username": username, "password": options.password},
            timeout=10,
        )
        reply.raise_for_status()
        _tokens[username] = reply.json()["token"]
    return _tokens[username]


def fire(user: User, name: str, started: float, exc: Exception | None = None) -> None:
    fire_ms(user, name, (time.perf_counter() - started) * 1000, exc)


def fire_ms(user: User, name: str, ms: float, exc: Exception | None = None) -> None:
    user.environment.events.request.fire(
        request_type="WS", name=name, response_time=ms, response_length=0, exception=exc, context={}
    )


class LostUpdate(Exception):
    pass


class OrdersSocket(User):
    """One connection to /ws/orders/ with its receive greenlet; reconnects and
    resumes from the last seq when it drops."""

    abstract = True
    wait_time = constant(1)
    scopes: tuple[str, ...] = ()
    ack_every = 50
    read_pause = 0.0
    delivery_name = "order.update"

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.username = random.choice(options.usernames.split(","))
        self.cursor: int | None = None
        self.versions: dict[int, int] = {}
        self.unacked = 0
        self.ws: websocket.WebSocket | None = None
        self.receiver: gevent.Greenlet | None = None
        self.storm_at = self._storm_time()
        self.connect()

    def _storm_time(self) -> float | None:
        """With --shape storm, every socket drops at once halfway through."""
        options = self.environment.parsed_options
        if options.shape != "storm":
            return None
        return TEST_STARTED[0] + options.shape_seconds / 2

    def url(self) -> str:
        parts = urllib.parse.urlsplit(self.environment.host)
        scheme = "wss" if parts.scheme == "https" else "ws"
        # Every scope and the cursor in the URL: the server replays them all
        # strictly before going live (docs/protocol.md).
        params = {"scopes": ",".join(self.scopes)} if self.scopes else {}
        if self.cursor is not None:
            params["since"] = str(self.cursor)
        query = f"?{urllib.parse.urlencode(params, safe=',')}" if params else ""
        return f"{scheme}://{parts.netloc}{self.environment.parsed_options.ws_path}{query}"

    def connect(self) -> None:
        try:
            token = token_for(self.environment, self.username)
        except Exception as exc:
            fire_ms(self, "login", 0, exc)
            gevent.sleep(random.uniform(0, 2))
            return
        started = time.perf_counter()
        try:
            ws = websocket.create_connection(
                self.url(), header=[f"Authorization: Bearer {token}"], timeout=30
            )
            welcome = json.loads(ws.recv())
            if welcome.get("type") != "welcome":
                raise ConnectionError(f"expected welcome, got {welcome.get('type')}")
        except Exception as exc:
            fire(self, "connect", started, exc)
            gevent.sleep(random.uniform(0, 2))
            return
        fire(self, "connect", started)
        if self.cursor is None:
            self.cursor = int(welcome["cursor"])
        self.ack_every = max(1, int(welcome.get("max_lag", 200)) // 4)
        self.ws = ws
        self.receiver = gevent.spawn(self.receive, ws)

    def receive(self, ws: websocket.WebSocket) -> None:
        try:
            for _ in range(100_000_000):
                opcode, frame = ws.recv_data_frame(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else 1005
                    self.closed(code)
                    return
                if self.ws is not ws:
                    return
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    self.on_frame(ws, json.loads(frame.data))
                    if self.read_pause:
                        gevent.sleep(self.read_pause)
        except (websocket.WebSocketException, OSError) as exc:
            if self.ws is ws:
                fire_ms(self, "connection lost", 0, exc)
        except Exception as exc:
            fire_ms(self, "receive", 0, exc)
        finally:
            if self.ws is ws:
                self.ws = None
            ws.shutdown()

    def closed(self, code: int) -> None:
        # 1012 (restart) and 4409 (slow consumer) are part of the plan; resume follows.
        expected = code in (1000, 1012, 4409)
        fire_ms(self, f"close {code}", 0, None if expected else ConnectionError(f"closed {code}"))

    def on_frame(self, ws: websocket.WebSocket, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "heartbeat":
            ws.send(json.dumps({"type": "heartbeat_ack", "ts": frame["ts"], "cursor": self.cursor}))
        elif kind == "order.update":
            self.on_update(ws, frame)
        elif kind == "error":
            fire_ms(self, "error frame", 0, ConnectionError(frame.get("detail", "")))
        elif kind == "resync_required":
            fire_ms(self, "resync", 0, LostUpdate(frame.get("reason", "")))

    def on_update(self, ws: websocket.WebSocket, frame: dict[str, Any]) -> None:
        order, seq = frame["order"], int(frame["seq"])
        before = self.versions.get(order["id"])
        version = int(order["version"])
        if before is not None and version != before + 1:
            gap = LostUpdate(f"order {order['id']} v{before} then v{version}")
            name = "lost update" if version > before + 1 else "duplicate or regression"
            fire_ms(self, name, 0, gap)
        self.versions[order["id"]] = max(version, before or 0)
        self.cursor = max(self.cursor or 0, seq)
        client_ts = (frame.get("meta") or {}).get("client_ts")
        if isinstance(client_ts, int | float):
            fire_ms(self, self.delivery_name, max(0.0, (time.time() - client_ts) * 1000))
        self.unacked += 1
        if self.unacked >= self.ack_every and not self.read_pause:
            self.unacked = 0
            ws.send(json.dumps({"type": "heartbeat_ack", "cursor": self.cursor}))

    @task
    def stay_connected(self) -> None:
        if self.storm_at is not None and time.time() >= self.storm_at and self.ws is not None:
            self.storm_at = None
            self.vanish()
        if self.ws is None:
            self.connect()

    def vanish(self) -> None:
        """Drop the TCP connection without a close frame, as a network would."""
        ws, self.ws = self.ws, None
        if self.receiver is not None:
            self.receiver.kill()
        if ws is not None and ws.sock is not None:
            ws.sock.shutdown(socket.SHUT_RDWR)

    def on_stop(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            ws.close()


class OrderWatcher(OrdersSocket):
    """A customer watching their orders: connect time, delivery latency (from
    the writer's `meta.client_ts`) and lost updates across resumes."""

    weight = 10


class SlowReader(OrdersSocket):
    """Reads one frame per --slow-read-seconds and never acks, to exercise 4409."""

    weight = 1
    # Its latency grows by design; kept apart from the watchers' delivery latency.
    delivery_name = "order.update (slow reader)"

    def on_start(self) -> None:
        self.read_pause = self.environment.parsed_options.slow_read_seconds
        super().on_start()


class ChurnUser(User):
    """Connects, reads its welcome and vanishes without a close frame."""

    weight = 1
    wait_time = between(1, 3)

    @task
    def churn(self) -> None:
        options = self.environment.parsed_options
        username = random.choice(options.usernames.split(","))
        parts = urllib.parse.urlsplit(self.environment.host)
        scheme = "wss" if parts.scheme == "https" else "ws"
        token = token_for(self.environment, username)
        started = time.perf_counter()
        try:
            ws = websocket.create_connection(
                f"{scheme}://{parts.netloc}{options.ws_path}",
                header=[f"Authorization: Bearer {token}"],
                timeout=30,
            )
            ws.recv()
        except Exception as exc:
            fire(self, "churn connect", started, exc)
            return
        fire(self, "churn connect", started)
        if ws.sock is not None:
            ws.sock.shutdown(socket.SHUT_RDWR)
            ws.sock.close()


class OrderWriter(HttpUser):
    """Creates orders for the watched customers and walks them through the
    state machine, stamping `meta.client_ts` for the delivery latency."""

    fixed_count = 1
    wait_time = constant(0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        token = token_for(self.environment, options.staff_username)
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.owners = options.usernames.split(",")

    @task
    def write(self) -> None:
        interval = self.environment.parsed_options.write_interval
        body = {"items": [{"name": "tea", "qty": 1}], "owner": random.choice(self.owners)}
        reply = self.client.post("/api/orders/", json=body, name="POST /api/orders/")
        if reply.status_code != 201:
            return
        order_id = reply.json()["id"]
        for status in FLOW:
            gevent.sleep(interval)
            meta = {"client_ts": time.time()}
            self.client.patch(
                f"/api/orders/{order_id}/",
                json={"status": status, "meta": meta},
                name="PATCH /api/orders/{id}/",
            )


@dataclass(frozen=True)
class Threshold:
    name: str
    measured: float | None
    limit: float
    unit: str = ""

    @property
    def met(self) -> bool:
        return self.measured is not None and self.measured <= self.limit

    def line(self) -> str:
        value = "none measured" if self.measured is None else f"{self.measured:g}{self.unit}"
        verdict = "met" if self.met else "NOT MET"
        return f"  {self.name}: {value} (limit {self.limit:g}{self.unit}) {verdict}"


def thresholds(environment: Environment) -> list[Threshold]:
    options = environment.parsed_options
    stats = environment.stats
    delivery = stats.get("order.update", "WS")
    p95 = delivery.get_response_time_percentile(0.95) if delivery.num_requests else None
    lost = sum(stats.get(n, "WS").num_failures for n in ("lost update", "duplicate or regression"))
    return [
        Threshold("failure ratio", round(stats.total.fail_ratio, 4), options.max_failure_ratio),
        Threshold("p95 delivery", p95, options.max_p95_delivery_ms, " ms"),
        Threshold("lost or regressed updates", lost, 0),
    ]


@events.quitting.add_listener
def check_thresholds(environment: Environment, **_: Any) -> None:
    """Failure ratio, p95 delivery latency and lost updates decide the exit code;
    each is printed beside its limit."""
    checked = thresholds(environment)
    for threshold in checked:
        if not threshold.met:
            logger.error("threshold not met:%s", threshold.line())
    if not all(t.met for t in checked):
        environment.process_exit_code = 1
    print("thresholds:")
    for threshold in checked:
        print(threshold.line())
