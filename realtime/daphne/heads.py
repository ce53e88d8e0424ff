"""Limits on HTTP request heads (docs/operations.md): each head must arrive
whole within HTTP_HEADER_TIMEOUT of the connection (or of a kept-alive
connection's next request line), however slowly its bytes trickle in
(daphne's idle timeout restarts on every byte, so one header line every 20 s
held a socket forever), and one client address may hold at most
HTTP_MAX_PENDING_PER_ADDRESS connections whose head has begun but not ended.
Each kind of refusal is logged as a WARNING at most once a minute. A line
too long for Twisted (16 KB) is answered 414 or 431 rather than dropped."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from daphne.http_protocol import HTTPFactory, WebRequest

from realtime.daphne import internals
from realtime.daphne.pacing import HandshakePacer

logger = logging.getLogger("realtime.server")

WARN_EVERY = 60.0


class HeadLimits:
    """The pending heads per client address, and what was refused."""

    def __init__(self, reactor: Any, timeout: float, per_address: int, idle: float) -> None:
        self.reactor = reactor
        self.timeout = timeout
        self.idle = idle
        self.per_address = per_address
        self.pending: dict[str, int] = {}
        self.refused = 0
        self.expired = 0
        # Per kind of refusal: when last logged, and how many since.
        self._warned: dict[str, tuple[float, int]] = {}

    def admit(self, host: str) -> bool:
        if self.pending.get(host, 0) >= self.per_address:
            self.refused += 1
            self._warn(
                "refused",
                f"refused a connection from {host}: {self.per_address} connections "
                "from that address have not sent their request head",
            )
            return False
        return True

    def hold(self, host: str) -> None:
        self.pending[host] = self.pending.get(host, 0) + 1

    def release(self, host: str) -> None:
        left = self.pending.get(host, 0) - 1
        if left > 0:
            self.pending[host] = left
        else:
            self.pending.pop(host, None)

    def held(self, host: str) -> Callable[[], None]:
        """Hold one place for `host` (a socket waiting for its first frame);
        the returned callable frees it, once however often it is called."""
        self.hold(host)
        freed = False

        def free() -> None:
            nonlocal freed
            if not freed:
                freed = True
                self.release(host)

        return free

    def timed_out(self, host: str) -> None:
        self.expired += 1
        self._warn(
            "dropped",
            f"dropped a connection from {host}: no request head within {self.timeout:g} s",
        )

    def _warn(self, kind: str, message: str) -> None:
        now = time.monotonic()
        warned_at, unreported = self._warned.get(kind, (-WARN_EVERY, 0))
        if now - warned_at < WARN_EVERY:
            self._warned[kind] = (warned_at, unreported + 1)
            return
        held = f" ({unreported} more since the last report)" if unreported else ""
        self._warned[kind] = (now, 0)
        logger.warning("%s%s", message, held)


class Ticket:
    """One connection's request head. It is due within the timeout of the
    connection (or, kept alive, of its next request line); once its request
    line has arrived and until its last header does, it counts against its
    address. A head that arrives in one read, as every client's does however
    busy the server is, is never counted. A connection that has sent no
    request line by the deadline is given until HTTP_IDLE_TIMEOUT: under a
    reconnect storm the server may not have read it yet."""

    __slots__ = ("begun", "host", "limits", "opened_at", "protocol", "timer")

    def __init__(self, limits: HeadLimits, host: str, protocol: Any) -> None:
        self.limits = limits
        self.host = host
        self.protocol = protocol
        self.begun = False
        self.opened_at = time.monotonic()
        self.timer: Any = limits.reactor.callLater(limits.timeout, self.expire)

    def begin(self) -> None:
        """A request line arrived."""
        if not self.begun:
            self.begun = True
            self.limits.hold(self.host)
        if self.timer is None:
            self.timer = self.limits.reactor.callLater(self.limits.timeout, self.expire)

    def arrived(self) -> None:
        """The request's last header arrived."""
        if self.begun:
            self.begun = False
            self.limits.release(self.host)
        if self.timer is not None:
            if self.timer.active():
                self.timer.cancel()
            self.timer = None

    def expire(self) -> None:
        self.timer = None
        begun, self.begun = self.begun, False
        if begun:
            self.limits.release(self.host)
        transport = internals.http_channel(self.protocol).transport
        if transport is None or not transport.connected:
            return
        if not begun and time.monotonic() - self.opened_at < self.limits.idle:
            self.timer = self.limits.reactor.callLater(self.limits.timeout, self.expire)
            return
        self.limits.timed_out(self.host)
        transport.abortConnection()


class TimedRequest(WebRequest):  # type: ignore[misc]
    """daphne's request, telling its connection's ticket when its head is in."""

    def __init__(self, ticket: Ticket, channel: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(channel, *args, **kwargs)
        self.ticket = ticket
        ticket.begin()

    def gotLength(self, length: int | None) -> None:
        self.ticket.arrived()
        super().gotLength(length)


def line_too_long(ticket: Ticket, channel: Any, line: bytes) -> None:
    """Twisted drops a line longer than MAX_LENGTH without a word; a client
    (or the proxy in front) is told which limit it met: a request line is a
    414, a header line a 431. No request was built, so this writes the answer."""
    limit = channel.MAX_LENGTH
    if ticket.begun:
        status = "431 Request Header Fields Too Large"
        detail = f"a request header line is longer than {limit} bytes"
    else:
        status = "414 URI Too Long"
        detail = f"the request line (method, path and query) is longer than {limit} bytes"
    body = json.dumps({"detail": detail}).encode()
    transport = channel.transport
    transport.write(
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    # Closing with the rest of the request unread would reset the connection,
    # and the reset can destroy the answer before the client reads it: send
    # it, end our side, and discard what still comes until the client closes.
    channel.dataReceived = lambda data: None
    transport.loseWriteConnection()
    ticket.limits.reactor.callLater(ticket.limits.timeout, transport.abortConnection)


class LimitedHTTPFactory(HTTPFactory):  # type: ignore[misc]
    def __init__(self, server: Any, limits: HeadLimits, pacer: HandshakePacer) -> None:
        super().__init__(server)
        self.limits = limits
        self.pacer = pacer

    def buildProtocol(self, addr: Any) -> Any:
        host = str(getattr(addr, "host", ""))
        # None refuses the connection: Twisted closes the socket at once.
        if not self.limits.admit(host):
            return None
        protocol = super().buildProtocol(addr)
        ticket = Ticket(self.limits, host, protocol)
        protocol.requestFactory = partial(TimedRequest, ticket)
        channel = internals.http_channel(protocol)
        channel.lineLengthExceeded = partial(line_too_long, ticket, channel)
        self.pacer.pace(protocol, channel)
        return protocol
