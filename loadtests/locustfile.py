"""Locust load scenarios for `/ws/orders/` and `/sse/orders/` (docs/protocol.md,
docs/benchmarks.md).

Every watcher drives the client library's sans-I/O `Session`
(realtime/client/session.py): heartbeat acks, resume, dedupe and the checks
for a lost, repeated or older update are the code every user of the Python
client runs. This file only moves bytes, over gevent (Locust's own I/O):
websocket-client for a WebSocket, requests' streaming for Server-Sent Events.
Everything a watcher sees becomes a Locust request event, so nothing fails
silently: a refusal is reported as one, with its close code.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000      # web UI
    locust -f loadtests/locustfile.py,loadtests/shapes.py --shape mixed --headless
    locust -f loadtests/locustfile.py --processes 4 ...   # 4 worker processes

Every target is a setting: --host, --tokens-file (what `realtime demo --users
N --tokens-file F` writes) or --usernames/--password, user counts and the
thresholds below (see locust.conf). Each watcher connects as the next
customer of the tokens file, and the writer writes for the customers its
process's watchers watch.
"""

from __future__ import annotations

import contextlib
import itertools
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

from realtime.client.eventstream import EventStreamDecoder
from realtime.client.session import ProtocolError, Session, Step
from realtime.codes import describe

FLOW = ("confirmed", "preparing", "ready", "delivered")
logger = logging.getLogger("loadtests")
# Until a welcome says the heartbeat interval, a silent server is given this long.
FIRST_FRAME_SECONDS = 30.0
SILENCE_FACTOR = 2.0


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    parser.add_argument("--ws-path", default="/ws/orders/", help="WebSocket path on --host")
    parser.add_argument("--sse-path", default="/sse/orders/", help="Server-Sent Events path")
    parser.add_argument("--usernames", default="alice,bob", help="customers the watchers log in as")
    parser.add_argument("--staff-username", default="kitchen", help="who the writers log in as")
    parser.add_argument("--password", default="demo-password", is_secret=True)
    parser.add_argument(
        "--tokens-file",
        default="",
        help="lines of 'username token' instead of logging in; each watcher takes the next user",
    )
    parser.add_argument("--write-interval", type=float, default=0.2, help="seconds between PATCHes")
    parser.add_argument("--slow-read-seconds", type=float, default=0.5, help="SlowReader's pause")
    parser.add_argument("--shape", choices=["steady", "spike", "storm", "mixed"], default="steady")
    parser.add_argument("--shape-users", type=int, default=50, help="peak users of a shape")
    parser.add_argument("--shape-seconds", type=int, default=60, help="length of a shape")
    parser.add_argument("--max-failure-ratio", type=float, default=0.01)
    parser.add_argument("--max-p95-delivery-ms", type=float, default=1000.0)


class Credentials:
    """Tokens per username: from --tokens-file, else one sign-in per username
    and process (password hashing is deliberately slow)."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.loaded = False
        self.lock = gevent.lock.BoundedSemaphore()
        self.turns = itertools.count()
        # Customers this process's watchers connect as: whom the writer writes for.
        self.watched: set[str] = set()

    def load(self, environment: Environment) -> None:
        path = environment.parsed_options.tokens_file
        if self.loaded or not path:
            return
        with open(path) as lines:
            for line in lines:
                if line.strip():
                    name, value = line.split(maxsplit=1)
                    self.tokens[name] = value.strip()
        self.loaded = True

    def customers(self, environment: Environment) -> list[str]:
        """Whom watchers connect as, and writers write for."""
        options = environment.parsed_options
        with self.lock:
            self.load(environment)
        if self.tokens:
            staff = options.staff_username
            named = [name for name in self.tokens if name != staff and name.startswith("customer")]
            return named or [name for name in self.tokens if name != staff]
        return [name for name in options.usernames.split(",") if name]

    def next_customer(self, environment: Environment) -> str:
        """A user per watcher, in turn, so no one user meets its connection cap."""
        names = self.customers(environment)
        name = names[next(self.turns) % len(names)]
        self.watched.add(name)
        return name

    def owners(self, environment: Environment) -> list[str]:
        """Whom to write orders for: the watched customers, once there are some."""
        return sorted(self.watched) or self.customers(environment)

    def token(self, environment: Environment, username: str) -> str:
        with self.lock:
            self.load(environment)
            if username not in self.tokens:
                self.tokens[username] = sign_in(environment, username)
            return self.tokens[username]


def sign_in(environment: Environment, username: str) -> str:
    options = environment.parsed_options
    reply = requests.post(
        f"{environment.host}/api/token/",
        json={"username": username, "password": options.password},
        timeout=10,
    )
    if reply.status_code == 429:
        raise LoginLocked(
            f"{username} is locked out after failed sign-ins (a wrong --password?): wait "
            f"{reply.headers.get('Retry-After', 'the lockout')} s, or run "
            "`python manage.py axes_reset` on the server; --tokens-file avoids passwords"
        )
    reply.raise_for_status()
    token: str = reply.json()["token"]
    return token


class LoginLocked(Exception):
    pass


class Refused(Exception):
    """The server refused a connect: a close code (or an HTTP status) and its reason."""


class LostUpdate(Exception):
    pass


CREDENTIALS = Credentials()
TEST_STARTED = [time.time()]


@events.test_start.add_listener
def remember_start(**_: Any) -> None:
    TEST_STARTED[0] = time.time()


def fire(user: User, kind: str, name: str, ms: float, exc: Exception | None = None) -> None:
    user.environment.events.request.fire(
        request_type=kind,
        name=name,
        response_time=ms,
        response_length=0,
        exception=exc,
        context={},
    )


def since_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class Watcher(User):
    """One connection with a receive greenlet, reconnecting and resuming from
    the session's cursor when it drops. Subclasses move the bytes."""

    abstract = True
    wait_time = constant(1)
    kind = "WS"
    scopes: tuple[str, ...] = ("mine",)
    read_pause = 0.0
    delivery_name = "order.update"

    def on_start(self) -> None:
        self.username = CREDENTIALS.next_customer(self.environment)
        self.session = Session(scopes=self.scopes)
        self.connected = False
        self.receiver: gevent.Greenlet | None = None
        self.storm_at = self._storm_time()
        self.reported = (0, 0, 0, 0)
        self.connect()

    def _storm_time(self) -> float | None:
        """With --shape storm, every connection drops at once halfway through."""
        options = self.environment.parsed_options
        if options.shape != "storm":
            return None
        return TEST_STARTED[0] + options.shape_seconds / 2

    def query(self, path: str, with_since: bool) -> str:
        parts = urllib.parse.urlsplit(self.environment.host)
        query = urllib.parse.urlencode(self.session.query(with_since), safe=",")
        return f"{parts.netloc}{path}" + (f"?{query}" if query else "")

    @task
    def stay_connected(self) -> None:
        if self.storm_at is not None and time.time() >= self.storm_at and self.connected:
            self.storm_at = None
            self.vanish()
        if not self.connected:
            self.connect()

    def connect(self) -> None:
        try:
            token = CREDENTIALS.token(self.environment, self.username)
        except Exception as exc:
            fire(self, self.kind, "login", 0, exc)
            gevent.sleep(random.uniform(0, 2))
            return
        started = time.perf_counter()
        try:
            self.open(token)
        except Refused as refused:
            fire(self, self.kind, "connect", since_ms(started), refused)
            gevent.sleep(random.uniform(1, 3))
            return
        except Exception as exc:
            fire(self, self.kind, "connect", since_ms(started), exc)
            gevent.sleep(random.uniform(0, 2))
            return
        self.session.opened()
        self.connected = True
        self.connect_started = started
        self.receiver = gevent.spawn(self.read)

    def open(self, token: str) -> None:
        raise NotImplementedError

    def read(self) -> None:
        raise NotImplementedError

    def vanish(self) -> None:
        raise NotImplementedError

    def feed(self, text: str, reply: Any = None) -> tuple[int, str] | None:
        """One frame through the session; the close it carries, if any."""
        try:
            step = self.session.receive(text, time.time())
        except ProtocolError as exc:
            fire(self, self.kind, "protocol error", 0, exc)
            return (1006, str(exc))
        if reply is not None:
            for frame in step.send:
                reply(frame)
        self.measure(step)
        return step.close

    def measure(self, step: Step) -> None:
        if step.welcome is not None:
            fire(self, self.kind, "connect", since_ms(self.connect_started))
        for update in step.updates:
            client_ts = update.meta.get("client_ts")
            if isinstance(client_ts, int | float):
                latency = max(0.0, (update.received_at - client_ts) * 1000)
                fire(self, self.kind, self.delivery_name, latency)
        if step.error is not None:
            fire(self, self.kind, "error frame", 0, Refused(str(step.error.get("detail", ""))))
        if step.resync:
            fire(self, self.kind, "resync", 0, LostUpdate("resync_required"))
        stats = self.session.stats
        now = (len(stats.gaps), stats.duplicates, stats.stale, len(stats.violations))
        gaps, duplicates, stale, violations = (
            n - o for n, o in zip(now, self.reported, strict=True)
        )
        if gaps:
            fire(self, self.kind, "lost update", 0, LostUpdate("; ".join(stats.gaps[-gaps:])))
        if duplicates or stale or violations:
            problem = LostUpdate(
                f"{duplicates} duplicates, {stale} older, {violations} out of order"
            )
            fire(self, self.kind, "duplicate or regression", 0, problem)
        self.reported = now

    def closed(self, code: int, reason: str) -> None:
        self.connected = False
        # 1012 (restart) and 4409 (slow consumer) are part of the plan; resume follows.
        expected = code in (1000, 1012, 4409)
        problem = None if expected else Refused(f"closed {code}: {reason or describe(code)}")
        fire(self, self.kind, f"close {code}", 0, problem)

    def silence(self) -> float:
        interval = self.session.heartbeat_interval
        return SILENCE_FACTOR * interval if interval else FIRST_FRAME_SECONDS

    def on_stop(self) -> None:
        self.vanish()

    def stop_reading(self) -> None:
        """End the receive greenlet, which lets go of its connection on the way out."""
        self.connected = False
        receiver, self.receiver = self.receiver, None
        if receiver is not None and receiver is not gevent.getcurrent():
            receiver.kill(block=True, timeout=5)


class SocketWatcher(Watcher):
    abstract = True
    kind = "WS"

    def open(self, token: str) -> None:
        scheme = "wss" if self.environment.host.startswith("https") else "ws"
        url = f"{scheme}://{self.query(self.environment.parsed_options.ws_path, True)}"
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: Bearer {token}"], timeout=30
        )
        # The server accepts, then closes with its reason when it refuses.
        opcode, data = self.next_frame(self.ws)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code, reason = close_of(data)
            self.drop(self.ws)
            raise Refused(f"refused {code}: {reason or describe(code)}")
        self.first = data.decode()

    def read(self) -> None:
        ws = self.ws
        ended: tuple[int, str] | None = self.feed(self.first, lambda f: self.send(ws, f))
        try:
            for _ in range(100_000_000):
                if ended is not None or not self.connected:
                    break
                with gevent.Timeout(self.silence()):
                    opcode, data = self.next_frame(ws)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    ended = close_of(data)
                elif opcode == websocket.ABNF.OPCODE_TEXT:
                    ended = self.feed(data.decode(), lambda f: self.send(ws, f))
                    if self.read_pause:
                        gevent.sleep(self.read_pause)
        except gevent.Timeout:
            ended = (1006, f"server silent for {self.silence():g} s")
        except (websocket.WebSocketException, OSError) as exc:
            ended = (1006, f"connection lost: {type(exc).__name__}")
        finally:
            self.drop(ws)
        if self.connected and ended is not None:
            self.closed(*ended)

    @staticmethod
    def next_frame(ws: websocket.WebSocket) -> tuple[int, bytes]:
        for _ in range(1000):
            opcode, frame = ws.recv_data_frame(control_frame=True)
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_CLOSE):
                return opcode, frame.data
        raise websocket.WebSocketException("only control frames")

    def send(self, ws: websocket.WebSocket, frame: dict[str, Any]) -> None:
        if self.read_pause:
            return
        with contextlib.suppress(websocket.WebSocketException, OSError):
            ws.send(json.dumps(frame))

    def vanish(self) -> None:
        """Drop the TCP connection without a close frame, as a network would."""
        self.stop_reading()
        ws = getattr(self, "ws", None)
        if ws is not None:
            self.drop(ws)

    @staticmethod
    def drop(ws: websocket.WebSocket) -> None:
        sock = ws.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


def close_of(data: bytes) -> tuple[int, str]:
    if len(data) < 2:
        return 1005, ""
    return struct.unpack("!H", data[:2])[0], data[2:].decode(errors="replace")


class StreamWatcher(Watcher):
    """A customer on Server-Sent Events, measured like a WebSocket watcher."""

    abstract = True
    kind = "SSE"

    def open(self, token: str) -> None:
        scheme = "https" if self.environment.host.startswith("https") else "http"
        url = f"{scheme}://{self.query(self.environment.parsed_options.sse_path, False)}"
        headers = {"Authorization": f"Bearer {token}", **self.session.stream_headers()}
        reply = requests.get(url, headers=headers, stream=True, timeout=(10, None))
        if reply.status_code != 200:
            try:
                said = reply.json()
            except ValueError:
                said = None
            reply.close()
            if isinstance(said, dict) and "code" in said:
                raise Refused(f"refused {said['code']}: {said.get('detail')}")
            raise Refused(f"refused with HTTP {reply.status_code}")
        self.reply = reply

    def read(self) -> None:
        reply = self.reply
        decoder = EventStreamDecoder()
        chunks = reply.iter_content(chunk_size=None)
        ended: tuple[int, str] | None = None
        try:
            for _ in range(100_000_000):
                if ended is not None or not self.connected:
                    break
                with gevent.Timeout(self.silence()):
                    chunk = next(chunks, None)
                if chunk is None:
                    ended = (1006, "the stream ended")
                    break
                for event in decoder.feed(chunk):
                    ended = self.feed(event.data) or ended
        except gevent.Timeout:
            ended = (1006, f"server silent for {self.silence():g} s")
        except (requests.RequestException, OSError) as exc:
            ended = (1006, f"connection lost: {type(exc).__name__}")
        finally:
            reply.close()
        if self.connected and ended is not None:
            self.closed(*ended)

    def vanish(self) -> None:
        self.stop_reading()


class OrderWatcher(SocketWatcher):
    """A customer watching their orders over a WebSocket: connect time,
    delivery latency (from the writer's `meta.client_ts`) and lost updates
    across resumes."""

    weight = 10


class OrderStreamWatcher(StreamWatcher):
    """The same over Server-Sent Events: as many as on WebSockets."""

    weight = 10


class SlowReader(SocketWatcher):
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
        username = CREDENTIALS.next_customer(self.environment)
        parts = urllib.parse.urlsplit(self.environment.host)
        scheme = "wss" if parts.scheme == "https" else "ws"
        started = time.perf_counter()
        try:
            token = CREDENTIALS.token(self.environment, username)
            ws = websocket.create_connection(
                f"{scheme}://{parts.netloc}{options.ws_path}",
                header=[f"Authorization: Bearer {token}"],
                timeout=30,
            )
            opcode, data = SocketWatcher.next_frame(ws)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code, reason = close_of(data)
                raise Refused(f"refused {code}: {reason or describe(code)}")
        except Exception as exc:
            fire(self, "WS", "churn connect", since_ms(started), exc)
            return
        fire(self, "WS", "churn connect", since_ms(started))
        SocketWatcher.drop(ws)


class OrderWriter(HttpUser):
    """Creates orders for the watched customers and walks them through the
    state machine, stamping `meta.client_ts` for the delivery latency."""

    fixed_count = 1
    wait_time = constant(0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        token = CREDENTIALS.token(self.environment, options.staff_username)
        self.client.headers["Authorization"] = f"Bearer {token}"

    @task
    def write(self) -> None:
        interval = self.environment.parsed_options.write_interval
        owner = random.choice(CREDENTIALS.owners(self.environment))
        body = {"items": [{"name": "tea", "qty": 1}], "owner": owner}
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
    deliveries = [stats.get("order.update", kind) for kind in ("WS", "SSE")]
    delivered = [d for d in deliveries if d.num_requests]
    p95 = None
    if delivered:
        # The larger of the two transports' p95: each is held to the bound.
        p95 = max(d.get_response_time_percentile(0.95) for d in delivered)
    lost = sum(
        stats.get(name, kind).num_failures
        for name in ("lost update", "duplicate or regression")
        for kind in ("WS", "SSE")
    )
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
