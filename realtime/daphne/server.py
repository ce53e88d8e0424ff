"""Running daphne with the project's settings (docs/operations.md): explicit
ping interval and timeout, the frame-size limit enforced by the WebSocket
protocol itself, no access log of query strings, the hub started before the
server listens, and a drain on SIGTERM: stop accepting, close every socket
with 1012, stop the hub, exit within SHUTDOWN_GRACE.

What daphne keeps per connection is trimmed too: a light receive queue, and
no scan of every connection every second.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import signal
import sys
import threading
import time
from functools import partial
from typing import Any

import daphne.server

from realtime import conf
from realtime.daphne import internals
from realtime.daphne.heads import HeadLimits, LimitedHTTPFactory
from realtime.daphne.pacing import HandshakePacer
from realtime.daphne.protocol import OrdersWebSocketProtocol, share_options
from realtime.daphne.streams import StreamWriter
from realtime.sse.wire import STREAM_WRITER
from realtime.supervisor import LISTEN_BACKLOG
from realtime.ws.wire import FRAME_SENDER, PENDING_HOLD

logger = logging.getLogger("realtime.server")

DRAIN_POLL = 0.05
SUPERVISOR_POLL = 1.0
HUB_START_TIMEOUT = 5.0
# New connections' first reads per turn of the loop (realtime/daphne/pacing.py).
HANDSHAKES_PER_TURN = 64
# Allocations between two collections of the youngest objects (Python's
# default is 700): at 700, a 5,000-client storm spent a sixth of its CPU in
# the garbage collector.
GC_YOUNG_THRESHOLD = 10_000
SWITCH_INTERVAL = 0.001
ASGI = {"version": "3.0"}
DENIAL_RESPONSE = "websocket.http.response"
NO_OPTIONS: dict[str, Any] = {}


def endpoint(host: str, port: int, fd: int | None = None) -> str:
    if fd is not None:
        # A worker of `--workers N`: its supervisor listens (IPv4), with the same backlog.
        return f"fd:fileno={fd}"
    interface = host.strip("[]").replace(":", "\\:")
    return f"tcp:port={port}:interface={interface}:backlog={LISTEN_BACKLOG}"


class Inbox:
    """An application's receive queue, for one reader at a time (as ASGI
    applications read). daphne gives each connection an asyncio.Queue, whose
    four deques take about 3 KB; this takes about 100 bytes. Its depth is
    bounded by the inbound pause (INBOUND_HIGH), so a list does."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("an Inbox has one reader at a time")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class OrdersServer(daphne.server.Server):  # type: ignore[misc]
    """daphne's server with an Inbox per application, the synchronous frame
    sender offered in each WebSocket scope's extensions (and a writer for a
    streamed response in each HTTP scope's), its listening ports
    kept for the drain, and its once-a-second application check run over the
    connections that changed since the last one (an application finished, a
    peer left) instead of over all of them: that scan was 42 % of an idle
    server's CPU at 5,000 connections."""

    def __init__(self, *args: Any, head_limits: HeadLimits, **kwargs: Any) -> None:
        self.head_limits = head_limits
        self.pacer = HandshakePacer(head_limits.reactor, HANDSHAKES_PER_TURN)
        self._http_factory: LimitedHTTPFactory | None = None
        super().__init__(*args, **kwargs)
        self.changed: set[Any] = set()
        self.ports: list[Any] = []
        self.listen_failure = ""

    @property
    def http_factory(self) -> LimitedHTTPFactory | None:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: Any) -> None:
        # daphne builds a plain HTTPFactory in run(), just before it listens.
        if not isinstance(factory, LimitedHTTPFactory):
            factory = LimitedHTTPFactory(self, self.head_limits, self.pacer)
        self._http_factory = factory

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Inbox | None:
        table = internals.connections(self)
        assert "application_instance" not in table[protocol]
        inbox = Inbox()
        # One dict for every scope (daphne builds one per connection).
        scope.setdefault("asgi", ASGI)
        sender = getattr(protocol, "send_frame_now", None)
        if scope.get("type") == "websocket" and sender is not None:
            extensions = scope.setdefault("extensions", {})
            extensions[FRAME_SENDER] = sender
            extensions[DENIAL_RESPONSE] = NO_OPTIONS
            peer = protocol.transport.getPeer()
            extensions[PENDING_HOLD] = partial(self.head_limits.held, str(peer.host))
        elif scope.get("type") == "http":
            # Made only by an application that streams its response.
            writer = partial(StreamWriter, self.head_limits.reactor, protocol)
            scope.setdefault("extensions", {})[STREAM_WRITER] = writer
        application = self.application(
            scope=scope, receive=inbox.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in table:
            application.close()
            return None
        instance = asyncio.ensure_future(application)
        instance.add_done_callback(lambda _: self.changed.add(protocol))
        table[protocol]["application_instance"] = instance
        return inbox

    def protocol_disconnected(self, protocol: Any) -> None:
        super().protocol_disconnected(protocol)
        self.changed.add(protocol)

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def listen_error(self, failure: Any) -> None:
        # daphne logs it at CRITICAL and stops, and the process exits 0.
        self.listen_failure = str(failure.getErrorMessage())
        self.stop()

    def stop_listening(self) -> None:
        for port in self.ports:
            port.stopListening()

    def application_checker(self) -> None:
        everyone = internals.connections(self)
        changed, self.changed = self.changed, set()
        internals.set_connections(self, {p: everyone[p] for p in changed if p in everyone})
        try:
            super().application_checker()
        finally:
            checked = internals.connections(self)
            internals.set_connections(self, everyone)
            for protocol in changed:
                if protocol not in checked:
                    everyone.pop(protocol, None)
                elif "disconnected" in checked[protocol]:
                    # Gone, but its application still runs: look again until
                    # it ends or application_close_timeout cancels it.
                    self.changed.add(protocol)


def start_hub() -> None:
    """Start the hub on daphne's loop before the server listens. A database
    that is away now is not fatal: the first connection starts the hub."""
    from realtime.delivery.hub import get_hub

    async def start() -> int:
        hub = get_hub()
        await asyncio.wait_for(hub.start(), HUB_START_TIMEOUT)
        return hub.cursor

    try:
        cursor = internals.event_loop().run_until_complete(start())
    except Exception as exc:
        logger.warning(
            "the hub did not start (%s: %s): the first connection starts it",
            type(exc).__name__,
            exc,
        )
    else:
        logger.info("hub started at seq %d", cursor)


class ListenError(Exception):
    """The server could not listen on its address."""


def serve(host: str, port: int, fd: int | None = None) -> None:
    from channels.routing import get_default_application
    from twisted.internet import reactor

    server = OrdersServer(
        head_limits=HeadLimits(
            reactor,
            conf.settings.HTTP_HEADER_TIMEOUT,
            conf.settings.HTTP_MAX_PENDING_PER_ADDRESS,
            conf.settings.HTTP_IDLE_TIMEOUT,
        ),
        application=get_default_application(),
        endpoints=[endpoint(host, port, fd)],
        signal_handlers=False,
        action_logger=None,
        ping_interval=conf.settings.WEBSOCKET_HEARTBEAT_INTERVAL,
        # The protocol's pings are the backstop for a peer gone half-open; the
        # application's 4408, which says why, comes first.
        ping_timeout=conf.settings.WEBSOCKET_HEARTBEAT_TIMEOUT
        + conf.settings.WEBSOCKET_HEARTBEAT_INTERVAL,
        websocket_max_message_size=conf.settings.WEBSOCKET_MAX_MESSAGE_BYTES,
        websocket_max_frame_size=conf.settings.WEBSOCKET_MAX_MESSAGE_BYTES,
        # A storm of thousands of connects queues behind the token and user checks.
        websocket_handshake_timeout=15,
        application_close_timeout=max(1.0, conf.settings.SHUTDOWN_GRACE / 2),
        ready_callable=lambda: logger.info(
            "serving on http://%s:%s/ (worker %d)", host, port, conf.settings.WORKER
        ),
    )
    raise_file_limit()
    # A thread that waits for the interpreter lock (a request's database
    # call, the replay reader) gets it within 1 ms instead of 5 ms; each
    # PATCH takes it back a dozen times.
    sys.setswitchinterval(SWITCH_INTERVAL)
    start_hub()
    tune_garbage_collector()
    internals.debug_text_only_for_debug()
    reactor.callWhenRunning(keep_readiness_current)
    drain = Drain(reactor, server, conf.settings.SHUTDOWN_GRACE)
    reactor.callWhenRunning(drain.install)
    if fd is not None:
        reactor.callWhenRunning(watch_supervisor, reactor, drain, os.getppid())
    reactor.callWhenRunning(configure_protocols, server)
    server.run()
    if server.listen_failure:
        raise ListenError(f"cannot listen on {host}:{port}: {server.listen_failure}")


def tune_garbage_collector() -> None:
    """What the server loaded before it listens (Django, the apps, the URL
    conf: about 100,000 objects) lives as long as the process, so it is
    frozen out of every later collection; and the youngest objects are
    collected every GC_YOUNG_THRESHOLD allocations, not every 700, which
    with thousands of connections alive made collections run all the time
    (docs/architecture.md, "Connect storms")."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def keep_readiness_current() -> None:
    from realtime.delivery.hub import get_hub
    from realtime.observability import health

    get_hub().spawn(health.refresh_forever())


def watch_supervisor(reactor: Any, drain: Drain, supervisor: int) -> None:
    """A worker whose supervisor died (SIGKILL leaves no time to drain the
    workers) drains itself rather than serve on unsupervised."""
    if os.getppid() == supervisor:
        reactor.callLater(SUPERVISOR_POLL, watch_supervisor, reactor, drain, supervisor)
        return
    logger.warning("the supervisor (pid %d) is gone: draining", supervisor)
    drain.begin(signal.SIGTERM)


def raise_file_limit() -> None:
    """Every connection is a file: the usual soft limit of 1024 locked the
    server out at about 1,010 sockets while the hard limit allowed far more."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            logger.warning("could not raise the open-file limit from %d: %s", soft, exc)
        else:
            soft = target
    logger.info("open-file limit %d", soft)


def configure_protocols(server: Any) -> None:
    """Runs once daphne has built its factories, before any connection."""
    server.ws_factory.protocol = OrdersWebSocketProtocol
    # A connection that stops mid-request (a half-sent handshake) is dropped
    # after this much silence instead of holding a socket.
    internals.set_http_idle_timeout(server, conf.settings.HTTP_IDLE_TIMEOUT)
    # autobahn fails a protocol error (such as an oversized frame) by dropping
    # TCP; a close frame lets the client see 1009.
    server.ws_factory.setProtocolOptions(failByDrop=False)
    share_options(OrdersWebSocketProtocol, server.ws_factory)


class Drain:
    """First SIGTERM or SIGINT: stop accepting (the listener closes,
    `/health/ready` answers 503 "draining"), close every WebSocket with 1012,
    wait for them to go (at most the grace), stop the hub, then the reactor.
    A second signal stops at once."""

    def __init__(self, reactor: Any, server: OrdersServer, grace: float) -> None:
        self.reactor = reactor
        self.server = server
        self.grace = grace
        self.deadline: float | None = None

    def install(self) -> None:
        loop = asyncio.get_event_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.begin, signum)

    def begin(self, signum: int) -> None:
        from realtime.codes import CloseCode
        from realtime.delivery.hub import get_hub

        if self.deadline is not None:
            self.stop()
            return
        logger.info("draining on %s: closing connections with 1012", signal.Signals(signum).name)
        self.deadline = time.monotonic() + max(0.0, self.grace - 1.0)
        # The contract is an exit within the grace, whatever daphne's shutdown
        # waits on (an application that ignores cancellation, a thread blocked
        # in the database).
        timer = threading.Timer(self.grace, self.force_exit)
        timer.daemon = True
        timer.start()
        hub = get_hub()
        hub.draining = True
        self.server.stop_listening()
        hub.close_all(CloseCode.SERVICE_RESTART, "server restarting")
        self.reactor.callLater(DRAIN_POLL, self.wait)

    def wait(self) -> None:
        from realtime.delivery.hub import get_hub

        assert self.deadline is not None
        hub = get_hub()
        if hub.subscribers and time.monotonic() < self.deadline:
            self.reactor.callLater(DRAIN_POLL, self.wait)
            return
        stopped = asyncio.ensure_future(hub.stop())
        # One more beat lets the close frames leave before the reactor drops sockets.
        stopped.add_done_callback(lambda _: self.reactor.callLater(0.2, self.stop))

    def stop(self) -> None:
        if self.reactor.running:
            self.reactor.stop()

    def force_exit(self) -> None:
        busy = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
        logger.warning(
            "still running %.0f s after SIGTERM; exiting now (threads: %s)",
            self.grace,
            ", ".join(busy) or "-",
        )
        logging.shutdown()
        os._exit(1)
