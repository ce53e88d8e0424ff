"""Running daphne with the project's settings (DESIGN §4, §7): explicit ping
interval and timeout, the frame-size limit enforced by the WebSocket
protocol itself, no access log of query strings, and a graceful drain on
SIGTERM that closes every socket with 1012 within SHUTDOWN_GRACE.

What daphne keeps per connection is trimmed too (DESIGN §8): a light receive
queue, no scan of every connection every second, and nothing of the HTTP
upgrade once the WebSocket is open.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from functools import partial
from typing import Any

import daphne.server  # installs Twisted's asyncio reactor before anything else
from django.conf import settings

logger = logging.getLogger("realtime.server")

DRAIN_POLL = 0.05
LISTEN_BACKLOG = 4096
# Frames waiting for a consumer before daphne stops reading that socket, and
# the depth at which it reads again: a client sending faster than its consumer
# keeps up is held back by TCP instead of queueing without bound (daphne's
# queue has none) and taking the event loop from every other connection.
INBOUND_HIGH = 64
INBOUND_LOW = 16
INBOUND_POLL = 0.01
# Bytes read from one socket at a time: a flood of tiny frames is parsed in
# small slices, between which the event loop serves everyone else.
INBOUND_READ_BYTES = 4096


def endpoint(host: str, port: int) -> str:
    # Twisted listens with a backlog of 50, so a reconnect storm overflows the
    # accept queue and clients time out; the kernel caps this at somaxconn.
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
    """daphne's server with an Inbox per application, and its once-a-second
    application check run over the connections that changed since the last
    one (an application finished, a peer left) instead of over all of them:
    that scan was 42 % of an idle server's CPU at 5,000 connections."""

    connections: dict[Any, dict[str, Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.changed: set[Any] = set()

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Inbox | None:
        assert "application_instance" not in self.connections[protocol]
        inbox = Inbox()
        scope.setdefault("asgi", {"version": "3.0"})
        application = self.application(
            scope=scope, receive=inbox.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            application.close()
            return None
        instance = asyncio.ensure_future(application)
        instance.add_done_callback(lambda _: self.changed.add(protocol))
        self.connections[protocol]["application_instance"] = instance
        return inbox

    def protocol_disconnected(self, protocol: Any) -> None:
        super().protocol_disconnected(protocol)
        self.changed.add(protocol)

    def application_checker(self) -> None:
        everyone = self.connections
        changed, self.changed = self.changed, set()
        self.connections = {p: everyone[p] for p in changed if p in everyone}
        try:
            super().application_checker()
        finally:
            checked, self.connections = self.connections, everyone
            for protocol in changed:
                if protocol not in checked:
                    everyone.pop(protocol, None)
                elif "disconnected" in checked[protocol]:
                    # Gone, but its application still runs: look again until
                    # it ends or application_close_timeout cancels it.
                    self.changed.add(protocol)


def serve(host: str, port: int) -> None:
    from channels.routing import get_default_application
    from twisted.internet import reactor

    server = OrdersServer(
        application=get_default_application(),
        endpoints=[endpoint(host, port)],
        signal_handlers=False,
        action_logger=None,
        ping_interval=settings.WEBSOCKET_HEARTBEAT_INTERVAL,
        ping_timeout=settings.WEBSOCKET_HEARTBEAT_TIMEOUT,
        websocket_max_message_size=settings.WEBSOCKET_MAX_MESSAGE_BYTES,
        websocket_max_frame_size=settings.WEBSOCKET_MAX_MESSAGE_BYTES,
        # A storm of thousands of connects queues behind the token and user checks.
        websocket_handshake_timeout=15,
        application_close_timeout=max(1.0, settings.SHUTDOWN_GRACE / 2),
        ready_callable=lambda: logger.info("serving on http://%s:%s/", host, port),
    )
    drain = Drain(reactor, settings.SHUTDOWN_GRACE)
    reactor.callWhenRunning(drain.install)
    reactor.callWhenRunning(configure_protocols, server)
    server.run()


def configure_protocols(server: Any) -> None:
    """Runs once daphne has built its factories, before any connection."""
    from autobahn.exception import Disconnected
    from daphne.ws_protocol import WebSocketProtocol

    loop = asyncio.get_event_loop()

    class OrdersWebSocketProtocol(WebSocketProtocol):  # type: ignore[misc]
        """daphne's protocol with what the contract needs on top: close codes
        1011, 1012 and 1013 with their reasons (autobahn takes only 1000 and
        3000-4999 from an application, daphne drops reasons), a frame-size
        limit for incoming frames only, and reading paused while the consumer
        is INBOUND_HIGH frames behind."""

        reading_paused = False

        def connectionMade(self) -> None:
            super().connectionMade()
            self.transport.bufferSize = INBOUND_READ_BYTES

        def onOpen(self) -> None:
            super().onOpen()
            self.release_handshake()

        def release_handshake(self) -> None:
            """Drop what only the handshake needed, about 4 KB per connection:
            the upgraded HTTP channel stays the transport's producer and holds
            the HTTP request, its headers and body buffer; autobahn keeps the
            raw request and its parsed headers. The ASGI scope is untouched."""
            self.transport.unregisterProducer()
            self.http_request_data = b""
            self.http_headers.clear()
            self.http_request_params: dict[str, list[str]] = {}

        def onMessage(self, payload: bytes, isBinary: bool) -> None:
            super().onMessage(payload, isBinary)
            queue = getattr(self, "application_queue", None)
            if queue is not None and not self.reading_paused and queue.qsize() >= INBOUND_HIGH:
                self.reading_paused = True
                self.transport.pauseProducing()
                loop.call_later(INBOUND_POLL, self.read_when_drained)

        def read_when_drained(self) -> None:
            if not self.transport.connected:
                return
            if self.application_queue.qsize() > INBOUND_LOW:
                loop.call_later(INBOUND_POLL, self.read_when_drained)
                return
            self.reading_paused = False
            self.transport.resumeProducing()

        def sendMessage(self, payload: bytes, isBinary: bool = False) -> None:
            # autobahn applies its message-size limit to what the server sends
            # as well; WEBSOCKET_MAX_MESSAGE_BYTES bounds client frames only.
            limit: int = getattr(self, "maxMessagePayloadSize", 0)
            self.maxMessagePayloadSize = 0
            try:
                super().sendMessage(payload, isBinary)
            finally:
                self.maxMessagePayloadSize = limit

        def send_frame_now(self, frame: bytes) -> bool:
            """A ready text frame (realtime.ws.wire) from the consumer's fast
            path: what daphne's `websocket.send` would do, minus the ASGI round
            trip and autobahn's per-frame work. False when this connection
            cannot take a ready frame (it compresses); the consumer then uses
            `send`. Raises autobahn's Disconnected once the socket is closing."""
            if self._perMessageCompress is not None:
                return False
            if self.state != self.STATE_OPEN:
                raise Disconnected("the WebSocket is closing")
            self.sendData(frame)
            return True

        def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
            # Every frame autobahn sends (pings, pongs, closes) and every ready
            # frame comes here: written at once when nothing is queued ahead
            # of it, it skips Twisted's register-then-write cycle per frame
            # (add_writer and selectors.modify: 40 % of an idle server's CPU,
            # for daphne's pings, before this).
            if not sync and not chopsize:
                data = self.write_now(data)
                if not data:
                    return
            super().sendData(data, sync, chopsize)

        def write_now(self, data: bytes) -> bytes:
            """Whatever of `data` the socket does not take at once; all of it
            when something is queued ahead, on TLS (whose bytes must go through
            its layer), or once the socket is closing."""
            transport = self.transport
            queued = getattr(transport, "_tempDataBuffer", None)
            if queued is None or queued or transport.dataBuffer or self.send_queue:
                return data
            if getattr(transport, "TLS", False) or transport.disconnecting:
                return data
            try:
                sent: int = transport.socket.send(data)
            except OSError:
                # Would block, or the peer is gone: Twisted's write finds out
                # and reports it its own way.
                return data
            return data[sent:]

        def handle_reply(self, message: dict[str, Any]) -> None:
            # daphne drops the close reason; clients are owed it ("token expired").
            if message.get("type") == "websocket.close":
                self.close_reason = str(message.get("reason") or "")
            super().handle_reply(message)

        def serverClose(self, code: int | None = None) -> None:
            code = 1000 if code is None else code
            # A close frame has room for 123 bytes of reason.
            reason = getattr(self, "close_reason", "").encode()[:123].decode(errors="ignore")
            if not 1000 < code < 3000:
                self.sendClose(code=code, reason=reason or None)
            elif self.state == self.STATE_OPEN:
                self.sendCloseFrame(code=code, reasonUtf8=reason.encode(), isReply=False)

    server.ws_factory.protocol = OrdersWebSocketProtocol
    # A connection that stops mid-request (a half-sent handshake) is dropped
    # after this much silence instead of holding a socket.
    server.http_factory.timeOut = settings.HTTP_IDLE_TIMEOUT
    # autobahn fails a protocol error (such as an oversized frame) by dropping
    # TCP; a close frame lets the client see 1009.
    server.ws_factory.setProtocolOptions(failByDrop=False)
    # autobahn copies every option from the factory onto each protocol it
    # builds, unless the protocol already has it: as class attributes they
    # are shared, and each connection's attribute dict is about half the size.
    # A callable option (perMessageCompressionAccept) must not become a method.
    for name in OrdersWebSocketProtocol.CONFIG_ATTRS:
        value = getattr(server.ws_factory, name)
        setattr(OrdersWebSocketProtocol, name, staticmethod(value) if callable(value) else value)


class Drain:
    """First SIGTERM or SIGINT: close every WebSocket with 1012, wait for them
    to go (at most the grace), then stop. A second signal stops at once."""

    def __init__(self, reactor: Any, grace: float) -> None:
        self.reactor = reactor
        self.grace = grace
        self.deadline: float | None = None

    def install(self) -> None:
        loop = asyncio.get_event_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.begin, signum)

    def begin(self, signum: int) -> None:
        from realtime.delivery.hub import get_hub
        from realtime.ws.protocol import CloseCode

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
        get_hub().close_all(CloseCode.SERVICE_RESTART, "server restarting")
        self.reactor.callLater(DRAIN_POLL, self.wait)

    def wait(self) -> None:
        from realtime.delivery.hub import get_hub

        assert self.deadline is not None
        if get_hub().subscribers and time.monotonic() < self.deadline:
            self.reactor.callLater(DRAIN_POLL, self.wait)
            return
        # One more beat lets the close frames leave before the reactor drops sockets.
        self.reactor.callLater(0.2, self.stop)

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
